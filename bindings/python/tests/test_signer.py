"""Client(config, signer=callable): requests signed by the host (here `openssl dgst`, with the
simulator's merchant key in a file the library is never given), refunds and queries against
the simulator, a failing signer (SignerFailedError, nothing sent), argument and
configuration checks, and signing from several threads at once."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import wxrefund
from wxrefund.testing import Simulator

from conftest import SIM
from helpers import error_text, raises, until_final


def request(out_refund_no: str, currency: str = "CNY") -> Dict[str, Any]:
    return {
        "out_trade_no": "T20261122000001",
        "out_refund_no": out_refund_no,
        "amount": {"refund": 100, "total": 10000, "currency": currency},
    }


class OpensslSigner:
    """Signs with `openssl dgst -sha256 -sign KEY` (RSASSA-PKCS1-v1_5, SHA-256); records the
    messages and the threads that asked."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self.messages: List[bytes] = []
        self.threads: set = set()
        self.lock = threading.Lock()

    def __call__(self, message: bytes) -> bytes:
        with self.lock:
            self.messages.append(message)
            self.threads.add(threading.get_ident())
        done = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key_file)],
                              input=message, capture_output=True, check=True, timeout=30)
        return done.stdout


def split_key(config: Dict[str, Any], tmp_path: Path) -> Path:
    """Moves the private key out of `config` into a file only the signer reads."""
    key_file = tmp_path / "merchant.pem"
    key_file.write_text(config.pop("private_key_pem"))
    key_file.chmod(0o600)
    return key_file


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator("domestic", settle_ms=200, binary=SIM) as sim:
        yield sim


def test_a_host_signer_signs_refunds_and_queries(sim: Simulator, tmp_path: Path) -> None:
    config = sim.config
    key_file = split_key(config, tmp_path)
    signer = OpensslSigner(key_file)
    with wxrefund.Client(config, signer=signer) as client:
        refund = client.create_refund(request("RS-1"))
        assert refund["wxrefund"]["status"] == "PROCESSING"
        refund = until_final(client, {"out_refund_no": "RS-1"})
        assert refund["status"] == "SUCCESS"
    # The exact APIv3 signing message: method, path, timestamp, nonce, body, each + "\n".
    first = signer.messages[0]
    assert isinstance(first, bytes)
    lines = first.split(b"\n")
    assert lines[:2] == [b"POST", b"/v3/refund/domestic/refunds"]
    assert len(lines) == 6 and lines[5] == b"" and b'"out_refund_no":"RS-1"' in lines[4]
    # The certificate download (to verify the answers) and the queries are signed too.
    assert signer.messages[1].startswith(b"GET\n/v3/certificates\n")
    assert signer.messages[2].startswith(b"GET\n/v3/refund/domestic/refunds/RS-1\n")
    seen = sim.requests()
    assert len(seen) == len(signer.messages) >= 2
    assert all(entry["verdict"] == "ok" for entry in seen), seen


def test_a_host_signer_for_global(tmp_path: Path) -> None:
    with Simulator("global", settle_ms=200, binary=SIM) as sim:
        config = sim.config
        signer = OpensslSigner(split_key(config, tmp_path))
        client = wxrefund.Client(config, signer=signer)
        created = client.create_refund({
            "out_trade_no": "G20261122000001", "out_refund_no": "RG-1",
            "amount": {"refund": 100, "total": 10000, "currency": "USD"},
        })
        refund = client.wait_for_final({"refund_id": created["id"]}, 10)
        assert refund["wxrefund"]["status"] == "SUCCESS"
        assert signer.messages[0].startswith(b"POST\n/v3/global/refunds\n")
        assert all(entry["verdict"] == "ok" for entry in sim.requests())


def test_a_bytearray_signature_is_accepted(sim: Simulator, tmp_path: Path) -> None:
    config = sim.config
    signer = OpensslSigner(split_key(config, tmp_path))
    client = wxrefund.Client(config, signer=lambda message: bytearray(signer(message)))
    assert client.create_refund(request("RS-2"))["wxrefund"]["status"] == "PROCESSING"


def test_a_raising_signer_fails_with_the_exception_as_cause(sim: Simulator) -> None:
    config = sim.config
    del config["private_key_pem"]
    failure = ValueError("HSM slot 7 refused: pin 424242")

    def signer(message: bytes) -> bytes:
        raise failure

    client = wxrefund.Client(config, signer=signer)
    error = raises(wxrefund.SignerFailedError, lambda: client.create_refund(request("RS-3")))
    assert error.status == "SIGNER_FAILED" and error.kind == "signer_failed"
    assert error.__cause__ is failure
    assert "ValueError" in error.message
    assert "424242" not in error_text(error)  # the host's message is chained, not quoted
    assert error.retryable and not error.outcome_unknown and error.attempts == 0
    # Queries are signed too.
    error = raises(wxrefund.SignerFailedError,
                   lambda: client.query_refund({"out_refund_no": "RS-3"}))
    assert error.__cause__ is failure
    assert sim.requests() == []  # nothing was sent
    # A later failure of another kind carries no stale cause.
    error = raises(wxrefund.InvalidRequestError,
                   lambda: client.query_refund({"out_refund_no": "bad no"}))
    assert error.__cause__ is None


@pytest.mark.parametrize("answer,words", [
    ("a signature", "returned a str, not bytes"),
    (None, "returned a NoneType, not bytes"),
    (memoryview(b"x" * 256), "returned a memoryview, not bytes"),
    (b"", "returned 0 bytes"),
    (b"x" * 1025, "returned 1025 bytes"),
])
def test_a_wrong_answer_fails_without_sending(sim: Simulator, answer: Any, words: str) -> None:
    config = sim.config
    del config["private_key_pem"]
    client = wxrefund.Client(config, signer=lambda message: answer)
    error = raises(wxrefund.SignerFailedError, lambda: client.create_refund(request("RS-4")))
    assert words in error.message, error.message
    assert error.__cause__ is None and error.attempts == 0
    assert sim.requests() == []


