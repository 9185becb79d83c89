"""The Markdown tables of README "Performance", from the figures of one scripts/bench.sh run.

    python3 benches/report.py figures.jsonl

Each line of figures.jsonl is one JSON figure written by a driver: the Rust benchmark
(benches/refund.rs), the C and Python drivers (benches/c, benches/python), the peer drivers
(benches/peers), tests/firmware.rs and scripts/size.sh. A figure that is missing (a peer
that could not be installed, a target that could not be built) shows as "n/a".
"""

import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    figures = load(sys.argv[1])

    def find(**match):
        for f in figures:
            if all(f.get(k) == v for k, v in match.items()):
                return f
        return None

    def cpu(**match):
        f = find(**match)
        if f is None:
            return None
        return f.get("cpu_us", f.get("cpu_us_per_call"))

    def us(value):
        return "n/a" if value is None else f"{value:,.0f} µs"

    def ratio(a, b):
        return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f} ×"

    machine = find(what="machine") or {}
    print(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores; "
          f"{machine.get('rustc', '?')}; {machine.get('openssl', '?')}; "
          f"{machine.get('calls', '?')} creates and queries per client.\n")

    floor = {}
    for backend in ("ring", "aws-lc", "openssl"):
        sign, verify = cpu(what="raw", backend=backend, op="sign"), cpu(what="raw", backend=backend, op="verify")
        floor[backend] = None if sign is None or verify is None else sign + verify

    print("| Client | Crypto | Create (client CPU) | Query | Create ÷ its backend's sign + verify "
          "| Create ÷ OpenSSL sign + verify |")
    print("|---|---|---:|---:|---:|---:|")
    ours = {}
    for label, driver in (("Rust", "rust"), ("C", "wxrefund-c"), ("Python", "wxrefund-python")):
        for backend in ("ring", "aws-lc"):
            create = cpu(driver=driver, backend=backend, op="create")
            query = cpu(driver=driver, backend=backend, op="query")
            ours[(driver, backend)] = create
            print(f"| wxrefund {label} | {backend} | {us(create)} | {us(query)} "
                  f"| {ratio(create, floor[backend])} | {ratio(create, floor['openssl'])} |")
    for label, driver, crypto in (
        ("wechatpayv3 (Python)", "wechatpayv3", "cryptography (OpenSSL)"),
        ("wechatpay-axios-plugin (Node)", "wechatpay-axios-plugin", "Node crypto (OpenSSL)"),
    ):
        create, query = cpu(driver=driver, op="create"), cpu(driver=driver, op="query")
        print(f"| {label} | {crypto} | {us(create)} | {us(query)} | | {ratio(create, floor['openssl'])} |")

    print("\nPeer SDKs against wxrefund, client CPU per call (higher: wxrefund uses less):\n")
    print("| Peer | Call | ÷ wxrefund Python, aws-lc | ÷ wxrefund Python, ring | ÷ wxrefund C, aws-lc |")
    print("|---|---|---:|---:|---:|")
    for driver in ("wechatpayv3", "wechatpay-axios-plugin"):
        for op in ("create", "query"):
            peer = cpu(driver=driver, op=op)
            print(f"| {driver} | {op} | {ratio(peer, cpu(driver='wxrefund-python', backend='aws-lc', op=op))} "
                  f"| {ratio(peer, cpu(driver='wxrefund-python', backend='ring', op=op))} "
                  f"| {ratio(peer, cpu(driver='wxrefund-c', backend='aws-lc', op=op))} |")

    print("\n| Figure | ring | aws-lc | OpenSSL |")
    print("|---|---:|---:|---:|")
    for op in ("sign", "verify"):
        print(f"| Raw RSA-2048 {op} | " + " | ".join(
            us(cpu(what="raw", backend=b, op=op)) for b in ("ring", "aws-lc", "openssl")) + " |")
    print("| Key loading, Rust `Client::from_json` | " + " | ".join(
        us(cpu(what="client_new", driver="rust", backend=b)) for b in ("ring", "aws-lc")) + " | |")
    print("| Key loading, C `wxrefund_client_new` | " + " | ".join(
        us(cpu(driver="wxrefund-c", backend=b, op="client_new")) for b in ("ring", "aws-lc")) + " | |")
    rates = []
    for b in ("ring", "aws-lc"):
        f = find(what="notification", backend=b)
        rates.append("n/a" if f is None else f"{f['per_second']:,.0f} /s")
    print("| Notification verify + decrypt, one core | " + " | ".join(rates) + " | |")
    starts = []
    for b in ("ring", "aws-lc"):
        f = find(driver="wxrefund-python", backend=b, op="startup")
        starts.append("n/a" if f is None else f"{f['cpu_ms']:,.0f} ms")
    print("| Python start-up (import + Client) | " + " | ".join(starts) + " | |")
    for driver in ("wechatpayv3", "wechatpay-axios-plugin"):
        f = find(driver=driver, op="startup")
        print(f"| {driver} start-up (not in its per-call figures) | "
              f"{'n/a' if f is None else format(f['cpu_ms'], ',.0f') + ' ms'} | | |")

    print("\n| Stripped `libwxrefund.so` (1 MB = 10^6 bytes) | ring, PKCS#11 (shipped on ARM) "
          "| ring, no PKCS#11 | aws-lc, PKCS#11 (shipped on x86-64) |")
    print("|---|---:|---:|---:|")
    for target in ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"):
        cells = []
        for b in ("ring", "ring-no-pkcs11", "aws-lc"):
            f = find(what="size", target=target, backend=b)
            cells.append("n/a" if f is None else f"{f['bytes'] / 1e6:.2f} MB")
        print(f"| {target} | " + " | ".join(cells) + " |")

    print("\nRelease profile (opt-level \"z\", LTO) against a plain one (opt-level 3, no LTO), "
          "Rust create call, median of the alternating rounds:\n")
    print("| Backend | Shipped profile | Plain profile | Shipped ÷ plain |")
    print("|---|---:|---:|---:|")
    for b in ("ring", "aws-lc"):
        medians = []
        for profile in ("shipped", "plain"):
            runs = sorted(f["cpu_us"] for f in figures
                          if f.get("profile") == profile and f.get("backend") == b)
            medians.append(runs[len(runs) // 2] if runs else None)
        print(f"| {b} | {us(medians[0])} | {us(medians[1])} | {ratio(medians[0], medians[1])} |")

    sim = find(what="sim")
    print(f"\nSimulator: {'n/a' if sim is None else format(sim['refunds_per_second'], ',')} "
          "refunds/s (2 client threads in its process, on the same 2 cores).")
    threads = [f for f in figures if f.get("what") == "threads"]
    steady = [f for f in threads
              if f["before"] == f["after"] and f.get("during_max") in (None, f["before"])]
    print(f"Firmware (tests/firmware.rs, release, ring): the thread count stayed the same around "
          f"{len(steady)} of {len(threads)} C calls.")
    deepest = find(what="stack_max")
    if deepest:
        print(f"Deepest stack of any entry point: {deepest['bytes']:,} bytes "
              f"(asserted under {deepest['bound']:,}).")
    rss = find(what="rss")
    if rss:
        print(f"RSS over {rss['calls']:,} create + query pairs: {rss['start_kib']:,} KiB after "
              f"warm-up, {rss['end_kib']:,} KiB at the end ({rss['growth_kib']:+,} KiB).")


if __name__ == "__main__":
    main()
