"""The mainland (APIv3) family, the Client life cycle, errors and threads."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import wxrefund
from helpers import error_text, raises, until_final


def request(out_refund_no: str, refund: int = 100, out_trade_no: str = "T20261122000001"):
    return {
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "reason": "商品已售完",
        "amount": {"refund": refund, "total": 10000, "currency": "CNY"},
    }


def test_apply_then_query_until_final(start_sim):
    sim = start_sim("domestic")
    client = wxrefund.Client(sim.config)
    assert client.family == "domestic"
    refund = client.create_refund(request("R1"))
    assert refund["out_refund_no"] == "R1"
    assert refund["amount"]["refund"] == 100
    assert refund["wxrefund"]["status"] in ("PROCESSING", "SUCCESS")
    assert refund["wxrefund"]["refund_id"] == refund["refund_id"]
    assert refund["wxrefund"]["attempts"] == 1
    final = until_final(client, {"out_refund_no": "R1"})
    elapsed_ms = final["wxrefund"]["elapsed_ms"]
    assert isinstance(elapsed_ms, int) and 0 <= elapsed_ms < 10_000
    assert final["wxrefund"] == {
        "status": "SUCCESS",
        "final": True,
        "action_required": False,
        "refund_id": refund["refund_id"],
        "attempts": 1,
        "elapsed_ms": elapsed_ms,
    }
    assert final["status"] == "SUCCESS"


def test_keyword_construction_and_overrides(start_sim):
    sim = start_sim("domestic")
    by_keywords = wxrefund.Client(**sim.config)
    assert by_keywords.create_refund(request("RK1"))["out_refund_no"] == "RK1"
    # Keywords override the dict.
    broken = dict(sim.config, base_url="http://127.0.0.1:1")
    merged = wxrefund.Client(broken, base_url=sim.config["base_url"], max_retries=0)
    assert merged.query_refund({"out_refund_no": "RK1"})["out_refund_no"] == "RK1"


def test_context_manager_and_close(start_sim):
    sim = start_sim("domestic")
    with wxrefund.Client(sim.config) as client:
        assert not client.closed
        client.create_refund(request("RC1"))
    assert client.closed
    assert "closed" in repr(client)
    for call in (
        lambda: client.create_refund(request("RC2")),
        lambda: client.query_refund({"out_refund_no": "RC1"}),
        lambda: client.parse_notification({}, b"{}"),
    ):
        error = raises(wxrefund.ClientClosedError, call)
        assert error.status == "INVALID_HANDLE"
    client.close()  # idempotent
    assert client.family == "domestic"


def test_invalid_config_names_the_field(start_sim):
    sim = start_sim("domestic")
    error = raises(
        wxrefund.InvalidConfigError,
        lambda: wxrefund.Client(sim.config, apiv3_key="too short"),
    )
    assert error.field == "apiv3_key"
    assert error.status == "INVALID_CONFIG"
    assert not error.retryable
    unknown = raises(
        wxrefund.InvalidConfigError, lambda: wxrefund.Client(sim.config, apiv3key="x")
    )
    assert "apiv3key" in unknown.message
    provider = raises(
        wxrefund.InvalidConfigError,
        lambda: wxrefund.Client(sim.config, access_token_provider=lambda rejected: "t"),
    )
    assert provider.field == "family"
    raises(
        wxrefund.InvalidArgumentError,
        lambda: wxrefund.Client(sim.config, access_token_provider="not callable"),
    )
    raises(wxrefund.InvalidArgumentError, lambda: wxrefund.Client(["not", "a", "dict"]))


def test_invalid_request_is_refused_before_sending(start_sim):
    sim = start_sim("domestic")
    # Nothing listens on port 1: a request that reached the network would be a TransportError.
    client = wxrefund.Client(sim.config, base_url="http://127.0.0.1:1", max_retries=0)
    too_much = raises(
        wxrefund.InvalidRequestError, lambda: client.create_refund(request("R1", refund=10001))
    )
    assert too_much.field is not None and "refund" in too_much.field
    bad_number = raises(
        wxrefund.InvalidRequestError, lambda: client.create_refund(request("R#1"))
    )
    assert bad_number.field == "out_refund_no"
    assert bad_number.http_status is None and not bad_number.outcome_unknown
    assert bad_number.attempts == 0  # refused before sending
    raises(wxrefund.InvalidJsonError, lambda: client.create_refund({**request("R2"), "x": 1}))
    raises(wxrefund.InvalidArgumentError, lambda: client.create_refund("R1"))
    raises(wxrefund.InvalidArgumentError, lambda: client.create_refund({"x": object()}))
    raises(wxrefund.InvalidArgumentError, lambda: client.create_refund({1: "int key"}))
    raises(wxrefund.InvalidArgumentError, lambda: client.create_refund({"x": float("nan")}))
    raises(wxrefund.InvalidArgumentError, lambda: client.create_refund({"x": 2**70}))
    loop: list = []
    loop.append(loop)
    raises(wxrefund.InvalidArgumentError, lambda: client.create_refund({"x": loop}))
    # The same requests do reach the network once they are valid.
    raises(wxrefund.TransportError, lambda: client.create_refund(request("R1")))


def test_not_found_carries_code_and_http_status(start_sim):
    sim = start_sim("domestic")
    client = wxrefund.Client(sim.config)
    error = raises(wxrefund.NotFoundError, lambda: client.query_refund({"out_refund_no": "NOPE"}))
    assert error.status == "NOT_FOUND"
    assert error.code == "RESOURCE_NOT_EXISTS"
    assert error.http_status == 404
    assert error.request_id
    assert error.error["code"] == error.code
    assert error.attempts == 1 and error.error["attempts"] == 1
    assert 0 <= error.elapsed_ms < 10_000
    assert not error.retryable and not error.outcome_unknown
    assert isinstance(error, wxrefund.WxRefundError)
    assert str(error).startswith("NOT_FOUND: ")


def test_threads_share_one_client(start_sim):
    sim = start_sim("domestic")
    client = wxrefund.Client(sim.config)

    def apply_and_query(n: int):
        number = f"RT{n}"
        created = client.create_refund(request(number))
        queried = client.query_refund({"out_refund_no": number})
        return created["out_refund_no"], queried["out_refund_no"]

    with client, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(apply_and_query, range(8)))
    assert results == [(f"RT{n}", f"RT{n}") for n in range(8)]


def silent_server():
    """A socket that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server, f"http://127.0.0.1:{server.getsockname()[1]}"


