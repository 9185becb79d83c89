//! The main job, end to end: start the offline simulator in-process, apply for
//! a mainland refund, query until it is final, print the result.
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
    let accepted = match client.create_refund(&request) {
        Ok(refund) => refund,
        Err(error) if error.outcome_unknown => {
            // The platform may have it: look before retrying with the same number.
            eprintln!("outcome unknown ({error}); querying");
            client.query_refund(&RefundQuery::by_out_refund_no(&out_refund_no))?
        }
        Err(error) => return Err(error.into()),
    };
    println!(
        "accepted: refund_id={} status={}",
        accepted.field("refund_id").unwrap_or("?"),
        accepted.status.name()
    );

    let mut refund = accepted;
    while refund.status.is_pending() {
        std::thread::sleep(Duration::from_millis(100));
        refund = client.query_refund(&RefundQuery::by_out_refund_no(&out_refund_no))?;
    }
    println!(
        "final: {}",
        serde_json::to_string_pretty(&refund.to_json())?
    );
    Ok(())
}
