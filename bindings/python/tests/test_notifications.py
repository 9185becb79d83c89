"""Refund notifications end to end: the simulator delivers to a receiver in the test,
which hands the headers and the exact body bytes to `parse_notification` and answers
what the library says."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

import wxrefund
from helpers import Receiver, until_final


@pytest.fixture
def client(start_sim: Any) -> Iterator[wxrefund.Client]:
    with wxrefund.Client(start_sim("domestic").config) as client:
        yield client


def apply(client: wxrefund.Client, out_refund_no: str, url: str) -> Dict[str, Any]:
    return client.create_refund({
        "out_trade_no": "T20261122000001", "out_refund_no": out_refund_no, "notify_url": url,
        "amount": {"refund": 100, "total": 10000, "currency": "CNY"},
    })


def test_notification_is_verified_and_agrees_with_the_query(client: wxrefund.Client) -> None:
    receiver = Receiver(client)
    apply(client, "PN-1", receiver.url)
    kind, notification = receiver.wait(1)[0]
    assert kind == "ok", notification
    assert notification["event_type"] == "REFUND.SUCCESS"
    assert notification["reply"] == {"http_status": 200, "body": ""}
    refund = until_final(client, {"out_refund_no": "PN-1"})
    assert notification["refund"]["refund_id"] == refund["refund_id"]
    assert notification["refund"]["wxrefund"]["status"] == refund["wxrefund"]["status"] == "SUCCESS"


def test_an_altered_body_is_refused_then_redelivered(client: wxrefund.Client) -> None:
    receiver = Receiver(client, tamper=True)
    apply(client, "PN-2", receiver.url)
    results = receiver.wait(2)
    kind, error = results[0]
    assert kind == "error" and isinstance(error, wxrefund.VerificationError)
    assert error.reply["http_status"] == 401
    assert results[1][0] == "ok"