def test_gil_is_released_while_waiting_and_close_waits(start_sim):
    sim = start_sim("domestic")
    server, url = silent_server()
    with server:
        client = wxrefund.Client(
            sim.config, base_url=url, read_timeout_ms=1000, max_retries=0
        )
        ticks = 0
        stop = threading.Event()

        def count():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.01)

        counter = threading.Thread(target=count)
        counter.start()
        outcome = {}

        def call():
            try:
                client.create_refund(request("RG1"))
            except wxrefund.WxRefundError as error:
                outcome["error"] = error

        caller = threading.Thread(target=call)
        started = time.monotonic()
        caller.start()
        time.sleep(0.3)
        client.close()  # waits for the call in flight
        closed_after = time.monotonic() - started
        caller.join()
        stop.set()
        counter.join()
    assert closed_after >= 0.8, closed_after
    assert ticks >= 20, ticks  # Python ran while the call waited (about 90 when idle)
    error = outcome["error"]
    assert type(error) is wxrefund.TransportError, repr(error)
    assert error.retryable


def test_notification_with_a_bad_signature_is_refused(start_sim):
    sim = start_sim("domestic")
    client = wxrefund.Client(sim.config)
    body = b'{"id":"EV-1","create_time":"2026-11-22T10:00:00+08:00","resource_type":"encrypt-resource","event_type":"REFUND.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"abcdefghijkl","associated_data":"refund"}}'
    headers = {
        "Wechatpay-Timestamp": str(int(time.time())),
        "Wechatpay-Nonce": "n0nce",
        "Wechatpay-Serial": "UNKNOWN-SERIAL",
        "Wechatpay-Signature": "YmFkIHNpZ25hdHVyZQ==",
    }
    error = raises(wxrefund.VerificationError, lambda: client.parse_notification(headers, body))
    assert error.reply is not None and error.reply["http_status"] == 401
    assert error.status == "VERIFICATION_FAILED"
    # The same with CGI names, as (name, value) pairs, and the body as a bytearray.
    cgi = [("HTTP_" + name.upper().replace("-", "_"), value) for name, value in headers.items()]
    again = raises(
        wxrefund.VerificationError, lambda: client.parse_notification(cgi, bytearray(body))
    )
    assert again.reply["http_status"] == 401
    # A str body is a programming error; the reply still says what to answer.
    wrong = raises(
        wxrefund.InvalidArgumentError, lambda: client.parse_notification(headers, body.decode())
    )
    assert wrong.reply["http_status"] == 400
    raises(wxrefund.InvalidArgumentError, lambda: client.parse_notification({"a": 1}, body))


def test_errors_never_show_secrets(start_sim):
    sim = start_sim("domestic")
    key = sim.config["apiv3_key"]
    pem_line = sim.config["private_key_pem"].splitlines()[1]
    errors = []
    for call in (
        lambda: wxrefund.Client(sim.config, apiv3_key=key[:-1]),
        lambda: wxrefund.Client(sim.config, private_key_pem=sim.config["private_key_pem"][:200]),
        lambda: wxrefund.Client(sim.config, apiv3_key=[key]),
        lambda: wxrefund.Client(sim.config).query_refund({"out_refund_no": "NOPE"}),
    ):
        with pytest.raises(wxrefund.WxRefundError) as caught:
            call()
        errors.append(caught.value)
    for error in errors:
        text = error_text(error)
        assert key not in text and key[:-1] not in text, text
        assert pem_line not in text, text
