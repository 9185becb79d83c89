"""wxrefund: apply for and query WeChat Pay refunds (APIv3 mainland, WeChat Pay Global,
WeCom mini-program payments) and verify refund notifications.

>>> import wxrefund
>>> with wxrefund.Client(config) as client:  # doctest: +SKIP
...     refund = client.create_refund({
...         "out_trade_no": "T20261122000001",
...         "out_refund_no": "R20261122000001",
...         "amount": {"refund": 100, "total": 10000, "currency": "CNY"},
...     })
...     refund = client.wait_for_final({"out_refund_no": "R20261122000001"}, timeout=60)
...     refund["wxrefund"]["status"], refund["wxrefund"]["attempts"]

Requests and answers are dicts with WeChat's own field names; answers add
``"wxrefund": {"status", "final", "action_required", "refund_id", "attempts",
"elapsed_ms"}``. Errors are ``WxRefundError`` subclasses, one per status.

The library logs to ``logging.getLogger("wxrefund")``: one DEBUG record per HTTP attempt
and an INFO or WARNING record per decision (retry, outcome unknown, certificate download,
token renewal, notification verdict, end of a wait), with their fields as record
attributes (``record.event``, ``record.out_refund_no``, ``record.attempt``, ...; all of
them in ``record.wxrefund_fields``). Records never hold a secret, a body or a personal
field.
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
    SignerFailedError,
    TimestampError,
    TransportError,
    VerificationError,
    WaitTimeoutError,
    WxRefundError,
)
from ._wxrefund import CRYPTO_BACKEND, Client, __version__

from . import _errors

# Show and pickle the exceptions as `wxrefund.NotFoundError`, where users import them from.
for _name in _errors.__all__:
    getattr(_errors, _name).__module__ = __name__
del _name

__all__ = [
    "Client",
    "__version__",
    "CRYPTO_BACKEND",
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
    "WaitTimeoutError",
    "SignerFailedError",
]
