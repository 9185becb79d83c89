"""The compiled part of the ``wxrefund`` package; import ``wxrefund`` instead."""

from types import TracebackType
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple, Type, Union, final

__all__ = ["Client", "CRYPTO_BACKEND", "__version__", "_panic_for_tests", "_at_exit"]
__version__: str
CRYPTO_BACKEND: str
"""The crypto backend the module was built with: ``"ring"`` or ``"aws-lc"``."""

_Headers = Union[Mapping[str, str], Mapping[bytes, bytes], Iterable[Tuple[str, str]]]

@final
class Client:
    """A WeChat Pay refund client for one family and account.

    The configuration is a dict and/or keyword arguments with the fields of the JSON
    configuration (``family``, ``mchid``, ``private_key_pem``, ``apiv3_key``, ...; keyword
    arguments override the dict). ``access_token_provider`` (WeCom only) is a callable
    ``provider(rejected: str | None) -> str`` returning an access token; it is called again
    with the rejected token when WeCom refuses one, one call at a time. ``signer``
    (mainland and Global) is a callable ``signer(message: bytes) -> bytes`` returning the
    RSASSA-PKCS1-v1_5 SHA-256 signature of ``message`` with the merchant key, for a key the
    library never sees (an HSM, a signing service); the configuration then has
    ``merchant_serial_no`` and no private key. It is called with the GIL held, from every
    thread that uses the client, possibly concurrently; if it raises or returns something
    other than bytes, the call fails with ``SignerFailedError`` (its ``__cause__`` is the
    exception) and nothing is sent. Building a client does not touch the network.

    One client may be shared by many threads; the GIL is released during network calls.
    ``close()`` (or leaving a ``with`` block) waits for calls in flight, and every call after
    it raises ``ClientClosedError``.
    """

    def __new__(
        cls,
        config: Optional[Mapping[str, Any]] = None,
        /,
        *,
        access_token_provider: Optional[Callable[[Optional[str]], str]] = None,
        signer: Optional[Callable[[bytes], Union[bytes, bytearray]]] = None,
        **kwargs: Any,
    ) -> "Client": ...
    @property
    def family(self) -> str:
        """The family this client speaks for: ``"domestic"``, ``"global"`` or ``"wecom"``."""
    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
    def create_refund(self, request: Mapping[str, Any]) -> Dict[str, Any]:
        """Applies for a refund.

        ``request`` is a dict with WeChat's field names for this client's family (e.g.
        ``out_trade_no``, ``out_refund_no``, ``amount: {refund, total, currency}``); unknown
        fields are rejected. It is validated before anything is sent. Returns the platform's
        answer plus ``"wxrefund": {"status", "final", "action_required", "refund_id",
        "attempts", "elapsed_ms"}`` (requests sent, retries included, and the call's
        duration).

        On ``WxRefundError`` with ``outcome_unknown`` the platform may have the refund:
        query it before deciding. Releases the GIL while it waits for the network.
        """
    def apply_abnormal_refund(self, request: Mapping[str, Any]) -> Dict[str, Any]:
        """Sends the money of an ``ABNORMAL`` mainland refund another way (the payer's card was
        closed or frozen): ``request`` is ``{"refund_id", "out_refund_no", "type",
        "bank_type", "bank_account", "real_name"}`` (plus ``sub_mchid`` in partner mode);
        ``type`` is ``"USER_BANK_CARD"`` (to another card of the payer: ``bank_type`` such as
        ``"ICBC_DEBIT"``, the card number and the holder's name, in plain text) or
        ``"MERCHANT_BANK_CARD"`` (to the merchant's card, without the three). It is validated
        before anything is sent; the card number and the name are encrypted with the WeChat
        Pay public key or the newest platform certificate, and never appear in an error or a
        log record. Returns the refund like ``query_refund``, ``PROCESSING`` again: wait for
        its final status with ``wait_for_final``. Other families raise
        ``InvalidRequestError``. Releases the GIL while it waits for the network.
        """
    def query_refund(self, query: Mapping[str, Any]) -> Dict[str, Any]:
        """Queries one refund: ``{"out_refund_no": ...}`` or (Global) ``{"refund_id": ...}``,
        plus ``sub_mchid`` in partner/institution mode when it differs from the configured
        one. Returns the refund like ``create_refund``; ``refund["wxrefund"]["final"]`` says
        whether it can still change. Releases the GIL while it waits for the network.
        """
    def wait_for_final(self, query: Mapping[str, Any], timeout: float) -> Dict[str, Any]:
        """Queries until the refund is final (``SUCCESS``, ``CLOSED``) or needs action
        (``ABNORMAL``), and returns it like ``query_refund``.

        ``query`` is as for ``query_refund``; ``timeout`` is the longest wait in seconds
        (``int`` or ``float``, finite, not negative; 0 queries once). Polls at once, then
        after 1, 2, 4, 8, 16 and then every 30 seconds, never past the timeout; network
        failures and busy answers are polled through, any other error is raised at once.
        When time runs out, raises ``WaitTimeoutError`` whose ``refund`` is the last refund
        seen (or ``None``). ``refund["wxrefund"]["attempts"]`` counts every request sent.
        Releases the GIL while it waits; ``close()`` waits for it to end.
        """
    def parse_notification(
        self, headers: _Headers, body: Union[bytes, bytearray]
    ) -> Dict[str, Any]:
        """Verifies and decrypts a refund notification.

        ``headers`` are the request headers as received (a mapping or ``(name, value)``
        pairs; any case, CGI ``HTTP_`` names accepted) and ``body`` the exact bytes
        received. Returns ``{"id", "event_type", "create_time", "resource_type", "summary",
        "refund", "reply"}``; answer the platform with ``reply`` (``http_status``, ``body``).
        On failure the exception's ``reply`` says what to answer instead. May download
        platform certificates; releases the GIL meanwhile.
        """
    def close(self) -> None:
        """Closes the client: calls after it raise ``ClientClosedError``. Waits for calls in
        flight (with the GIL released), then frees the client and zeroes its secrets.
        Calling it again does nothing.
        """
    def __enter__(self) -> "Client":
        """Returns the client itself."""
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
        /,
    ) -> bool:
        """Closes the client; exceptions propagate."""

def _panic_for_tests(message: str) -> None:
    """Panics inside the library's panic boundary, with the GIL released: for the tests
    that prove a panic becomes ``PanicError`` instead of aborting the interpreter."""

def _at_exit() -> None:
    """Registered with ``atexit`` at import: stops forwarding the library's records to
    ``logging`` once the records being handled now are done, and parks every other thread
    that comes back from the library from then on, because a thread that takes the GIL while
    the interpreter finalizes is torn down mid-call (a crash)."""
