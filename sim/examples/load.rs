//! Load: `cargo run --release -p wxrefund-sim --example load -- [REFUNDS] [THREADS]`.
//!
//! Seeds REFUNDS / 40 mainland orders (40 refunds each, under the 50-a-order limit) through
//! an orders file, starts the simulator in-process and applies REFUNDS refunds (default
//! 10000) with `wxrefund` clients from THREADS threads (default 2), then checks the
//! simulator recorded every one and prints refunds/s.

use std::time::Instant;

use serde_json::json;
use wxrefund_sim::orders_file::OrderFile;
use wxrefund_sim::{SimOptions, Simulator};

const REFUNDS_PER_ORDER: usize = 40;
const REFUND_FEN: i64 = 100;

fn main() {
    let mut args = std::env::args().skip(1);
    let refunds: usize = args.next().map_or(10_000, |a| a.parse().expect("REFUNDS"));
    let threads: usize = args.next().map_or(2, |a| a.parse().expect("THREADS"));
    assert!(threads > 0);
    let order_count = refunds.div_ceil(REFUNDS_PER_ORDER);
    let total = REFUND_FEN * REFUNDS_PER_ORDER as i64;
    let orders: Vec<_> = (0..order_count)
        .map(|i| {
            json!({"out_trade_no": format!("L{i:08}"), "transaction_id": format!("42{i:026}"),
                   "total": total, "sub_mchid": null, "paid_days_ago": 0,
                   "final_status": "SUCCESS"})
        })
        .collect();
    let file = OrderFile::parse(&json!({ "domestic": orders }).to_string(), "load orders")
        .expect("orders");

    let sim = Simulator::start(SimOptions::default()).expect("simulator");
    file.add_to(&sim);
    let config = sim.client_config().to_string();

    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let config = &config;
            scope.spawn(move || {
                let client = wxrefund::Client::from_json(config).expect("client");
                for n in (t..refunds).step_by(threads) {
                    let request = json!({
                        "out_trade_no": format!("L{:08}", n / REFUNDS_PER_ORDER),
                        "out_refund_no": format!("LR{n:08}"),
                        "amount": {"refund": REFUND_FEN, "total": total, "currency": "CNY"}
                    });
                    client
                        .create_refund_json(&request.to_string())
                        .unwrap_or_else(|e| panic!("refund {n}: {e}"));
                }
            });
        }
    });
    let elapsed = started.elapsed();

    let recorded: usize = (0..order_count)
        .map(|i| sim.refunds_for_order(&format!("L{i:08}")).len())
        .sum();
    assert_eq!(recorded, refunds, "refunds recorded by the simulator");
    println!(
        "{refunds} refunds on {order_count} orders from {threads} threads in {:.2} s: {:.0} refunds/s",
        elapsed.as_secs_f64(),
        refunds as f64 / elapsed.as_secs_f64()
    );
}
