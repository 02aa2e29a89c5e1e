"""Domain errors, each carrying the protocol error code it becomes.

Domain and storage code raise these; `tidings.kernel.router` is the one place that turns them
into `ack`/`error` frames.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_FRAME = "BAD_FRAME"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    CONNECTION_LIMIT = "CONNECTION_LIMIT"
    UPGRADE_REQUIRED = "UPGRADE_REQUIRED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class TidingsError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_ms = retry_after_ms


class BadFrame(TidingsError):
    code = ErrorCode.BAD_FRAME


class Forbidden(TidingsError):
    code = ErrorCode.FORBIDDEN


class NotFound(TidingsError):
    code = ErrorCode.NOT_FOUND


class Conflict(TidingsError):
    """The same sender reused a frame id for a different request (the first one stands)."""

    code = ErrorCode.CONFLICT


class RateLimited(TidingsError):
    code = ErrorCode.RATE_LIMITED


class Unavailable(TidingsError):
    code = ErrorCode.UNAVAILABLE


class Unauthorized(TidingsError):
    code = ErrorCode.UNAUTHORIZED


# AWS errors that say "not now" rather than "never": throttling, a transaction that lost a race
# with another on the same item, a service-side fault. botocore has already retried them; the
# client may retry the same request (same frame id) a moment later.
TRANSIENT_AWS_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflict",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
RETRY_TRANSIENT_AFTER_MS = 1000


def transient_aws_error(exc: BaseException) -> bool:
    """Whether `exc` (or anything it was raised from) is a transient AWS error: botocore's
    `ClientError` carries the code in `response`, PynamoDB's errors in `cause_response_code`, and
    a cancelled transaction in its cancellation reasons."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        codes = {
            getattr(current, "cause_response_code", None),
            (getattr(current, "response", None) or {}).get("Error", {}).get("Code"),
            *(getattr(reason, "code", None) for reason in getattr(current, "cancellation_reasons", None) or ()),
        }
        if codes & TRANSIENT_AWS_ERROR_CODES:
            return True
        current = current.__cause__ or current.__context__
    return False
