"""Refund notifications end to end: the simulator delivers to a receiver in the test,
which hands the headers and the exact body bytes to `parse_notification` and answers
what the library says."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import wxrefund
from helpers import until_final


class Receiver:
    """A loopback HTTP server that parses every POST with `client`."""

    def __init__(self, client: wxrefund.Client, tamper: bool = False) -> None:
        self.results: List[Tuple[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if tamper and not receiver.results:
                    body = body.replace(b"encrypt-resource", b"encrypt-resourcf")
                try:
                    notification = client.parse_notification(dict(self.headers.items()), body)
                    receiver.results.append(("ok", notification))
                    reply = notification["reply"]
                except wxrefund.WxRefundError as error:
                    receiver.results.append(("error", error))
                    reply = error.reply
                self.send_response(reply["http_status"])
                self.send_header("Content-Length", str(len(reply["body"].encode())))
                self.end_headers()
                self.wfile.write(reply["body"].encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10.0) -> List[Tuple[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.results) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.results) >= count, self.results
        return self.results


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
