"""Client.apply_abnormal_refund: a refund settled to ABNORMAL through the simulator's control
API, sent to the payer's other card (or the merchant's) and then SUCCESS; the checks made
before sending, each naming its field; and the bank details never in an error, a log record
or the simulator's request log."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import wxrefund
from wxrefund.testing import Simulator

from conftest import SIM
from helpers import error_text, raises

ACCOUNT = "6222020200112233"
NAME = "张小明"


def refund_request(out_refund_no: str) -> Dict[str, Any]:
    return {
        "out_trade_no": "T20261122000001",
        "out_refund_no": out_refund_no,
        "amount": {"refund": 100, "total": 10000, "currency": "CNY"},
    }


def to_card(refund_id: str, out_refund_no: str,
            changes: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A USER_BANK_CARD request, with `changes` applied (a value None removes the field)."""
    request = {"refund_id": refund_id, "out_refund_no": out_refund_no,
               "type": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT",
               "bank_account": ACCOUNT, "real_name": NAME}
    request.update(changes or {})
    return {key: value for key, value in request.items() if value is not None}


def assert_no_bank_details(records: List[logging.LogRecord]) -> None:
    """No record shows the card number (or its first digits) or the holder's name."""
    assert records
    for record in records:
        text = "\n".join([record.getMessage(), repr(vars(record))])
        assert ACCOUNT[:8] not in text and NAME not in text, text


def abnormal_refund(sim: Simulator, client: wxrefund.Client, out_refund_no: str) -> str:
    """Creates a refund, has the simulator settle it ABNORMAL, and returns its refund_id."""
    client.create_refund(refund_request(out_refund_no))
    sim.settle(out_refund_no, "ABNORMAL")
    refund = client.query_refund({"out_refund_no": out_refund_no})
    assert refund["status"] == "ABNORMAL" and refund["wxrefund"]["action_required"]
    return refund["refund_id"]


@pytest.mark.parametrize("verification", ["platform", "pubkey"])
def test_an_abnormal_refund_completes_to_the_payers_card(
    verification: str, records: List[logging.LogRecord]
) -> None:
    # Refunds settle 1.5 s after they are created or sent another way.
    with Simulator("domestic", settle_ms=1500, verification=verification, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        refund_id = abnormal_refund(sim, client, "RA-1")
        refund = client.apply_abnormal_refund(to_card(refund_id, "RA-1"))
        assert refund["out_refund_no"] == "RA-1" and refund["refund_id"] == refund_id
        assert refund["status"] == "PROCESSING" and refund["channel"] == "OTHER_BANKCARD"
        assert refund["wxrefund"]["status"] == "PROCESSING" and not refund["wxrefund"]["final"]
        assert refund["wxrefund"]["attempts"] >= 1
        final = client.wait_for_final({"out_refund_no": "RA-1"}, 15)
        assert final["status"] == "SUCCESS" and final["wxrefund"]["final"]
        assert ACCOUNT not in json.dumps(final, ensure_ascii=False)
        # The simulator decrypted the details with its own key: the card's last digits.
        state = sim.state()
        text = json.dumps(state, ensure_ascii=False)
        assert '"bank_account_last4": "2233"' in text and "ICBC_DEBIT" in text
        assert ACCOUNT not in text and NAME not in text
        applied = [entry for entry in sim.requests()
                   if entry["path"].endswith("/apply-abnormal-refund")]
        assert len(applied) == 1 and applied[0]["method"] == "POST", applied
        assert applied[0]["path"] == (
            f"/v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund")
        assert applied[0]["verdict"] == "ok"
    assert_no_bank_details(records)


def test_an_abnormal_refund_completes_to_the_merchants_card() -> None:
    with Simulator("domestic", settle_ms=1500, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        refund_id = abnormal_refund(sim, client, "RA-2")
        refund = client.apply_abnormal_refund(
            {"refund_id": refund_id, "out_refund_no": "RA-2", "type": "MERCHANT_BANK_CARD"})
        assert refund["wxrefund"]["status"] == "PROCESSING"
        final = client.wait_for_final({"out_refund_no": "RA-2"}, 15)
        assert final["wxrefund"]["status"] == "SUCCESS"


def test_a_host_signer_never_sees_the_bank_details(tmp_path: Path) -> None:
    with Simulator("domestic", settle_ms=1500, binary=SIM) as sim:
        config = sim.config
        key_file = tmp_path / "merchant.pem"
        key_file.write_text(config.pop("private_key_pem"))
        messages: List[bytes] = []

        def signer(message: bytes) -> bytes:
            messages.append(message)
            return subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_file)],
                                  input=message, capture_output=True, check=True).stdout

        client = wxrefund.Client(config, signer=signer)
        refund_id = abnormal_refund(sim, client, "RA-8")
        refund = client.apply_abnormal_refund(to_card(refund_id, "RA-8"))
        assert refund["wxrefund"]["status"] == "PROCESSING"
        applied = [m for m in messages if b"/apply-abnormal-refund\n" in m]
        assert len(applied) == 1
        # The signed body carries the ciphertexts only.
        assert ACCOUNT.encode() not in applied[0] and NAME.encode() not in applied[0]
        assert b'"bank_type":"ICBC_DEBIT"' in applied[0]
        assert client.wait_for_final({"out_refund_no": "RA-8"}, 15)["status"] == "SUCCESS"


