//! A WeChat Pay Global (cross-border) refund against the in-process
//! simulator: apply in USD, then wait, querying by WeChat's refund id, until final.
//!
//! Run: `cargo run --example global`

use std::time::Duration;
use wxrefund::global::{Amount, RefundRequest};
use wxrefund::{Client, RefundQuery};
use wxrefund_sim::{SimOptions, Simulator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(SimOptions::default())?;
    // family "global": mchid + appid (institution mode: mode "institution" + sub_mchid).
    let client = Client::from_json(&sim.global_client_config().to_string())?;
    let out_refund_no = format!("GQ{}", std::process::id());
    let accepted = client.create_refund(&RefundRequest {
        out_trade_no: Some("G20261122000001".into()),
        out_refund_no: out_refund_no.clone(),
        amount: Amount {
            refund: 1234,
            total: 10000,
            currency: "USD".into(),
            from: None,
        },
        ..Default::default()
    })?;
    // The apply answer carries WeChat's `id` but no status yet: ACCEPTED.
    let refund_id = accepted.refund_id.clone().ok_or("no refund id")?;
    println!("accepted: id={refund_id} status={}", accepted.status.name());

    let query = RefundQuery::by_refund_id(&refund_id);
    let refund = client.wait_for_final(&query, Duration::from_secs(60))?;
    let amount = &refund.fields["amount"];
    println!(
        "final: {} (platform status {}), refunded {} {} = {} {} to the payer, {} {} from settlement",
        refund.status.name(),
        refund.field("status").unwrap_or("?"),
        amount["refund"],
        amount["currency"],
        amount["payer_refund"],
        amount["payer_currency"],
        amount["settlement_refund"],
        amount["settlement_currency"],
    );
    Ok(())
}
