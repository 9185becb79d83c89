"""The library's log records in Python's `logging`: every record at the most verbose level,
what each says, that none holds a secret or a personal field, from any thread, and that a
failing handler never breaks a refund."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from typing import Any, Dict, List

import pytest

import wxrefund
from wxrefund.testing import Simulator

from conftest import SIM
from helpers import Receiver, raises

EVENTS = {"attempt", "retry", "outcome_unknown", "certificate_download", "token_renewal",
          "notification", "wait_ended"}
# A simulator's WeCom access token: 64 random letters and digits.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9]{64}")


def of(records: List[logging.LogRecord], event: str, **fields: Any) -> List[logging.LogRecord]:
    """The records of `event` whose fields have the given values."""
    return [r for r in records if r.event == event
            and all(getattr(r, name, None) == value for name, value in fields.items())]


def everything(record: logging.LogRecord) -> str:
    """All a record shows: its message, its formatted form and every attribute."""
    formatted = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
    return "\n".join([record.getMessage(), formatted, repr(vars(record))])


def assert_clean(records: List[logging.LogRecord], secrets: List[str]) -> None:
    """No record holds any of `secrets`, nor anything shaped like an access token."""
    secrets = [s for s in secrets if s]
    assert secrets
    for record in records:
        text = everything(record)
        for secret in secrets:
            assert secret not in text, (secret, text)
        assert not TOKEN_SHAPE.search(text), text


def pem_lines(pem: str) -> List[str]:
    """The key material lines of a PEM (long enough not to match by chance)."""
    return [line for line in pem.splitlines() if len(line) >= 16 and "-----" not in line]


def assert_well_formed(records: List[logging.LogRecord], family: str) -> None:
    """What every record has: its logger, event and family, its fields as attributes."""
    assert records
    for record in records:
        assert record.name == "wxrefund"
        assert record.event in EVENTS, record.event
        assert record.family == family
        fields = record.wxrefund_fields
        assert fields["event"] == record.event and fields["family"] == family
        for name, value in fields.items():
            # No field of today's records clashes with a LogRecord attribute.
            assert getattr(record, name) == value, name
        expected = {"attempt": logging.DEBUG, "retry": logging.WARNING,
                    "outcome_unknown": logging.WARNING}.get(record.event)
        if expected is not None:
            assert record.levelno == expected, record.event
        if record.event == "attempt":
            assert record.method in ("GET", "POST")
            assert record.path.startswith("/") and "?" not in record.path
            assert isinstance(record.attempt, int) and record.attempt >= 1
            assert isinstance(record.elapsed_ms, int) and record.elapsed_ms >= 0
            assert re.fullmatch(
                rf"{record.method} {re.escape(record.path)} attempt {record.attempt}: "
                rf"(HTTP \d{{3}}( \S+)?|network error) in \d+ ms", record.getMessage())
        else:
            assert record.levelno in (logging.INFO, logging.WARNING), record.event
            assert isinstance(record.attempts, int) and isinstance(record.elapsed_ms, int)


def request(out_refund_no: str, notify_url: str = "") -> Dict[str, Any]:
    body: Dict[str, Any] = {
        "out_trade_no": "T20261122000001",
        "out_refund_no": out_refund_no,
        "amount": {"refund": 100, "total": 10000, "currency": "CNY"},
    }
    if notify_url:
        body["notify_url"] = notify_url
    return body


def test_domestic_records_say_what_happened_and_hold_no_secret(records) -> None:
    with Simulator("domestic", settle_ms=600_000, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        receiver = Receiver(client)
        try:
            created = client.create_refund(request("RL-1", receiver.url))
            sim.inject("SYSTEM_ERROR")
            retried = client.create_refund(request("RL-2"))
            queried = client.query_refund({"out_refund_no": "RL-1"})
            sim.settle("RL-1", "SUCCESS")  # delivers REFUND.SUCCESS to the receiver
            kind, notification = receiver.wait(1)[0]
            assert kind == "ok", notification
            waited = client.wait_for_final({"out_refund_no": "RL-1"}, 10)
        finally:
            receiver.close()
        config = sim.config

    assert_well_formed(records, "domestic")
    refunds_path = "/v3/refund/domestic/refunds"

    # Platform certificates: downloaded once, in the background (no refund number).
    [download] = of(records, "certificate_download")
    assert download.levelno == logging.INFO and download.certificates >= 1
    assert not hasattr(download, "out_refund_no")
    [fetch] = of(records, "attempt", path="/v3/certificates")
    assert fetch.http_status == 200 and fetch.request_id and not hasattr(fetch, "out_refund_no")

    # A create: one attempt, HTTP 200, with the platform's Request-ID.
    [sent] = of(records, "attempt", out_refund_no="RL-1", method="POST")
    assert (sent.path, sent.attempt, sent.http_status) == (refunds_path, 1, 200)
    assert sent.request_id and not hasattr(sent, "code")
    assert created["wxrefund"]["attempts"] == 1

    # A retried create: SYSTEM_ERROR, the retry and why, then the same body again.
    tries = of(records, "attempt", out_refund_no="RL-2")
    assert [(r.attempt, r.http_status, getattr(r, "code", None)) for r in tries] == [
        (1, 500, "SYSTEM_ERROR"), (2, 200, None)]
    assert all(r.request_id for r in tries)
    [retry] = of(records, "retry", out_refund_no="RL-2")
    assert retry.levelno == logging.WARNING
    assert (retry.reason, retry.attempts) == ("SYSTEM_ERROR", 1)
    assert retry.delay_ms >= 0 and "SYSTEM_ERROR" in retry.getMessage()
    assert records.index(tries[0]) < records.index(retry) < records.index(tries[1])
    assert retried["wxrefund"]["attempts"] == 2

    # The query, and the wait (answered at once: the refund had settled).
    queries = of(records, "attempt", out_refund_no="RL-1", method="GET")
    assert [r.path for r in queries] == [f"{refunds_path}/RL-1"] * 2
    assert all(r.http_status == 200 and r.request_id for r in queries)
    assert queried["wxrefund"]["attempts"] == 1
    [ended] = of(records, "wait_ended")
    assert (ended.out_refund_no, ended.status, ended.polls, ended.attempts) == (
        "RL-1", "SUCCESS", 1, 1)
    assert ended.levelno == logging.INFO
    assert waited["wxrefund"]["status"] == "SUCCESS"

    # The notification verdict, logged on the receiver's thread.
    [verdict] = of(records, "notification")
    assert verdict.levelno == logging.INFO
    assert (verdict.accepted, verdict.reason, verdict.event_type, verdict.status) == (
        True, "verified", "REFUND.SUCCESS", "SUCCESS")
    assert verdict.thread != threading.main_thread().ident

    # Records of calls made here point at this test, as a logger.log call here would.
    assert sent.pathname == __file__ and sent.funcName == sys._getframe().f_code.co_name
    assert sent.lineno > 0

    personal = {queried.get("user_received_account"), waited.get("user_received_account"),
                notification["refund"].get("user_received_account")}
    assert personal - {None}, "the simulator sends user_received_account"
    assert_clean(records, [config["apiv3_key"], *pem_lines(config["private_key_pem"]),
                           *(p for p in personal if p)])


def test_wecom_records_token_fetches_and_hold_no_token(records) -> None:
    with Simulator("wecom", settle_ms=200, binary=SIM,
                   extra_args=["--wecom-order-spacing-ms", "0"]) as sim:
        client = wxrefund.Client(sim.config, order_spacing_secs=0)
        created = client.create_refund({
            "out_trade_no": "W20261122000001", "out_refund_no": "WL-1",
            "amount": {"refund": 100, "total": 10000, "currency": "CNY"}})
        sim.revoke_wecom_tokens()
        waited = client.wait_for_final({"out_refund_no": "WL-1"}, 10)
        # A token the test fetched itself, given as a fixed access_token.
        known = fetch_token(sim)
        fixed = wxrefund.Client(
            {k: v for k, v in sim.config.items() if k not in ("corpid", "corpsecret")},
            access_token=known)
        fixed.query_refund({"out_refund_no": "WL-1"})
        config = sim.config

    assert_well_formed(records, "wecom")
    renewals = of(records, "token_renewal")
    assert [(r.reason, r.ok) for r in renewals] == [("first", True), ("rejected", True)]
    assert all(not hasattr(r, "out_refund_no") and r.levelno == logging.INFO for r in renewals)
    fetches = of(records, "attempt", path="/cgi-bin/gettoken")
    assert len(fetches) == 2 and all(r.http_status == 200 for r in fetches)
    assert all(not hasattr(r, "out_refund_no") for r in fetches)
    [sent] = of(records, "attempt", path="/cgi-bin/miniapppay/refund")
    assert (sent.out_refund_no, sent.method, sent.attempt, sent.http_status) == (
        "WL-1", "POST", 1, 200)
    assert not hasattr(sent, "code")
    assert created["wxrefund"]["attempts"] == 1
    # The revoked token is refused (errcode 40014), a new one fetched and the query sent
    # again: attempt 2 of the wait's first poll.
    queries = of(records, "attempt", path="/cgi-bin/miniapppay/get_refund_detail")
    assert all(r.out_refund_no == "WL-1" for r in queries)
    assert [(r.attempt, getattr(r, "code", None)) for r in queries[:2]] == [
        (1, "40014"), (2, None)]
    assert records.index(queries[0]) < records.index(renewals[1]) < records.index(queries[1])
    [ended] = of(records, "wait_ended")
    assert ended.status == waited["wxrefund"]["status"] == "SUCCESS"
    personal = {waited.get("user_received_account")}
    assert_clean(records, [config["corpsecret"], known, *(p for p in personal if p)])


def fetch_token(sim: Simulator) -> str:
    import json
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode(
        {"corpid": sim.config["corpid"], "corpsecret": sim.config["corpsecret"]})
    with urllib.request.urlopen(f"{sim.base_url}/cgi-bin/gettoken?{query}", timeout=5) as answer:
        return json.load(answer)["access_token"]


def test_records_from_worker_threads_arrive_on_their_thread(records) -> None:
    with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        idents: Dict[str, int] = {}

        def work(n: int) -> None:
            number = f"RLT-{n}"
            idents[number] = threading.get_ident()
            client.create_refund(request(number))
            client.wait_for_final({"out_refund_no": number}, 10)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert_well_formed(records, "domestic")
    for number, ident in idents.items():
        mine = [r for r in records if getattr(r, "out_refund_no", None) == number]
        assert {r.event for r in mine} >= {"attempt", "wait_ended"}, number
        assert {r.thread for r in mine} == {ident}, number
        assert ident != threading.main_thread().ident


def test_a_raising_handler_does_not_break_a_refund(records, monkeypatch) -> None:
    unraisable: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise RuntimeError("this handler is broken")

    logger = logging.getLogger("wxrefund")
    broken = Broken(level=1)
    logger.addHandler(broken)
    try:
        with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
            client = wxrefund.Client(sim.config)
            sim.inject("SYSTEM_ERROR")
            refund = client.create_refund(request("RLB-1"))
            raises(wxrefund.NotFoundError, lambda: client.query_refund({"out_refund_no": "NO"}))
    finally:
        logger.removeHandler(broken)
    assert refund["out_refund_no"] == "RLB-1" and refund["wxrefund"]["attempts"] == 2
    assert unraisable, "the handler's exceptions go to sys.unraisablehook"
    assert all(isinstance(u.exc_value, RuntimeError) for u in unraisable)
    assert all(u.object is logger for u in unraisable)
    # The handler before it in the chain still saw every record (Logger.handle stops at
    # the raising handler, which comes after the capture here).
    assert of(records, "retry", out_refund_no="RLB-1")


def test_keyboard_interrupt_in_a_handler_is_raised_after_the_call(records) -> None:
    class Interrupting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.event == "attempt" and not getattr(self, "fired", False):
                self.fired = True
                raise KeyboardInterrupt

    logger = logging.getLogger("wxrefund")
    interrupting = Interrupting(level=1)
    logger.addHandler(interrupting)
    try:
        with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
            client = wxrefund.Client(sim.config)
            with pytest.raises(KeyboardInterrupt):
                client.create_refund(request("RLK-1"))
                time.sleep(5)  # the interrupt lands as soon as Python runs again
            # The refund call itself completed.
            assert client.query_refund({"out_refund_no": "RLK-1"})["out_refund_no"] == "RLK-1"
    finally:
        logger.removeHandler(interrupting)


def test_a_handler_may_call_the_library(records) -> None:
    nested: List[Dict[str, Any]] = []

    class Calling(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.event == "attempt" and record.out_refund_no == "RLN-1" and not nested:
                # Its own records are dropped (the sink is already running on this thread).
                nested.append(client.query_refund({"out_refund_no": "RLN-1"}))

    logger = logging.getLogger("wxrefund")
    calling = Calling(level=1)
    logger.addHandler(calling)
    try:
        with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
            client = wxrefund.Client(sim.config)
            client.create_refund(request("RLN-1"))
    finally:
        logger.removeHandler(calling)
    assert nested and nested[0]["out_refund_no"] == "RLN-1"
    assert not of(records, "attempt", out_refund_no="RLN-1", method="GET")


def test_the_logger_level_decides(records) -> None:
    logger = logging.getLogger("wxrefund")
    logger.setLevel(logging.WARNING)  # the fixture restores it
    with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        sim.inject("SYSTEM_ERROR")
        client.create_refund(request("RLW-1"))
    assert [r.event for r in records] == ["retry"]
    assert records[0].levelname == "WARNING"


def test_a_field_whose_name_the_record_has_is_renamed(records) -> None:
    # A record factory (as structured-logging setups install) that sets `event` and `path`
    # itself: the library's fields of those names become wxrefund_event and wxrefund_path.
    default = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = default(*args, **kwargs)
        record.event = "from the factory"
        record.path = "/from/the/factory"
        return record

    logging.setLogRecordFactory(factory)
    try:
        with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
            wxrefund.Client(sim.config).create_refund(request("RLF-1"))
    finally:
        logging.setLogRecordFactory(default)
    [sent] = [r for r in records if getattr(r, "out_refund_no", None) == "RLF-1"]
    assert (sent.event, sent.path) == ("from the factory", "/from/the/factory")
    assert (sent.wxrefund_event, sent.wxrefund_path) == ("attempt", "/v3/refund/domestic/refunds")
    assert sent.wxrefund_fields["event"] == "attempt"
    assert sent.attempt == 1 and sent.http_status == 200  # the others keep their names
    assert not hasattr(sent, "wxrefund_attempt")


def test_a_refused_notification_and_an_unknown_outcome_are_warnings(records) -> None:
    with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
        client = wxrefund.Client(sim.config, max_retries=0)
        receiver = Receiver(client, tamper=True)  # alters the first delivery's body
        try:
            client.create_refund(request("RLR-1", receiver.url))
            results = receiver.wait(2)  # refused, then the redelivery accepted
        finally:
            receiver.close()
        sim.inject("DROP_AFTER_COMMIT")
        with pytest.raises(wxrefund.WxRefundError) as caught:
            client.create_refund(request("RLR-2"))
        config = sim.config
    assert [kind for kind, _ in results[:2]] == ["error", "ok"]
    assert caught.value.outcome_unknown

    assert_well_formed(records, "domestic")
    refused, accepted = of(records, "notification")[:2]
    assert (refused.levelno, refused.accepted) == (logging.WARNING, False)
    assert refused.reason == results[0][1].kind and refused.getMessage() == (
        f"notification refused ({refused.reason})")
    assert not hasattr(refused, "event_type") and not hasattr(refused, "status")
    assert (accepted.levelno, accepted.accepted, accepted.status) == (
        logging.INFO, True, "SUCCESS")
    [unknown] = of(records, "outcome_unknown")
    assert unknown.out_refund_no == "RLR-2" and unknown.levelno == logging.WARNING
    assert unknown.reason == caught.value.kind and unknown.attempts == 1
    [dropped] = of(records, "attempt", out_refund_no="RLR-2")
    assert dropped.network_error is True and isinstance(dropped.maybe_sent, bool)
    assert not hasattr(dropped, "http_status")
    assert_clean(records, [config["apiv3_key"], *pem_lines(config["private_key_pem"])])


def test_the_interpreter_exits_cleanly_while_threads_are_logging() -> None:
    """Daemon threads calling the library when Python exits, with a handler at DEBUG and
    without one: the process ends with 0, every time."""
    import os
    import shlex
    import subprocess
    import textwrap

    with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
        script = textwrap.dedent("""
            import json, logging, sys, threading, time
            import wxrefund
            if sys.argv[2] == "logging":
                logging.basicConfig(level=1, stream=sys.stderr)
            client = wxrefund.Client(json.loads(sys.argv[1]))
            client.create_refund({"out_trade_no": "T20261122000001", "out_refund_no": "RLX-1",
                                  "amount": {"refund": 100, "total": 10000, "currency": "CNY"}})

            def poll():
                while True:
                    client.query_refund({"out_refund_no": "RLX-1"})

            for _ in range(4):
                threading.Thread(target=poll, daemon=True).start()
            time.sleep(0.3)
            print("exiting", flush=True)
        """)
        # Before the atexit hook (which stops forwarding and parks threads that come back
        # from the library), about one exit in five crashed: SIGABRT in PyGILState_Release
        # or SIGSEGV, as CPython ended a daemon thread taking the GIL inside Rust frames.
        # The interpreter as the harness runs it (under qemu for the aarch64 wheel).
        python = shlex.split(os.environ.get("WXREFUND_TEST_PYTHON", "")) or [sys.executable]
        for mode in ["logging", "quiet"] * 6:
            done = subprocess.run([*python, "-c", script, json_dumps(sim.config), mode],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (mode, done.stderr[-2000:])
            assert done.stdout == "exiting\n"
            if mode == "logging":
                assert "GET /v3/refund/domestic/refunds/RLX-1 attempt 1: HTTP 200" in done.stderr
            assert "Fatal" not in done.stderr and "panicked" not in done.stderr, done.stderr[-2000:]


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value)
