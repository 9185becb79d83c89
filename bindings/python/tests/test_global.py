"""WeChat Pay Global, direct and institution mode."""

from __future__ import annotations

import pytest

import wxrefund
from helpers import raises, until_final


@pytest.mark.parametrize("mode", ["direct", "institution"])
def test_apply_and_query_by_refund_id_and_out_refund_no(start_sim, mode):
    sim = start_sim("global", "--mode", mode)
    with wxrefund.Client(sim.config) as client:
        assert client.family == "global"
        out_trade_no = "G20261122000001" if mode == "direct" else "G20261122000009"
        total, currency = (10000, "USD") if mode == "direct" else (20000, "EUR")
        number = f"GR|{mode}*1@x"
        refund = client.create_refund({
            "out_trade_no": out_trade_no,
            "out_refund_no": number,
            "amount": {"refund": 1234, "total": total, "currency": currency},
        })
        assert refund["wxrefund"]["status"] == "ACCEPTED"
        refund_id = refund["wxrefund"]["refund_id"]
        assert refund_id and refund_id == refund["id"]

        by_id = until_final(client, {"refund_id": refund_id})
        assert by_id["wxrefund"]["status"] == "SUCCESS"
        by_number = client.query_refund({"out_refund_no": number})
        assert by_number["out_refund_no"] == number
        assert by_number["wxrefund"]["refund_id"] == refund_id
        assert by_number["wxrefund"]["final"]

        missing = raises(
            wxrefund.NotFoundError, lambda: client.query_refund({"out_refund_no": "GR-NOPE"})
        )
        assert missing.http_status == 404 and missing.code


def test_refundclose_is_normalized_to_closed(start_sim):
    sim = start_sim("global")
    client = wxrefund.Client(sim.config)
    client.create_refund({
        "out_trade_no": "G20261122000002",
        "out_refund_no": "GRC1",
        "amount": {"refund": 100, "total": 5000, "currency": "HKD"},
    })
    final = until_final(client, {"out_refund_no": "GRC1"})
    assert final["wxrefund"]["status"] == "CLOSED"
    assert final["status"] == "REFUNDCLOSE"


def test_domestic_request_fields_are_rejected_for_global(start_sim):
    sim = start_sim("global")
    client = wxrefund.Client(sim.config)
    raises(
        wxrefund.InvalidRequestError,
        lambda: client.query_refund({"out_refund_no": "A", "refund_id": "B"}),
    )
