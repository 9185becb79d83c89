"""Client.wait_for_final: SUCCESS once the simulator settles, ABNORMAL at once, TIMEOUT with
the last refund seen, errors that end the wait, argument checks, and the GIL."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Dict

import pytest

import wxrefund
from wxrefund.testing import Simulator

from conftest import SIM
from helpers import raises


def request(out_refund_no: str) -> Dict[str, Any]:
    return {
        "out_trade_no": "T20261122000001",
        "out_refund_no": out_refund_no,
        "amount": {"refund": 100, "total": 10000, "currency": "CNY"},
    }


@pytest.fixture
def sim():
    """A domestic simulator whose refunds stay PROCESSING until settled by hand."""
    with Simulator("domestic", settle_ms=600_000, binary=SIM) as sim:
        yield sim


def test_returns_success_once_the_refund_settles(sim: Simulator) -> None:
    client = wxrefund.Client(sim.config)
    assert client.create_refund(request("RW-1"))["wxrefund"]["status"] == "PROCESSING"
    settler = threading.Timer(0.3, lambda: sim.settle("RW-1", "SUCCESS"))
    settler.start()
    started = time.monotonic()
    refund = client.wait_for_final({"out_refund_no": "RW-1"}, 10)
    took = time.monotonic() - started
    settler.join()
    assert refund["out_refund_no"] == "RW-1" and refund["status"] == "SUCCESS"
    assert refund["wxrefund"]["status"] == "SUCCESS" and refund["wxrefund"]["final"] is True
    # Queried at once (PROCESSING), then after the first 1 s pause (SUCCESS).
    assert refund["wxrefund"]["attempts"] == 2
    assert 0.9 <= took < 5, took
    assert 900 <= refund["wxrefund"]["elapsed_ms"] <= took * 1000 + 50


def test_abnormal_returns_at_once(sim: Simulator) -> None:
    client = wxrefund.Client(sim.config)
    client.create_refund(request("RW-2"))
    sim.settle("RW-2", "ABNORMAL")
    started = time.monotonic()
    refund = client.wait_for_final({"out_refund_no": "RW-2"}, 30.0)
    assert time.monotonic() - started < 0.9  # no pause: the first answer ends the wait
    assert refund["wxrefund"]["status"] == "ABNORMAL"
    assert refund["wxrefund"]["final"] is False and refund["wxrefund"]["action_required"]
    assert refund["wxrefund"]["attempts"] == 1


def test_timeout_raises_with_the_last_refund_seen(sim: Simulator) -> None:
    client = wxrefund.Client(sim.config)
    client.create_refund(request("RW-3"))
    started = time.monotonic()
    with pytest.raises(wxrefund.WaitTimeoutError) as caught:
        client.wait_for_final({"out_refund_no": "RW-3"}, 1.5)
    took = time.monotonic() - started
    error = caught.value
    assert isinstance(error, wxrefund.WxRefundError)
    assert error.status == "TIMEOUT" == wxrefund.WaitTimeoutError.STATUS
    assert error.kind == "wait_timeout" and error.retryable and not error.outcome_unknown
    assert "still PROCESSING" in error.message
    assert error.refund is not None and error.refund == error.error["refund"]
    assert error.refund["out_refund_no"] == "RW-3"
    assert error.refund["wxrefund"]["status"] == "PROCESSING"
    # Queries at 0, 1 and 1.5 s (2 when the second answer took over 0.5 s), never past it.
    assert error.attempts in (2, 3)
    assert 1.45 <= took < 4, took
    assert 1450 <= error.elapsed_ms <= took * 1000 + 50
    # Waiting again after it settled succeeds.
    sim.settle("RW-3", "SUCCESS")
    assert client.wait_for_final({"out_refund_no": "RW-3"}, 0)["wxrefund"]["status"] == "SUCCESS"


def test_zero_timeout_queries_once(sim: Simulator) -> None:
    client = wxrefund.Client(sim.config)
    client.create_refund(request("RW-4"))
    error = raises(wxrefund.WaitTimeoutError,
                   lambda: client.wait_for_final({"out_refund_no": "RW-4"}, 0))
    assert error.attempts == 1 and error.refund["wxrefund"]["status"] == "PROCESSING"


def test_not_found_ends_the_wait_at_once(sim: Simulator) -> None:
    client = wxrefund.Client(sim.config)
    started = time.monotonic()
    error = raises(wxrefund.NotFoundError,
                   lambda: client.wait_for_final({"out_refund_no": "RW-NOPE"}, 30))
    assert time.monotonic() - started < 0.9
    assert error.code == "RESOURCE_NOT_EXISTS" and error.attempts == 1


def test_network_failures_are_polled_through_until_the_timeout(sim: Simulator) -> None:
    # Nothing listens on port 1: every query fails, retryably, and none returns a refund.
    client = wxrefund.Client(sim.config, base_url="http://127.0.0.1:1", max_retries=0)
    error = raises(wxrefund.WaitTimeoutError,
                   lambda: client.wait_for_final({"out_refund_no": "RW-5"}, 1.2))
    assert error.refund is None
    assert error.attempts == 3  # at 0, 1 and 1.2 s
    assert "the last query failed: TRANSPORT" in error.message, error.message


@pytest.mark.parametrize("timeout", [-1, -0.001, math.nan, math.inf, -math.inf, 1e300,
                                     "10", None, True, [1]])
def test_a_bad_timeout_names_the_argument(sim: Simulator, timeout: Any) -> None:
    client = wxrefund.Client(sim.config)
    error = raises(wxrefund.InvalidArgumentError,
                   lambda: client.wait_for_final({"out_refund_no": "RW-6"}, timeout))
    assert error.field == "timeout" and "timeout" in error.message
    assert error.attempts == 0
    assert sim.requests() == []  # refused before sending anything


def test_a_bad_query_is_refused_before_sending(sim: Simulator) -> None:
    client = wxrefund.Client(sim.config)
    raises(wxrefund.InvalidJsonError, lambda: client.wait_for_final({"nope": 1}, 1))
    raises(wxrefund.InvalidArgumentError, lambda: client.wait_for_final("RW-7", 1))
    raises(wxrefund.InvalidRequestError,
           lambda: client.wait_for_final({"out_refund_no": "R#7"}, 1))
    assert sim.requests() == []
    with pytest.raises(TypeError):
        client.wait_for_final({"out_refund_no": "RW-7"})  # type: ignore[call-arg]


def test_the_gil_is_released_while_waiting_and_close_waits_for_the_wait(sim: Simulator) -> None:
    client = wxrefund.Client(sim.config)
    client.create_refund(request("RW-8"))
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.01)

    outcome: Dict[str, Any] = {}

    def wait() -> None:
        try:
            client.wait_for_final({"out_refund_no": "RW-8"}, 1.2)
        except wxrefund.WxRefundError as error:
            outcome["error"] = error

    counter = threading.Thread(target=count)
    waiter = threading.Thread(target=wait)
    started = time.monotonic()
    counter.start()
    waiter.start()
    time.sleep(0.3)
    client.close()  # returns once the wait in flight has ended
    closed_after = time.monotonic() - started
    waiter.join()
    stop.set()
    counter.join()
    assert closed_after >= 1.1, closed_after
    assert ticks >= 30, ticks  # Python ran while the wait slept (about 110 when idle)
    assert type(outcome["error"]) is wxrefund.WaitTimeoutError
    raises(wxrefund.ClientClosedError, lambda: client.wait_for_final({"out_refund_no": "RW-8"}, 1))


def test_global_waits_by_refund_id() -> None:
    with Simulator("global", settle_ms=200, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        created = client.create_refund({
            "out_trade_no": "G20261122000001", "out_refund_no": "RW-G1",
            "amount": {"refund": 1, "total": 10000, "currency": "USD"},
        })
        refund = client.wait_for_final({"refund_id": created["wxrefund"]["refund_id"]}, 10)
        assert refund["wxrefund"]["status"] == "SUCCESS"
        assert refund["out_refund_no"] == "RW-G1"
