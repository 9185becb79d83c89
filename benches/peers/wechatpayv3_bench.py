"""Benchmark driver for the Python SDK `wechatpayv3` (minibear2021), against wxrefund-sim.

    python wechatpayv3_bench.py --config cfg.json --orders orders.json --order-prefix PEERPY --calls N

--config: the simulator's client configuration (its --config-out file).
--orders: the simulator's --orders file. The driver uses the domestic orders whose
    out_trade_no starts with --order-prefix, in file order, for 40 refunds of 100 fen each
    (fewer when an order's total is under 4000 fen); it needs WARMUP + N refunds' worth.
    `scripts/bench-peers.sh --orders N` prints suitable orders.

Measures, as process CPU time (time.process_time(): user + sys) and wall time:
  startup  SDK import + client construction, which includes the SDK's download of the
           platform certificates from GET /v3/certificates (as in production on a first
           start with no certificate cache directory)
  create   N refund applications (POST /v3/refund/domestic/refunds), after WARMUP unmeasured ones
  query    N queries (GET /v3/refund/domestic/refunds/{out_refund_no}) of the refunds created
Every call goes through the SDK's own request signing and its own answer signature check
(on for every 2xx answer: the SDK raises "failed to verify the signature"), and must answer
HTTP 200 with a refund_id; any failure ends the driver with a non-zero status.

stdout: one JSON line per figure; notes go to stderr.
"""

import argparse
import json
import sys
import time

DRIVER = "wechatpayv3"
WARMUP = 5
REFUNDS_PER_ORDER = 40
REFUND_FEN = 100


def note(message):
    print(f"{DRIVER}: {message}", file=sys.stderr)


def emit(**figures):
    print(json.dumps({"driver": DRIVER, **figures}), flush=True)


def refund_slots(orders_path, prefix, needed):
    """(out_trade_no, total) for each of `needed` refunds, on the orders named by `prefix`."""
    with open(orders_path, encoding="utf-8") as f:
        orders = [o for o in json.load(f).get("domestic", [])
                  if o["out_trade_no"].startswith(prefix)]
    slots = [(o["out_trade_no"], o["total"])
             for o in orders
             for _ in range(min(REFUNDS_PER_ORDER, o["total"] // REFUND_FEN))]
    if len(slots) < needed:
        sys.exit(f"{DRIVER}: {orders_path} has room for {len(slots)} refunds of {REFUND_FEN} fen "
                 f"on domestic orders starting with {prefix!r}; {needed} needed "
                 f"(scripts/bench-peers.sh --orders CALLS prints enough orders)")
    return slots[:needed]


def checked(what, answer):
    """The refund in an SDK answer (status, text), or exit if it is not a 200 with a refund_id."""
    status, text = answer
    refund = json.loads(text) if status == 200 else None
    if not isinstance(refund, dict) or not refund.get("refund_id"):
        sys.exit(f"{DRIVER}: {what}: HTTP {status}: {text!r}")
    return refund


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="simulator client configuration JSON")
    parser.add_argument("--orders", required=True, help="simulator orders file")
    parser.add_argument("--order-prefix", default="PEERPY",
                        help="use the domestic orders whose out_trade_no starts with this")
    parser.add_argument("--calls", type=int, required=True, help="measured creates (and queries)")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")

    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    base_url = config["base_url"].rstrip("/")
    if not base_url.startswith("http://127.0.0.1:"):
        sys.exit(f"{DRIVER}: base_url {base_url!r} is not the simulator on 127.0.0.1")
    slots = refund_slots(args.orders, args.order_prefix, WARMUP + args.calls)

    # 1. Start-up: SDK import, client construction, platform certificate download.
    cpu0, wall0 = time.process_time(), time.perf_counter()
    import wechatpayv3.core
    from wechatpayv3 import WeChatPay, WeChatPayType

    class SimulatorCore(wechatpayv3.core.Core):
        """The SDK's Core with its gateway pointed at the simulator.

        Core.__init__ hard-codes `self._gate_way = 'https://api.mch.weixin.qq.com'` and,
        before returning, calls `_init_certificates()`, which downloads /v3/certificates
        from that gateway. This override sets the gateway first and otherwise runs the
        SDK's own code; WeChatPay.__init__ looks `Core` up in wechatpayv3.core at call
        time, so replacing the module attribute is enough (no installed file is edited).
        """

        def _init_certificates(self):
            self._gate_way = base_url
            super()._init_certificates()

    wechatpayv3.core.Core = SimulatorCore
    client = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=config["mchid"],
        private_key=config["private_key_pem"],
        cert_serial_no=config["merchant_serial_no"],
        appid="wxd678efh567hg6787",  # required by the constructor, unused by refunds
        apiv3_key=config["apiv3_key"],
    )
    assert client._core._gate_way == base_url
    startup_cpu = time.process_time() - cpu0
    note(f"client ready in {(time.perf_counter() - wall0) * 1e3:.0f} ms wall, "
         f"{len(client._core._certificates)} platform certificate(s) downloaded")
    emit(op="startup", cpu_ms=round(startup_cpu * 1e3, 1))

    # Fresh out_refund_no values on every run: a repeated one would be answered with the
    # existing refund instead of creating one, hiding a rerun against the same simulator
    # (which instead fails loudly once the orders have no room left).
    run = f"{time.time_ns() // 1_000_000 % 10**10:010d}"

    def create(k):
        out_trade_no, total = slots[k]
        out_refund_no = f"{args.order_prefix}-py-{run}-{k:06d}"
        checked(f"create {out_refund_no}", client.refund(
            out_refund_no=out_refund_no,
            amount={"refund": REFUND_FEN, "total": total, "currency": "CNY"},
            out_trade_no=out_trade_no))
        return out_refund_no

    def query(out_refund_no):
        refund = checked(f"query {out_refund_no}", client.query_refund(out_refund_no))
        if refund.get("out_refund_no") != out_refund_no:
            sys.exit(f"{DRIVER}: query {out_refund_no}: answer is about {refund.get('out_refund_no')!r}")

    # 2. Warm-up, not measured.
    for k in range(WARMUP):
        query(create(k))

    # 3. N creates.
    n = args.calls
    cpu0, wall0 = time.process_time(), time.perf_counter()
    created = [create(WARMUP + i) for i in range(n)]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    emit(op="create", calls=n, cpu_us_per_call=round(cpu / n * 1e6, 1),
         wall_us_per_call=round(wall / n * 1e6, 1))

    # 4. N queries of the refunds created in step 3.
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for out_refund_no in created:
        query(out_refund_no)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    emit(op="query", calls=n, cpu_us_per_call=round(cpu / n * 1e6, 1),
         wall_us_per_call=round(wall / n * 1e6, 1))


if __name__ == "__main__":
    main()
