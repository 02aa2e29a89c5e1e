"""Python client SDK for Tidings (asyncio). Start with `TidingsClient`."""

from tidings_client._version import __version__
from tidings_client.backoff import Backoff
from tidings_client.client import CloseInfo, ConnectionState, TidingsClient, derive_api_url
from tidings_client.clock import Clock, SystemClock
from tidings_client.errors import (
    BadFrameError,
    ClientClosedError,
    ConflictError,
    ConnectionLimitError,
    ForbiddenError,
    FrameTooLargeError,
    HandshakeError,
    HttpError,
    InfectedError,
    InternalError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    TidingsError,
    UnauthorizedError,
    UnavailableError,
    UnknownTypeError,
    UpgradeRequiredError,
    UploadRefusedError,
)
from tidings_client.frames import CHAT_EVENT_TYPES, Frame
from tidings_client.outbox import MemoryOutbox, OutboxEntry, OutboxStore, SqliteOutbox
from tidings_client.rest import RestClient, RestResponse
from tidings_client.tokens import TokenRefresher, TokenSource, jwt_expiry

__all__ = [
    "CHAT_EVENT_TYPES",
    "Backoff",
    "BadFrameError",
    "ClientClosedError",
    "Clock",
    "CloseInfo",
    "ConflictError",
    "ConnectionLimitError",
    "ConnectionState",
    "ForbiddenError",
    "Frame",
    "FrameTooLargeError",
    "HandshakeError",
    "HttpError",
    "InfectedError",
    "InternalError",
    "MemoryOutbox",
    "NotFoundError",
    "OutboxEntry",
    "OutboxStore",
    "RateLimitedError",
    "RequestTimeoutError",
    "RestClient",
    "RestResponse",
    "SqliteOutbox",
    "SystemClock",
    "TidingsClient",
    "TidingsError",
    "TokenRefresher",
    "TokenSource",
    "UnauthorizedError",
    "UnavailableError",
    "UnknownTypeError",
    "UpgradeRequiredError",
    "UploadRefusedError",
    "__version__",
    "derive_api_url",
    "jwt_expiry",
]
