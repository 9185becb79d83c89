//! Helpers shared by the integration tests (each test crate uses a subset).
#![allow(dead_code)]

pub mod receiver;

use serde_json::{json, Value};
use std::time::Duration;
use wxrefund::{Client, Refund, RefundQuery};
use wxrefund_sim::{SimOptions, Simulator};

/// A simulator whose refunds settle after 100 ms.
pub fn sim_with(options: SimOptions) -> Simulator {
    Simulator::start(SimOptions {
        settle_after: Duration::from_millis(100),
        ..options
    })
    .expect("the simulator starts")
}

/// [`sim_with`] the default options.
pub fn sim() -> Simulator {
    sim_with(SimOptions::default())
}

/// A configuration with fast retries, adjusted by `edit`.
pub fn fast(mut config: Value, edit: impl FnOnce(&mut Value)) -> Value {
    config["retry_delay_ms"] = json!(10);
    edit(&mut config);
    config
}

/// A client for a (fast) configuration adjusted by `edit`.
pub fn client_for(config: Value, edit: impl FnOnce(&mut Value)) -> Client {
    Client::from_json(&fast(config, edit).to_string()).expect("a valid configuration")
}

/// Queries until the refund is no longer pending.
pub fn settled(client: &Client, query: &RefundQuery) -> Refund {
    for _ in 0..100 {
        let refund = client.query_refund(query).expect("query");
        if !refund.status.is_pending() {
            return refund;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("refund never settled: {query:?}");
}

/// Fails when an error's JSON contains any of `secrets`.
pub fn assert_no_secret(error: &wxrefund::Error, secrets: &[&str]) {
    let text = error.to_json().to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
}
