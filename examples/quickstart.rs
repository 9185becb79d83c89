//! The main job, end to end: start the offline simulator in-process, apply for
//! a mainland refund, wait until it is final, print the result.
//!
//! Run: `cargo run --example quickstart`

use std::time::Duration;
use wxrefund::domestic::{Amount, RefundRequest};
use wxrefund::{Client, RefundQuery};
use wxrefund_sim::{SimOptions, Simulator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WeChat Pay APIv3 has no sandbox: the simulator stands in for it, on loopback.
    let sim = Simulator::start(SimOptions::default())?;
    // In production this JSON names your merchant id, certificate serial, key and APIv3 key.
    let client = Client::from_json(&sim.client_config().to_string())?;

    // One logical refund = one out_refund_no, reused for every retry.
    let out_refund_no = format!("Q{}", std::process::id());
    let request = RefundRequest {
        out_trade_no: Some("T20261122000001".into()),
        out_refund_no: out_refund_no.clone(),
        reason: Some("quickstart".into()),
        amount: Amount {
            refund: 100,
            total: 10000,
            currency: "CNY".into(),
            from: None,
        },
        ..Default::default()
    };
    match client.create_refund(&request) {
        Ok(accepted) => println!(
            "accepted: refund_id={} status={}",
            accepted.field("refund_id").unwrap_or("?"),
            accepted.status.name()
        ),
        // The platform may have it: the wait below finds out (NOT_FOUND: it has not;
        // send it again with the same out_refund_no).
        Err(error) if error.outcome_unknown => eprintln!("outcome unknown ({error}); waiting"),
        Err(error) => return Err(error.into()),
    }

    // Queries at once, then after 1, 2, 4, ... s until SUCCESS, CLOSED or ABNORMAL; a
    // Timeout error carries the last refund seen in `error.refund`.
    let query = RefundQuery::by_out_refund_no(&out_refund_no);
    let refund = client.wait_for_final(&query, Duration::from_secs(60))?;
    println!(
        "final: {}",
        serde_json::to_string_pretty(&refund.to_json())?
    );
    Ok(())
}
