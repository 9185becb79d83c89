"""wxrefund.testing.Simulator: the simulator as a context manager, driven by its control API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import wxrefund
from wxrefund.testing import Simulator, SimulatorError, find_simulator

from conftest import SIM


def simulator(**options) -> Simulator:
    """A Simulator of the binary the other tests use (WXREFUND_SIM or target/debug), unless
    WXREFUND_TEST_SHIPPED_SIM=1 (scripts/test-package-python.sh): then find_simulator's own
    lookup, which must land on the copy in the installed wheel."""
    if os.environ.get("WXREFUND_TEST_SHIPPED_SIM") == "1":
        return Simulator(**options)
    return Simulator(binary=SIM, **options)


def request(out_refund_no: str, out_trade_no: str = "T-PY-000001", refund: int = 100):
    return {
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "reason": "test",
        "amount": {"refund": refund, "total": 3000, "currency": "CNY"},
    }


ORDER = {"out_trade_no": "T-PY-000001", "transaction_id": "4200000001209900000000000001",
         "total": 3000}


@pytest.mark.skipif(os.environ.get("WXREFUND_TEST_SHIPPED_SIM") != "1",
                    reason="only against a wheel that ships wxrefund-sim")
def test_the_shipped_simulator_is_found() -> None:
    assert "WXREFUND_SIM" not in os.environ
    found = find_simulator()
    assert found == Path(wxrefund.__file__).resolve().parent / "_bin" / "wxrefund-sim"


def test_lifecycle_config_and_cleanup() -> None:
    sim = simulator(family="global", mode="institution", settle_ms=200)
    with sim:
        assert sim.running and sim.base_url.startswith("http://127.0.0.1:")
        assert sim.config["base_url"] == sim.base_url
        assert wxrefund.Client(sim.config).family == "global"
        tmp = Path(str(sim._tmp))
        assert (tmp / "config.json").exists()
    assert not sim.running
    assert not tmp.exists()
    with pytest.raises(SimulatorError):
        sim.config


def test_system_error_is_resent_with_the_same_body() -> None:
    with simulator(settle_ms=200) as sim:
        sim.add_order("domestic", **ORDER)
        sim.inject("SYSTEM_ERROR")
        client = wxrefund.Client(sim.config)
        refund = client.create_refund(request("R-PY-000001"))
        assert refund["out_refund_no"] == "R-PY-000001"
        posts = [r for r in sim.requests() if r["method"] == "POST"]
        assert [r["verdict"] for r in posts] == ["fault:SYSTEM_ERROR", "ok"]
        assert posts[0]["body_sha256"] == posts[1]["body_sha256"]


def test_drop_after_commit_is_outcome_unknown_and_found_by_a_query() -> None:
    with simulator(settle_ms=200) as sim:
        sim.add_order("domestic", **ORDER)
        sim.inject("DROP_AFTER_COMMIT")
        # No resend: a resend of the same body would find the committed refund.
        client = wxrefund.Client(sim.config, max_retries=0)
        with pytest.raises(wxrefund.WxRefundError) as caught:
            client.create_refund(request("R-PY-000002"))
        assert caught.value.outcome_unknown
        found = client.query_refund({"out_refund_no": "R-PY-000002"})
        assert found["out_refund_no"] == "R-PY-000002"
        refunds = [r for r in sim.state()["refunds"]["domestic"]
                   if r["out_refund_no"] == "R-PY-000002"]
        assert len(refunds) == 1


def test_settle_abnormal_needs_action() -> None:
    with simulator(settle_ms=600000) as sim:
        sim.add_order("domestic", **ORDER)
        client = wxrefund.Client(sim.config)
        assert client.create_refund(request("R-PY-000003"))["wxrefund"]["status"] == "PROCESSING"
        assert sim.settle("R-PY-000003", "ABNORMAL")["status"] == "ABNORMAL"
        final = client.query_refund({"out_refund_no": "R-PY-000003"})
        assert final["wxrefund"]["status"] == "ABNORMAL"
        assert final["wxrefund"]["action_required"] is True


def test_bad_input_names_the_field() -> None:
    with simulator() as sim:
        with pytest.raises(SimulatorError) as caught:
            sim.add_order("domestic", out_trade_no="T-PY-BAD", transaction_id="42", total=0)
        assert caught.value.field == "total" and caught.value.status == 400
        assert caught.value.message
        with pytest.raises(SimulatorError) as caught:
            sim.inject("DELAY")
        assert caught.value.field == "delay_ms"
        with pytest.raises(SimulatorError) as caught:
            sim.settle("R-PY-NONE", "SUCCESS")
        assert caught.value.status == 404


def test_the_other_controls_answer() -> None:
    with simulator(family="wecom") as sim:
        sim.skew_clock(0)
        sim.rotate_certificate()
        sim.revoke_wecom_tokens()
        sim.inject_notification("DUPLICATE")
        sim.inject("DELAY", delay_ms=1)
        assert sim.state()["orders"]["domestic"]
        with pytest.raises(SimulatorError) as caught:
            sim.redeliver("no-such-notification")
        assert caught.value.status == 404
        sim.reset()
        assert sim.requests() == []


def test_missing_binary_names_the_four_places(monkeypatch, tmp_path) -> None:
    with pytest.raises(SimulatorError, match="not an executable"):
        find_simulator(tmp_path / "nothing")
    monkeypatch.delenv("WXREFUND_SIM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    import wxrefund.testing as testing
    monkeypatch.setattr(testing, "__file__", str(tmp_path / "wxrefund" / "testing.py"))
    with pytest.raises(SimulatorError) as caught:
        find_simulator()
    text = str(caught.value)
    for place in ("binary=", "WXREFUND_SIM", "_bin", "PATH"):
        assert place in text
