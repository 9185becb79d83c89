"""PKCS#11 from Python is configuration only: `"signer": {"pkcs11": {...}}` with a fresh
SoftHSM2 token made by scripts/softhsm.sh (holding the simulator's merchant key), a refund
and its query against the simulator, and a wrong PIN refused without being echoed.

scripts/test-python.sh builds the module with `--features pkcs11` and sets WXREFUND_SOFTHSM
to scripts/softhsm.sh; elsewhere (a wheel built without the feature) these tests are skipped.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import wxrefund
from wxrefund.testing import Simulator

from conftest import SIM
from helpers import error_text, raises, until_final

SOFTHSM = os.environ.get("WXREFUND_SOFTHSM")
pytestmark = pytest.mark.skipif(
    not SOFTHSM, reason="WXREFUND_SOFTHSM (scripts/softhsm.sh) is set by scripts/test-python.sh")

PIN_ENV = "WXREFUND_TEST_PKCS11_PIN"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    """One token for the module (SoftHSM2 reads its configuration once per process): the
    assignments softhsm.sh prints, plus the PIN, which is in this process's environment only
    under PIN_ENV."""
    assert SOFTHSM is not None
    pin = secrets.token_hex(8)
    directory = tmp_path_factory.mktemp("softhsm")
    done = subprocess.run([SOFTHSM, str(directory)], env=dict(os.environ, WXREFUND_PKCS11_PIN=pin),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert pin not in done.stdout + done.stderr
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    saved = {name: os.environ.get(name) for name in ("SOFTHSM2_CONF", PIN_ENV)}
    os.environ["SOFTHSM2_CONF"] = values["SOFTHSM2_CONF"]
    os.environ[PIN_ENV] = pin
    try:
        yield dict(values, pin=pin)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pkcs11_config(sim: Simulator, token: Dict[str, str], **key: Any) -> Dict[str, Any]:
    """The simulator's configuration with the key in the token instead of the PEM."""
    config = sim.config
    del config["private_key_pem"]
    config["signer"] = {"pkcs11": dict({
        "module": token["WXREFUND_PKCS11_MODULE"],
        "token_label": token["WXREFUND_PKCS11_TOKEN"],
        "pin_env": PIN_ENV,
    }, **key)}
    return config


@pytest.mark.parametrize("by", ["key_label", "key_id"])
def test_a_refund_signed_in_a_softhsm_token(token: Dict[str, str], by: str) -> None:
    key = ({"key_label": token["WXREFUND_PKCS11_KEY_LABEL"]} if by == "key_label"
           else {"key_id": token["WXREFUND_PKCS11_KEY_ID"]})
    with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
        with wxrefund.Client(pkcs11_config(sim, token, **key)) as client:
            number = f"RP-{by}"
            created = client.create_refund({
                "out_trade_no": "T20261122000001", "out_refund_no": number,
                "amount": {"refund": 100, "total": 10000, "currency": "CNY"},
            })
            assert created["wxrefund"]["status"] == "PROCESSING"
            assert until_final(client, {"out_refund_no": number})["status"] == "SUCCESS"
        seen = sim.requests()
        assert len(seen) >= 3 and all(entry["verdict"] == "ok" for entry in seen), seen


def test_a_wrong_pin_is_refused_and_never_echoed(token: Dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "9" + token["pin"][1:] if token["pin"][0] != "9" else "8" + token["pin"][1:]
    monkeypatch.setenv(PIN_ENV, wrong)
    with Simulator("domestic", binary=SIM) as sim:
        config = pkcs11_config(sim, token, key_label=token["WXREFUND_PKCS11_KEY_LABEL"])
        error = raises(wxrefund.InvalidConfigError, lambda: wxrefund.Client(config))
        assert error.field is not None and error.field.startswith("signer.pkcs11"), repr(error)
        text = error_text(error)
        assert wrong not in text and token["pin"] not in text
        assert sim.requests() == []
