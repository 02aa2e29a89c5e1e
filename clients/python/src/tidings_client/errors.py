"""Errors: every failure the server reports is a `TidingsError` subclass named after its code."""

from __future__ import annotations

from typing import Any


class TidingsError(Exception):
    """A refusal or failure, with the protocol's error `code` (`BAD_FRAME`, `FORBIDDEN`, ...).

    `frame` is the server frame that carried the error (an `ack` or `error`), when there was one.
    """

    code: str = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after_ms: int | None = None,
        frame: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after_ms = retry_after_ms
        self.frame = frame

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class BadFrameError(TidingsError):
    code = "BAD_FRAME"


class UnknownTypeError(TidingsError):
    code = "UNKNOWN_TYPE"


class FrameTooLargeError(TidingsError):
    code = "FRAME_TOO_LARGE"


class UnauthorizedError(TidingsError):
    code = "UNAUTHORIZED"


class ForbiddenError(TidingsError):
    code = "FORBIDDEN"


class NotFoundError(TidingsError):
    code = "NOT_FOUND"


class ConflictError(TidingsError):
    code = "CONFLICT"


class RateLimitedError(TidingsError):
    code = "RATE_LIMITED"


class ConnectionLimitError(TidingsError):
    code = "CONNECTION_LIMIT"


class UpgradeRequiredError(TidingsError):
    """The server does not speak the protocol version the client said in `hello`.
    `supported_versions` are those it does speak (None when the frame did not say),
    `upgrade_url` where to read about upgrading."""

    code = "UPGRADE_REQUIRED"

    @property
    def supported_versions(self) -> list[int] | None:
        versions = _error_payload(self.frame).get("supportedVersions")
        if not isinstance(versions, list):
            return None
        return [v for v in versions if isinstance(v, int) and not isinstance(v, bool)]

    @property
    def upgrade_url(self) -> str | None:
        url = _error_payload(self.frame).get("upgradeUrl")
        return url if isinstance(url, str) else None


class UnavailableError(TidingsError):
    code = "UNAVAILABLE"


class InternalError(TidingsError):
    code = "INTERNAL"


# Client-side conditions (not protocol codes).


class RequestTimeoutError(TidingsError):
    """No reply arrived in time."""

    code = "TIMEOUT"


class ClientClosedError(TidingsError):
    """The client is closed (by `close()`, or for good after `CONNECTION_LIMIT`,
    `UPGRADE_REQUIRED` or a refused token), or the connection of a raw client dropped."""

    code = "CLOSED"


class HandshakeError(TidingsError):
    """The WebSocket handshake was refused with an HTTP status (401: no token, 403: refused)."""

    code = "HANDSHAKE"

    def __init__(self, message: str, *, status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class HttpError(TidingsError):
    """A REST call answered with an error status; `code` is the body's `error.code`."""

    def __init__(self, message: str, *, status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class UploadRefusedError(HttpError):
    """S3 refused an upload's POST: `code` is S3's own (`EntityTooLarge`, `EntityTooSmall`,
    `AccessDenied` for a file the form's policy does not allow or an expired form, ...)."""


class InfectedError(TidingsError):
    """The upload's scan found it infected: the file is deleted and cannot be sent."""

    code = "INFECTED"


def _error_payload(frame: dict[str, Any] | None) -> dict[str, Any]:
    """The error object of an `error` frame (its payload) or of an error `ack` (`payload.error`)."""
    payload = frame.get("payload") if isinstance(frame, dict) else None
    if not isinstance(payload, dict):
        return {}
    if frame is not None and frame.get("type") == "ack" and isinstance(payload.get("error"), dict):
        error: dict[str, Any] = payload["error"]
        return error
    return payload


_BY_CODE: dict[str, type[TidingsError]] = {
    cls.code: cls
    for cls in (
        BadFrameError,
        UnknownTypeError,
        FrameTooLargeError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        RateLimitedError,
        ConnectionLimitError,
        UpgradeRequiredError,
        UnavailableError,
        InternalError,
    )
}


def error_from_payload(error: Any, frame: dict[str, Any] | None = None) -> TidingsError:
    """The exception for an `error` object (`{code, message, retryAfterMs?}`) of an ack or error frame.
    An unknown code still becomes a `TidingsError` carrying that code."""
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or "ERROR")
    message = str(error.get("message") or code)
    retry = error.get("retryAfterMs")
    retry_after_ms = retry if isinstance(retry, int) and not isinstance(retry, bool) else None
    cls = _BY_CODE.get(code, TidingsError)
    return cls(message, code=code, retry_after_ms=retry_after_ms, frame=frame)
