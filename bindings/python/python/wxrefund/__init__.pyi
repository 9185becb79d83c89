"""wxrefund: apply for and query WeChat Pay refunds (APIv3 mainland, WeChat Pay Global,
WeCom mini-program payments) and verify refund notifications."""

from ._errors import ApiError as ApiError
from ._errors import ClientClosedError as ClientClosedError
from ._errors import DecryptionError as DecryptionError
from ._errors import InternalError as InternalError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import InvalidConfigError as InvalidConfigError
from ._errors import InvalidJsonError as InvalidJsonError
from ._errors import InvalidRequestError as InvalidRequestError
from ._errors import MalformedNotificationError as MalformedNotificationError
from ._errors import NotFoundError as NotFoundError
from ._errors import PanicError as PanicError
from ._errors import RateLimitedError as RateLimitedError
from ._errors import SignerFailedError as SignerFailedError
from ._errors import TimestampError as TimestampError
from ._errors import TransportError as TransportError
from ._errors import VerificationError as VerificationError
from ._errors import WaitTimeoutError as WaitTimeoutError
from ._errors import WxRefundError as WxRefundError
from ._wxrefund import Client as Client
from ._wxrefund import __version__ as __version__
from ._wxrefund import CRYPTO_BACKEND as CRYPTO_BACKEND

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
