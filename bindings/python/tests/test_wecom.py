"""WeCom mini-program payments: fetched tokens, a Python token provider, the local guard."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

import wxrefund
from helpers import error_text, raises, until_final


def request(out_refund_no: str, refund: int = 100, out_trade_no: str = "W20261122000001"):
    return {
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "amount": {"refund": refund, "total": 10000, "currency": "CNY"},
    }


def fetch_token(sim) -> str:
    query = urllib.parse.urlencode(
        {"corpid": sim.config["corpid"], "corpsecret": sim.config["corpsecret"]}
    )
    with urllib.request.urlopen(f"{sim.base_url}/cgi-bin/gettoken?{query}", timeout=5) as answer:
        body = json.load(answer)
    assert body["errcode"] == 0, body
    return body["access_token"]


def without_token_source(config):
    return {k: v for k, v in config.items() if k not in ("corpid", "corpsecret", "access_token")}


def test_apply_and_query_with_corpid_and_corpsecret(start_sim):
    sim = start_sim("wecom", "--wecom-order-spacing-ms", "0")
    with wxrefund.Client(sim.config, order_spacing_secs=0) as client:
        assert client.family == "wecom"
        accepted = client.create_refund(request("WR1"))
        assert accepted["wxrefund"]["status"] == "ACCEPTED"
        final = until_final(client, {"out_refund_no": "WR1"})
        assert final["wxrefund"]["status"] == "SUCCESS"
        assert final["out_refund_no"] == "WR1"
        missing = raises(
            wxrefund.NotFoundError, lambda: client.query_refund({"out_refund_no": "WR-NOPE"})
        )
        assert missing.code == "720501"


def test_python_token_provider_is_asked_again_with_the_rejected_token(start_sim):
    sim = start_sim("wecom", "--wecom-order-spacing-ms", "0")
    asked = []

    def provider(rejected):
        asked.append(rejected)
        if len(asked) == 1:
            return "bogus-token"
        return fetch_token(sim)

    config = without_token_source(sim.config)
    client = wxrefund.Client(config, access_token_provider=provider, order_spacing_secs=0)
    client.create_refund(request("WP1"))
    assert asked[:2] == [None, "bogus-token"]
    final = until_final(client, {"out_refund_no": "WP1"})
    assert final["wxrefund"]["status"] == "SUCCESS"
    client.close()


def test_token_provider_failures_become_wxrefund_errors(start_sim):
    sim = start_sim("wecom", "--wecom-order-spacing-ms", "0")
    config = without_token_source(sim.config)

    def raising(rejected):
        raise KeyError("the cache is empty")

    client = wxrefund.Client(config, access_token_provider=raising)
    error = raises(wxrefund.ApiError, lambda: client.create_refund(request("WF1")))
    assert error.kind == "token_provider_failed"
    assert error.retryable
    assert isinstance(error.__cause__, KeyError)

    for bad_token in (None, 42, ""):
        client = wxrefund.Client(config, access_token_provider=lambda rejected: bad_token)
        error = raises(wxrefund.ApiError, lambda: client.query_refund({"out_refund_no": "WF1"}))
        assert error.kind == "token_provider_failed"
        assert error.__cause__ is None


def test_local_order_guard_is_rate_limited_with_retry_after(start_sim):
    sim = start_sim("wecom", "--wecom-order-spacing-ms", "0")
    client = wxrefund.Client(sim.config)  # the default 60 s spacing per order
    client.create_refund(request("WG1"))
    error = raises(wxrefund.RateLimitedError, lambda: client.create_refund(request("WG2")))
    assert error.status == "RATE_LIMITED"
    assert error.kind == "order_spacing"
    assert 55 <= error.retry_after_secs <= 60
    assert error.retryable
    assert error.error["retry_after_secs"] == error.retry_after_secs


def test_errors_never_show_the_corpsecret(start_sim):
    sim = start_sim("wecom")
    secret = sim.config["corpsecret"]
    errors = []
    wrong_secret = secret[:-1] + "X"
    for call in (
        lambda: wxrefund.Client(sim.config, corpsecret=wrong_secret).create_refund(request("WS1")),
        lambda: wxrefund.Client(sim.config).query_refund({"out_refund_no": "WS-NOPE"}),
        lambda: wxrefund.Client(sim.config, access_token="fixed").create_refund(request("WS1")),
        lambda: wxrefund.Client(sim.config, apiv3_key="0" * 32),
    ):
        with pytest.raises(wxrefund.WxRefundError) as caught:
            call()
        errors.append(caught.value)
    for error in errors:
        text = error_text(error)
        assert secret not in text and wrong_secret not in text, text


def test_provider_calling_back_into_its_client_fails_cleanly(start_sim):
    sim = start_sim("wecom", "--wecom-order-spacing-ms", "0")
    config = without_token_source(sim.config)
    holder = {}

    def nested(rejected):
        # Needs a token itself: refused instead of waiting for itself.
        holder["client"].query_refund({"out_refund_no": "WN1"})
        return fetch_token(sim)

    holder["client"] = wxrefund.Client(config, access_token_provider=nested)
    error = raises(wxrefund.ApiError, lambda: holder["client"].query_refund({"out_refund_no": "WN1"}))
    assert error.kind == "token_provider_failed"
    assert isinstance(error.__cause__, wxrefund.ApiError)

    def closing(rejected):
        holder["client"].close()  # does not wait for the call that is asking
        return fetch_token(sim)

    holder["client"] = wxrefund.Client(config, access_token_provider=closing, order_spacing_secs=0)
    holder["client"].create_refund(request("WN2"))  # the call in flight completes
    assert holder["client"].closed
    raises(wxrefund.ClientClosedError, lambda: holder["client"].query_refund({"out_refund_no": "WN2"}))


def test_keyboard_interrupt_in_the_provider_goes_through(start_sim):
    sim = start_sim("wecom")
    calls = []

    def provider(rejected):
        calls.append(rejected)
        if len(calls) == 1:
            raise KeyboardInterrupt
        raise ValueError("no token")

    client = wxrefund.Client(without_token_source(sim.config), access_token_provider=provider)
    with pytest.raises(KeyboardInterrupt):
        client.query_refund({"out_refund_no": "WK1"})
    # The client still works afterwards, and the interrupt is not the next error's cause.
    error = raises(wxrefund.ApiError, lambda: client.query_refund({"out_refund_no": "WK1"}))
    assert isinstance(error.__cause__, ValueError)


def test_deeply_nested_callback_bodies_are_malformed_not_a_crash(start_sim):
    """The outside review's finding 1: ``"<a>" * 20000`` killed CPython (stack overflow
    before the signature check). Now every such body is MALFORMED_NOTIFICATION, reply 400,
    on the main thread and on a thread with a 256 KiB stack."""
    import threading
    import time

    sim = start_sim("wecom")
    client = wxrefund.Client(sim.config)
    params = {"msg_signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "n"}
    bodies = [b"<a>" * 1_000, b"<a>" * 20_000, b"<a>" * 1_000_000, b"[" * 100_000]

    def parse_all(outcomes):
        for body in bodies:
            try:
                client.parse_notification(params, body)
                outcomes.append("accepted")
            except wxrefund.MalformedNotificationError as e:
                outcomes.append(e.reply["http_status"])

    on_main = []
    parse_all(on_main)
    assert on_main == [400] * len(bodies)

    on_small_stack = []
    previous = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=parse_all, args=(on_small_stack,))
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    assert on_small_stack == [400] * len(bodies)
    client.close()
