"""wxrefund: apply for and query WeChat Pay refunds (APIv3 mainland, WeChat Pay Global,
WeCom mini-program payments) and verify refund notifications.

>>> import wxrefund
>>> with wxrefund.Client(config) as client:  # doctest: +SKIP
...     refund = client.create_refund({
...         "out_trade_no": "T20261122000001",
...         "out_refund_no": "R20261122000001",
...         "amount": {"refund": 100, "total": 10000, "currency": "CNY"},
...     })
...     refund = client.query_refund({"out_refund_no": "R20261122000001"})
...     refund["wxrefund"]["status"], refund["wxrefund"]["final"]

Requests and answers are dicts with WeChat's own field names; answers add
``"wxrefund": {"status", "final", "action_required", "refund_id"}``. Errors are
``WxRefundError`` subclasses, one per status.
"""

from ._errors import (
    ApiError,
    ClientClosedError,
    DecryptionError,
    InternalError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidJsonError,
    InvalidRequestError,
    MalformedNotificationError,
    NotFoundError,
    PanicError,
    RateLimitedError,
    TimestampError,
    TransportError,
    VerificationError,
    WxRefundError,
)
from ._wxrefund import Client, __version__

from . import _errors

# Show and pickle the exceptions as `wxrefund.NotFoundError`, where users import them from.
for _name in _errors.__all__:
    getattr(_errors, _name).__module__ = __name__
del _name

__all__ = [
    "Client",
    "__version__",
    "WxRefundError",
    "InvalidArgumentError",
    "InvalidJsonError",
    "InvalidConfigError",
    "InvalidRequestError",
    "ClientClosedError",
    "TransportError",
    "ApiError",
    "NotFoundError",
    "RateLimitedError",
    "VerificationError",
    "DecryptionError",
    "TimestampError",
    "MalformedNotificationError",
    "PanicError",
    "InternalError",
]
