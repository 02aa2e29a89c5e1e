"""The edge of every HTTP API route, on Powertools' event handler.

`http_app()` gives a resolver whose errors are JSON `{error: {code, message}}` with the
matching status; `caller_id()` verifies the bearer JWT exactly as the WebSocket authorizer does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import ValidationError

from tidings.kernel.errors import (
    RETRY_TRANSIENT_AFTER_MS,
    BadFrame,
    ErrorCode,
    TidingsError,
    Unauthorized,
    transient_aws_error,
)
from tidings.kernel.json_input import NotJson, UnusableJson, parse_json
from tidings.kernel.observability import logger
from tidings.kernel.wire import encode

STATUS_BY_CODE = {
    ErrorCode.BAD_FRAME: HTTPStatus.BAD_REQUEST,
    ErrorCode.UNAUTHORIZED: HTTPStatus.UNAUTHORIZED,
    ErrorCode.FORBIDDEN: HTTPStatus.FORBIDDEN,
    ErrorCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    ErrorCode.CONFLICT: HTTPStatus.CONFLICT,
    ErrorCode.RATE_LIMITED: HTTPStatus.TOO_MANY_REQUESTS,
    ErrorCode.FRAME_TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.INTERNAL: HTTPStatus.INTERNAL_SERVER_ERROR,
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
        headers=headers,
    )


def json_response(status: int, body: Any) -> Response:
    """A JSON answer with its status (a route that returns a dict answers 200 only)."""
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=encode(body))


def http_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.exception_handler(TidingsError)
    def domain_error(exc: TidingsError) -> Response:
        headers = None
        if exc.retry_after_ms is not None:
            headers = {"Retry-After": str(max(1, -(-exc.retry_after_ms // 1000)))}
        status = STATUS_BY_CODE.get(exc.code, HTTPStatus.BAD_REQUEST)
        return error_response(status, exc.code.value, exc.message, headers)

    @app.exception_handler(ValidationError)
    def invalid_input(exc: ValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()[:3])
        return error_response(HTTPStatus.BAD_REQUEST, ErrorCode.BAD_FRAME.value, problems)

    @app.not_found
    def not_found(_: Exception) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, ErrorCode.NOT_FOUND.value, "No such route")

    @app.exception_handler(Exception)
    def internal(exc: Exception) -> Response:
        if transient_aws_error(exc):
            logger.warning("HTTP route failed on a transient AWS error", exc_info=True)
            retry_after = str(max(1, RETRY_TRANSIENT_AFTER_MS // 1000))
            return error_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                ErrorCode.UNAVAILABLE.value,
                "Temporarily unavailable; retry",
                {"Retry-After": retry_after},
            )
        logger.exception("HTTP route failed")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL.value, "Internal error")

    return app


def caller_id(app: APIGatewayHttpResolver, authenticate: Callable[[str], str]) -> str:
    """The user of the request's `Authorization: Bearer <JWT>`; 401 without one. `authenticate`
    checks the token (`tidings.sessions.compose.authenticate`: signature, expiry, revocation)
    and raises `Unauthorized` for one it refuses."""
    header = app.current_event.headers.get("authorization") or app.current_event.headers.get("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send Authorization: Bearer <access token>")
    return authenticate(token.strip())


def path_parameters(app: APIGatewayHttpResolver) -> dict[str, str]:
    """The route's parameters as API Gateway decoded them (`pathParameters`): an id with `@` or
    `:` arrives percent-encoded in the raw path (`bob%40example.com`), which the resolver's own
    match would keep."""
    return app.current_event.path_parameters or {}


def json_body(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The request body, a JSON object; a 400 when it is anything else, or when a field of it
    cannot be used (too deep, a lone surrogate: `tidings.kernel.json_input`)."""
    try:
        body = parse_json(app.current_event.decoded_body or "")
    except NotJson as exc:
        raise BadFrame("The body must be a JSON object") from exc
    except UnusableJson as exc:
        raise BadFrame(f"The body cannot be used: {exc}") from exc
    except ValueError as exc:  # a base64-encoded body that is not UTF-8
        raise BadFrame("The body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise BadFrame("The body must be a JSON object")
    return body