def test_a_refund_that_is_not_abnormal_is_refused_by_the_platform() -> None:
    with Simulator("domestic", settle_ms=600_000, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        created = client.create_refund(refund_request("RA-3"))
        error = raises(wxrefund.ApiError, lambda: client.apply_abnormal_refund(
            to_card(created["refund_id"], "RA-3")))
        assert (error.http_status, error.code) == (400, "INVALID_REQUEST"), repr(error)
        assert not error.outcome_unknown and not error.retryable
        assert ACCOUNT[:8] not in error_text(error) and NAME not in error_text(error)
        assert client.query_refund({"out_refund_no": "RA-3"})["status"] == "PROCESSING"


# Each: a change to the USER_BANK_CARD request, the exception and the field it names.
REFUSED = [
    ({"bank_account": None}, wxrefund.InvalidRequestError, "bank_account"),
    ({"real_name": None}, wxrefund.InvalidRequestError, "real_name"),
    ({"bank_type": None}, wxrefund.InvalidRequestError, "bank_type"),
    ({"bank_account": ACCOUNT[:8] + " " + ACCOUNT[8:]}, wxrefund.InvalidRequestError,
     "bank_account"),
    ({"bank_account": ACCOUNT[:5]}, wxrefund.InvalidRequestError, "bank_account"),
    ({"real_name": NAME * 20}, wxrefund.InvalidRequestError, "real_name"),
    ({"real_name": NAME + "\n"}, wxrefund.InvalidRequestError, "real_name"),
    ({"bank_type": "icbc_debit"}, wxrefund.InvalidRequestError, "bank_type"),
    ({"type": "WALLET"}, wxrefund.InvalidRequestError, "type"),
    ({"type": "MERCHANT_BANK_CARD", "bank_type": None, "real_name": None},
     wxrefund.InvalidRequestError, "bank_account"),
    ({"out_refund_no": "R A"}, wxrefund.InvalidRequestError, "out_refund_no"),
    ({"refund_id": ""}, wxrefund.InvalidRequestError, "refund_id"),
]


@pytest.mark.parametrize("changes,cls,field", REFUSED)
def test_a_broken_request_names_its_field_and_sends_nothing(
    changes: Dict[str, Any], cls: type, field: str, records: List[logging.LogRecord]
) -> None:
    with Simulator("domestic", binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        error = raises(cls, lambda: client.apply_abnormal_refund(
            to_card("50300000012026112200000000001", "RA-4", changes)))
        assert error.field == field, repr(error)
        text = error_text(error)
        assert ACCOUNT[:5] not in text and NAME not in text, text
        assert error.attempts == 0 and sim.requests() == []
    for record in records:
        text = "\n".join([record.getMessage(), repr(vars(record))])
        assert ACCOUNT[:5] not in text and NAME not in text, text


@pytest.mark.parametrize("changes,cls", [
    ({"bank_account": int(ACCOUNT)}, wxrefund.InvalidJsonError),
    ({"real_name": [NAME]}, wxrefund.InvalidJsonError),
    ({"real_name": {"name": NAME}}, wxrefund.InvalidJsonError),
    ({"bank_account": ACCOUNT.encode()}, wxrefund.InvalidArgumentError),
    ({"bank_branch": "Pudong"}, wxrefund.InvalidJsonError),
    ({"refund_id": None}, wxrefund.InvalidJsonError),
])
def test_a_value_of_the_wrong_type_is_refused_without_echo(
    changes: Dict[str, Any], cls: type
) -> None:
    with Simulator("domestic", binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        error = raises(cls, lambda: client.apply_abnormal_refund(
            to_card("50300000012026112200000000001", "RA-5", changes)))
        text = error_text(error)
        assert ACCOUNT[:5] not in text and NAME not in text, text
        assert sim.requests() == []


@pytest.mark.parametrize("argument", [None, "{}", [("type", "USER_BANK_CARD")]])
def test_the_request_must_be_a_dict(argument: Any) -> None:
    with Simulator("domestic", binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        raises(wxrefund.InvalidArgumentError, lambda: client.apply_abnormal_refund(argument))


@pytest.mark.parametrize("family", ["global", "wecom"])
def test_other_families_refuse_it(family: str) -> None:
    with Simulator(family, binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        error = raises(wxrefund.InvalidRequestError, lambda: client.apply_abnormal_refund(
            to_card("50300000012026112200000000001", "RA-6")))
        assert error.kind == "wrong_family"
        assert ACCOUNT[:5] not in error_text(error)
        assert sim.requests() == []


def test_a_closed_client_refuses_it() -> None:
    with Simulator("domestic", binary=SIM) as sim:
        client = wxrefund.Client(sim.config)
        client.close()
        raises(wxrefund.ClientClosedError, lambda: client.apply_abnormal_refund(
            to_card("50300000012026112200000000001", "RA-7")))
