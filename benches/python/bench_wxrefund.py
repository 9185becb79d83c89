"""The benchmark workload through the wxrefund Python module (scripts/bench.sh runs it).

    python bench_wxrefund.py --config cfg.json --order-prefix PYRING --calls N --backend ring

against a running wxrefund-sim seeded with orders PREFIX00000000, ... (4000 fen, 40
refunds of 100 fen each). Measures process CPU time (time.process_time(): user + sys) and
wall time, as the peer drivers in benches/peers/ do:
  startup  import + Client construction (wxrefund downloads the platform certificates on
           the first call, which is in the warm-up)
  create   N refund applications of new refunds, after WARMUP unmeasured ones
  query    N queries of the refunds created
Every call must succeed with a refund_id. stdout: one JSON line per figure.
"""

import argparse
import json
import sys
import time

DRIVER = "wxrefund-python"
WARMUP = 5
REFUNDS_PER_ORDER = 40
REFUND_FEN = 100


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="simulator client configuration JSON")
    parser.add_argument("--order-prefix", required=True, help="the seeded orders' out_trade_no prefix")
    parser.add_argument("--calls", type=int, required=True, help="measured creates (and queries)")
    parser.add_argument("--backend", required=True, help="the crypto backend the module was built with")
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)

    def emit(**figures):
        print(json.dumps({"driver": DRIVER, "backend": args.backend, **figures}), flush=True)

    cpu0 = time.process_time()
    import wxrefund

    client = wxrefund.Client(config)
    emit(op="startup", cpu_ms=round((time.process_time() - cpu0) * 1e3, 1))

    run = f"{time.time_ns() // 1_000_000 % 10**10:010d}"

    def create(k):
        out_refund_no = f"{args.order_prefix}-py-{run}-{k:06d}"
        refund = client.create_refund({
            "out_trade_no": f"{args.order_prefix}{k // REFUNDS_PER_ORDER:08d}",
            "out_refund_no": out_refund_no,
            "amount": {"refund": REFUND_FEN, "total": REFUND_FEN * REFUNDS_PER_ORDER,
                       "currency": "CNY"},
        })
        if not refund.get("refund_id"):
            sys.exit(f"{DRIVER}: create {out_refund_no}: no refund_id in {refund!r}")
        return out_refund_no

    def query(out_refund_no):
        refund = client.query_refund({"out_refund_no": out_refund_no})
        if refund.get("out_refund_no") != out_refund_no:
            sys.exit(f"{DRIVER}: query {out_refund_no}: answer is about {refund.get('out_refund_no')!r}")

    n = args.calls
    for k in range(n, n + WARMUP):
        query(create(k))

    cpu0, wall0 = time.process_time(), time.perf_counter()
    created = [create(k) for k in range(n)]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    emit(op="create", calls=n, cpu_us_per_call=round(cpu / n * 1e6, 1),
         wall_us_per_call=round(wall / n * 1e6, 1))

    cpu0, wall0 = time.process_time(), time.perf_counter()
    for out_refund_no in created:
        query(out_refund_no)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    emit(op="query", calls=n, cpu_us_per_call=round(cpu / n * 1e6, 1),
         wall_us_per_call=round(wall / n * 1e6, 1))


if __name__ == "__main__":
    main()
