"""Shared helpers of the wxrefund tests."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Tuple

import wxrefund


def until_final(
    client: wxrefund.Client, query: Dict[str, Any], timeout: float = 10.0
) -> Dict[str, Any]:
    """Queries until the refund is final (the simulator settles after 200 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        refund = client.query_refund(query)
        if refund["wxrefund"]["final"] or time.monotonic() > deadline:
            return refund
        time.sleep(0.1)


def raises(error_class: type, call: Callable[[], Any]) -> wxrefund.WxRefundError:
    """Runs `call`, asserting that it raises exactly `error_class`; returns the error."""
    try:
        call()
    except wxrefund.WxRefundError as error:
        assert type(error) is error_class, repr(error)
        return error
    raise AssertionError(f"expected {error_class.__name__}")


def error_text(error: wxrefund.WxRefundError) -> str:
    """Everything an error shows: str, repr, attributes."""
    return " ".join([str(error), repr(error), repr(vars(error)), repr(error.args)])


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

    def close(self) -> None:
        """Stops the server."""
        self.server.shutdown()
        self.server.server_close()
