"""Shared helpers of the wxrefund tests."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict

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
