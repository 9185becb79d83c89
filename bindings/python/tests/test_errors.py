"""The exception hierarchy itself."""

from __future__ import annotations

import pickle

import pytest

import wxrefund
from wxrefund import _errors

STATUSES = {
    "INVALID_ARGUMENT": wxrefund.InvalidArgumentError,
    "INVALID_JSON": wxrefund.InvalidJsonError,
    "INVALID_CONFIG": wxrefund.InvalidConfigError,
    "INVALID_REQUEST": wxrefund.InvalidRequestError,
    "INVALID_HANDLE": wxrefund.ClientClosedError,
    "TRANSPORT": wxrefund.TransportError,
    "API_ERROR": wxrefund.ApiError,
    "NOT_FOUND": wxrefund.NotFoundError,
    "RATE_LIMITED": wxrefund.RateLimitedError,
    "VERIFICATION_FAILED": wxrefund.VerificationError,
    "DECRYPTION_FAILED": wxrefund.DecryptionError,
    "TIMESTAMP_OUT_OF_WINDOW": wxrefund.TimestampError,
    "MALFORMED_NOTIFICATION": wxrefund.MalformedNotificationError,
    "PANIC": wxrefund.PanicError,
    "INTERNAL": wxrefund.InternalError,
    "TIMEOUT": wxrefund.WaitTimeoutError,
    "SIGNER_FAILED": wxrefund.SignerFailedError,
}


@pytest.mark.parametrize("status,cls", sorted(STATUSES.items()))
def test_every_status_has_its_class(status, cls):
    error = _errors._from_error({"status": status, "kind": "k", "message": "m",
                                 "retryable": True, "outcome_unknown": False})
    assert type(error) is cls and isinstance(error, wxrefund.WxRefundError)
    assert error.status == status == cls.STATUS
    assert error.retryable is True and error.outcome_unknown is False
    assert error.field is None and error.code is None and error.reply is None
    assert error.attempts == 0 and error.elapsed_ms == 0  # absent: nothing was sent
    assert cls.__module__ == "wxrefund" and cls.__doc__


def test_unknown_status_maps_to_the_base_class():
    error = _errors._from_error({"status": "SOMETHING_NEW", "kind": "k", "message": "m",
                                 "code": "X1", "retryable": False, "outcome_unknown": True})
    assert type(error) is wxrefund.WxRefundError
    assert str(error) == "SOMETHING_NEW: m (code X1)"
    assert error.outcome_unknown


def test_attempts_elapsed_ms_and_the_last_refund_are_attributes():
    refund = {"out_refund_no": "R1", "status": "PROCESSING",
              "wxrefund": {"status": "PROCESSING", "final": False, "attempts": 1}}
    error = _errors._from_error({"status": "TIMEOUT", "kind": "wait_timeout", "message": "m",
                                 "retryable": True, "outcome_unknown": False,
                                 "attempts": 3, "elapsed_ms": 1503, "refund": refund})
    assert type(error) is wxrefund.WaitTimeoutError
    assert (error.attempts, error.elapsed_ms) == (3, 1503)
    assert error.refund == refund
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is wxrefund.WaitTimeoutError and copy.refund == refund
    assert wxrefund.WaitTimeoutError("still waiting").refund is None
    other = _errors._from_error({"status": "TRANSPORT", "kind": "k", "message": "m",
                                 "retryable": True, "outcome_unknown": True,
                                 "attempts": 4, "elapsed_ms": 2000})
    assert (other.attempts, other.elapsed_ms) == (4, 2000)


def test_errors_pickle_and_can_be_built_from_a_message():
    error = wxrefund.NotFoundError({"status": "NOT_FOUND", "kind": "k", "message": "gone",
                                    "http_status": 404, "code": "RESOURCE_NOT_EXISTS",
                                    "retryable": False, "outcome_unknown": False})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is wxrefund.NotFoundError and copy.error == error.error
    assert copy.http_status == 404
    simple = wxrefund.RateLimitedError("slow down")
    assert simple.status == "RATE_LIMITED" and simple.message == "slow down"


def test_every_class_is_exported_and_mapped():
    for name in _errors.__all__:
        cls = getattr(_errors, name)
        assert getattr(wxrefund, name) is cls and name in wxrefund.__all__, name
        if cls is not wxrefund.WxRefundError:
            assert STATUSES[cls.STATUS] is cls and _errors._BY_STATUS[cls.STATUS] is cls


def test_public_names_have_docstrings():
    for name in wxrefund.__all__:
        if name in ("__version__", "CRYPTO_BACKEND"):
            continue
        assert getattr(wxrefund, name).__doc__, name
    for method in ("create_refund", "query_refund", "wait_for_final", "parse_notification",
                   "apply_abnormal_refund",
                   "close", "__enter__", "__exit__", "family", "closed"):
        assert getattr(wxrefund.Client, method).__doc__, method
    assert wxrefund.__version__
    assert wxrefund.CRYPTO_BACKEND in ("ring", "aws-lc")


def test_a_rust_panic_becomes_panic_error():
    from wxrefund import _wxrefund

    with pytest.raises(wxrefund.PanicError) as caught:
        _wxrefund._panic_for_tests("boom 42")
    assert caught.value.status == "PANIC"
    assert "boom 42" in caught.value.message