def test_a_wrong_signature_is_refused_by_the_platform(sim: Simulator) -> None:
    config = sim.config
    del config["private_key_pem"]
    client = wxrefund.Client(config, signer=lambda message: b"\x01" * 256)
    with pytest.raises(wxrefund.WxRefundError) as caught:
        client.create_refund(request("RS-5"))
    assert not isinstance(caught.value, wxrefund.SignerFailedError)
    assert caught.value.http_status == 401, repr(caught.value)
    assert [entry["verdict"] for entry in sim.requests()] != ["ok"]


def test_keyboard_interrupt_in_the_signer_goes_through(sim: Simulator) -> None:
    config = sim.config
    del config["private_key_pem"]

    def signer(message: bytes) -> bytes:
        raise KeyboardInterrupt

    client = wxrefund.Client(config, signer=signer)
    with pytest.raises(KeyboardInterrupt):
        client.create_refund(request("RS-6"))
    assert sim.requests() == []


def test_a_signer_calling_its_own_client_is_refused(sim: Simulator, tmp_path: Path) -> None:
    config = sim.config
    openssl = OpensslSigner(split_key(config, tmp_path))
    inner: List[BaseException] = []
    client: List[wxrefund.Client] = []

    def signer(message: bytes) -> bytes:
        if not inner:
            try:
                client[0].query_refund({"out_refund_no": "RS-7"})
            except wxrefund.WxRefundError as error:
                inner.append(error)
        return openssl(message)

    client.append(wxrefund.Client(config, signer=signer))
    assert client[0].create_refund(request("RS-7"))["wxrefund"]["status"] == "PROCESSING"
    assert type(inner[0]) is wxrefund.SignerFailedError
    assert "its own client" in inner[0].message
    # The refund and the certificate download its answer needed; never the inner query.
    paths = [entry["path"] for entry in sim.requests()]
    assert paths == ["/v3/refund/domestic/refunds", "/v3/certificates"], paths


@pytest.mark.parametrize("extra,kwargs,cls,field", [
    ({}, {"signer": "not callable"}, wxrefund.InvalidArgumentError, "signer"),
    ({"private_key_pem": None}, {"signer": lambda m: b""}, wxrefund.InvalidConfigError,
     "signer"),
    ({}, {"signer": lambda m: b"", "access_token_provider": lambda r: "t"},
     wxrefund.InvalidConfigError, "signer"),
    ({}, {}, wxrefund.InvalidConfigError, "private_key_pem"),
])
def test_argument_and_configuration_checks(sim: Simulator, extra: Dict[str, Any],
                                           kwargs: Dict[str, Any], cls: type,
                                           field: str) -> None:
    config = sim.config
    pem = config.pop("private_key_pem")
    if "private_key_pem" in extra:
        config["private_key_pem"] = pem  # a key and a signer: two ways to sign
    error = raises(cls, lambda: wxrefund.Client(config, **kwargs))
    assert error.field == field, repr(error)
    assert pem.splitlines()[1] not in error_text(error)


def test_wecom_takes_no_signer() -> None:
    with Simulator("wecom", binary=SIM) as sim:
        error = raises(wxrefund.InvalidConfigError,
                       lambda: wxrefund.Client(sim.config, signer=lambda m: b""))
        assert error.field == "family"


def test_signing_from_several_threads_at_once(sim: Simulator, tmp_path: Path) -> None:
    config = sim.config
    openssl = OpensslSigner(split_key(config, tmp_path))
    threads = 6
    # The first `threads` signatures wait for each other: calls made one at a time would
    # break the barrier (after 10 s) and fail their refunds.
    barrier = threading.Barrier(threads, timeout=10)
    counted = {"calls": 0}
    lock = threading.Lock()

    def signer(message: bytes) -> bytes:
        with lock:
            counted["calls"] += 1
            first_round = counted["calls"] <= threads
        if first_round:
            barrier.wait()
        return openssl(message)

    client = wxrefund.Client(config, signer=signer)
    results: Dict[int, Any] = {}

    def work(index: int) -> None:
        try:
            client.create_refund(request(f"RT-{index}"))
            results[index] = until_final(client, {"out_refund_no": f"RT-{index}"})["status"]
        except BaseException as error:  # reported below, with the index
            results[index] = error

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert results == {i: "SUCCESS" for i in range(threads)}
    assert len(openssl.threads) == threads  # each worker's own thread signed
    assert all(entry["verdict"] == "ok" for entry in sim.requests())


def test_closing_waits_for_a_signing_call(sim: Simulator, tmp_path: Path) -> None:
    config = sim.config
    openssl = OpensslSigner(split_key(config, tmp_path))
    entered = threading.Event()
    release = threading.Event()

    def signer(message: bytes) -> bytes:
        entered.set()
        release.wait(10)
        return openssl(message)

    client = wxrefund.Client(config, signer=signer)
    outcome: List[Any] = []
    caller = threading.Thread(
        target=lambda: outcome.append(client.create_refund(request("RS-8"))))
    caller.start()
    assert entered.wait(10)
    closer = threading.Thread(target=client.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive()  # waits for the call in flight
    release.set()
    caller.join(10)
    closer.join(10)
    assert not closer.is_alive()
    assert outcome and outcome[0]["wxrefund"]["status"] == "PROCESSING"
    raises(wxrefund.ClientClosedError, lambda: client.query_refund({"out_refund_no": "RS-8"}))
