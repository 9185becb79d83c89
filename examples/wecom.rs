//! A WeCom (企业微信) mini-program refund against the in-process simulator.
//! The library fetches and caches the access token from corpid + corpsecret.
//!
//! Run: `cargo run --example wecom`

use std::time::Duration;
use wxrefund::wecom::{Amount, RefundRequest};
use wxrefund::{Client, RefundQuery};
use wxrefund_sim::{SimOptions, Simulator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(SimOptions::default())?;
    // family "wecom": mchid, appid, and corpid + corpsecret (or a fixed access_token).
    let client = Client::from_json(&sim.wecom_client_config().to_string())?;
    let out_refund_no = format!("WQ{}", std::process::id());
    let accepted = client.create_refund(&RefundRequest {
        out_trade_no: "W20261122000001".into(),
        out_refund_no: out_refund_no.clone(),
        reason: Some("退货".into()),
        amount: Amount {
            refund: 100,
            total: 10000,
            currency: "CNY".into(),
        },
        funds_account: None,
    })?;
    // WeCom's answer means "accepted" only; the result comes from the query.
    println!("accepted: status={}", accepted.status.name());
    let query = RefundQuery::by_out_refund_no(&out_refund_no);
    let refund = client.wait_for_final(&query, Duration::from_secs(60))?;
    println!(
        "final: {}",
        serde_json::to_string_pretty(&refund.to_json())?
    );
    Ok(())
}
