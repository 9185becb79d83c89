"""The exceptions of wxrefund: one class per error ``status``, all under ``WxRefundError``.

Every exception carries the library's error object: ``error`` is the whole dict, and its
fields are attributes (``None`` when absent). The library never puts a secret (private
key, APIv3 key, corpsecret, access token) in one.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type, Union

__all__ = [
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


class WxRefundError(Exception):
    """Base class of every wxrefund error; also raised for a ``status`` this version does
    not know.

    Attributes:
        status: stable upper-case category, e.g. ``"NOT_FOUND"`` (the C ABI's status name).
        kind: finer snake_case sub-category, e.g. ``"invalid_field"``, ``"order_spacing"``.
        message: human-readable message.
        field: the request or configuration field a validation error is about.
        code: the platform's error code (APIv3 ``code``, WeCom ``errcode`` as a string).
        http_status: HTTP status of the platform's answer, when there was one.
        detail: the platform's ``detail`` object, as sent.
        request_id: the platform's ``Request-ID``, to quote to WeChat Pay support.
        retryable: sending the *same* request again (same ``out_refund_no``) may succeed.
        outcome_unknown: the platform may have accepted the request: query before deciding.
        retry_after_secs: seconds to wait before sending again (WeCom's per-order guard).
        reply: for a notification that failed, what to answer the platform
            (``{"http_status": int, "body": str}``).
        attempts: HTTP requests the failed call sent, retries included (0: nothing was sent).
        elapsed_ms: how long the failed call took, in milliseconds.
        error: the whole error object as a dict.
    """

    #: The ``status`` this class stands for (``None`` on the base class).
    STATUS: Optional[str] = None

    status: str
    kind: str
    message: str
    field: Optional[str]
    code: Optional[str]
    http_status: Optional[int]
    detail: Any
    request_id: Optional[str]
    retryable: bool
    outcome_unknown: bool
    retry_after_secs: Optional[int]
    reply: Optional[Dict[str, Any]]
    attempts: int
    elapsed_ms: int
    error: Dict[str, Any]

    def __init__(self, error: Union[Mapping[str, Any], str, None] = None, /) -> None:
        """Builds the exception from an error object (as the library does), or from a
        message alone (e.g. in tests), with this class's status."""
        if error is None or isinstance(error, str):
            error = {"message": error or ""}
        error = dict(error)
        error.setdefault("status", self.STATUS or "UNKNOWN")
        error.setdefault("kind", "")
        error.setdefault("message", "")
        error.setdefault("retryable", False)
        error.setdefault("outcome_unknown", False)
        super().__init__(error)
        self.error = error
        self.status = error["status"]
        self.kind = error["kind"]
        self.message = error["message"]
        self.field = error.get("field")
        self.code = error.get("code")
        self.http_status = error.get("http_status")
        self.detail = error.get("detail")
        self.request_id = error.get("request_id")
        self.retryable = bool(error["retryable"])
        self.outcome_unknown = bool(error["outcome_unknown"])
        self.retry_after_secs = error.get("retry_after_secs")
        self.reply = error.get("reply")
        self.attempts = int(error.get("attempts") or 0)
        self.elapsed_ms = int(error.get("elapsed_ms") or 0)

    def __str__(self) -> str:
        text = f"{self.status}: {self.message}"
        if self.code is not None:
            text += f" (code {self.code})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error!r})"


class InvalidArgumentError(WxRefundError):
    """An argument of the wrong type (not a dict, not bytes, a value that is not JSON)."""

    STATUS = "INVALID_ARGUMENT"


class InvalidJsonError(WxRefundError):
    """A request had a wrong type, an unknown field, or was too large."""

    STATUS = "INVALID_JSON"


class InvalidConfigError(WxRefundError):
    """The client configuration is incomplete or wrong; ``field`` names it when known."""

    STATUS = "INVALID_CONFIG"


class InvalidRequestError(WxRefundError):
    """A refund request or query broke a rule (``field`` says which); nothing was sent."""

    STATUS = "INVALID_REQUEST"


class ClientClosedError(WxRefundError):
    """The client was closed (status ``INVALID_HANDLE``)."""

    STATUS = "INVALID_HANDLE"


class TransportError(WxRefundError):
    """The network failed (connect error, timeout, dropped connection); see
    ``outcome_unknown``."""

    STATUS = "TRANSPORT"


class ApiError(WxRefundError):
    """The platform answered with an error: ``code``, ``message``, ``http_status``."""

    STATUS = "API_ERROR"


class NotFoundError(WxRefundError):
    """The refund or order does not exist on the platform."""

    STATUS = "NOT_FOUND"


class RateLimitedError(WxRefundError):
    """The platform, or the local WeCom per-order guard (``retry_after_secs``), asks to
    slow down."""

    STATUS = "RATE_LIMITED"


class VerificationError(WxRefundError):
    """A response or notification could not be authenticated (missing, probe or wrong
    signature)."""

    STATUS = "VERIFICATION_FAILED"


class DecryptionError(WxRefundError):
    """Authenticated decryption failed (wrong APIv3 key or corrupted payload)."""

    STATUS = "DECRYPTION_FAILED"


class TimestampError(WxRefundError):
    """A signed timestamp is outside the allowed window (replay or a wrong clock)."""

    STATUS = "TIMESTAMP_OUT_OF_WINDOW"


class MalformedNotificationError(WxRefundError):
    """A notification's envelope is not what WeChat Pay or WeCom sends."""

    STATUS = "MALFORMED_NOTIFICATION"


class PanicError(WxRefundError):
    """A bug: the library panicked; the panic was contained. Please report it."""

    STATUS = "PANIC"


class InternalError(WxRefundError):
    """A bug or an unexpected state inside the library."""

    STATUS = "INTERNAL"


class WaitTimeoutError(WxRefundError):
    """``Client.wait_for_final`` ran out of time before the refund was final (status
    ``TIMEOUT``; ``retryable``: waiting again may succeed).

    Attributes:
        refund: the last refund a query returned, as ``query_refund`` returns it (usually
            ``PROCESSING``), or ``None`` when no query succeeded.
    """

    STATUS = "TIMEOUT"

    refund: Optional[Dict[str, Any]]

    def __init__(self, error: Union[Mapping[str, Any], str, None] = None, /) -> None:
        """As ``WxRefundError``; ``refund`` comes from the error object's ``refund``."""
        super().__init__(error)
        self.refund = self.error.get("refund")


class SignerFailedError(WxRefundError):
    """The merchant's signer failed: the ``signer`` callable raised (the exception is the
    ``__cause__``) or returned something other than bytes, or the PKCS#11 token refused to
    sign. Nothing was sent; ``retryable``: the same request may be sent again once the
    signer works."""

    STATUS = "SIGNER_FAILED"


_BY_STATUS: Dict[str, Type[WxRefundError]] = {
    cls.STATUS: cls
    for cls in (
        InvalidArgumentError,
        InvalidJsonError,
        InvalidConfigError,
        InvalidRequestError,
        ClientClosedError,
        TransportError,
        ApiError,
        NotFoundError,
        RateLimitedError,
        VerificationError,
        DecryptionError,
        TimestampError,
        MalformedNotificationError,
        PanicError,
        InternalError,
        WaitTimeoutError,
        SignerFailedError,
    )
    if cls.STATUS is not None
}


def _from_error(error: Mapping[str, Any]) -> WxRefundError:
    """The exception for an error object: the class of its ``status``, else the base."""
    return _BY_STATUS.get(error.get("status"), WxRefundError)(error)  # type: ignore[arg-type]
