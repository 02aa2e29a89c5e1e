"""The edge of every WebSocket route: from an API Gateway event to one reply frame.

`frame_route` does what every route needs, in the order docs/protocol.md fixes: size check, JSON
parse, envelope check, payload validation, then the route's action; domain errors become
`ack` errors here and nowhere else. The connection always stays open.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tidings.kernel.apigw_events import WebSocketMessageEvent
from tidings.kernel.errors import RETRY_TRANSIENT_AFTER_MS, ErrorCode, TidingsError, transient_aws_error
from tidings.kernel.handlers import Handler, websocket_entry
from tidings.kernel.json_input import UnusableJson, encodable, parse_json, utf8_size
from tidings.kernel.observability import logger, metrics
from tidings.kernel.wire import MAX_FRAME_BYTES, ClientFrame, EmptyPayload, ack_error, encode, error_frame, server_frame

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class Caller:
    user_id: str
    connection_id: str


# An action returns the reply frame, or None for frames that get no reply (typing).
Action = Callable[[Caller, ClientFrame, P], dict[str, Any] | None]


@dataclass(frozen=True)
class FrameRoute:
    payload_model: type[BaseModel]
    action: Action[Any]


# Called after each frame's reply is ready, with the route key and the caller (presence records
# activity this way); never fails the frame.
Served = Callable[[str, Caller], None]


def frame_route(payload_model: type[P], action: Action[P], *, on_served: Served | None = None) -> FrameRouter:
    """Builds `event -> integration response` for a function that serves one route; the action
    returns the reply frame."""
    only = FrameRoute(payload_model, action)
    return FrameRouter(lambda _route_key: only, on_served)


def frame_routes(routes: dict[str, FrameRoute], *, on_served: Served | None = None) -> FrameRouter:
    """The same for a function that serves several routes, chosen by the event's route key."""
    return FrameRouter(routes.__getitem__, on_served)


def frame_handler(router: FrameRouter) -> Handler:
    """A frame function's Lambda entry point: its router, dressed as every WebSocket route is."""

    @websocket_entry
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return router(event)

    return handler


@dataclass(frozen=True)
class FrameRouter:
    """`event -> integration response` for the routes of one function. `route_for(route_key)`
    tells which payload model and action serve a route (the fuzz suite reads the models)."""

    route_for: Callable[[str], FrameRoute]
    on_served: Served | None = None

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        parsed = WebSocketMessageEvent.model_validate(event)
        context = parsed.request_context
        caller = Caller(user_id=context.authorizer.user_id, connection_id=context.connection_id)
        # Thread-local: the local runtime runs concurrent invocations in threads of one process.
        logger.thread_safe_append_keys(userId=caller.user_id, connectionId=caller.connection_id)
        route = self.route_for(context.route_key)
        reply = _reply(_process(str(parsed.body or ""), route.payload_model, route.action, caller))
        if self.on_served is not None:
            self.on_served(context.route_key, caller)  # after the reply is ready
        return reply


def _process(body: str, payload_model: type[P], action: Action[P], caller: Caller) -> dict[str, Any] | None:
    size = utf8_size(body)
    if size > MAX_FRAME_BYTES:
        metrics.add_metric(name="FramesRejected", unit="Count", value=1)
        return error_frame(
            ErrorCode.FRAME_TOO_LARGE,
            f"Frame is {size} bytes; the limit is {MAX_FRAME_BYTES} bytes. Nothing was processed.",
            ref_id=_readable_id(body),
        )
    try:
        raw = parse_json(body)
    except UnusableJson as exc:
        frame_id = _readable_id(body)
        if frame_id is not None and exc.path[:1] == ("payload",):
            # The envelope is fine and names the frame: the payload's problem is this frame's ack.
            return ack_error(frame_id, ErrorCode.BAD_FRAME, f"Invalid payload: {exc}")
        return error_frame(ErrorCode.BAD_FRAME, f"Frame cannot be used: {exc}", ref_id=frame_id)
    if not isinstance(raw, dict):
        return error_frame(ErrorCode.BAD_FRAME, "Frame must be a JSON object")
    try:
        frame = ClientFrame.model_validate(raw)
    except ValidationError as exc:
        return error_frame(ErrorCode.BAD_FRAME, f"Bad frame envelope: {_describe(exc)}", ref_id=_readable_id(raw))
    try:
        payload = payload_model.model_validate(frame.payload)
    except ValidationError as exc:
        return ack_error(frame.id, ErrorCode.BAD_FRAME, f"Invalid {frame.type} payload: {_describe(exc, 'payload')}")
    logger.thread_safe_append_keys(frameType=frame.type, frameId=frame.id)
    try:
        return action(caller, frame, payload)
    except TidingsError as exc:
        return ack_error(frame.id, exc.code, exc.message, exc.retry_after_ms)
    except Exception as exc:
        if transient_aws_error(exc):
            logger.warning("route failed on a transient AWS error", exc_info=True)
            return ack_error(
                frame.id,
                ErrorCode.UNAVAILABLE,
                "Temporarily unavailable; retry with the same frame id",
                RETRY_TRANSIENT_AFTER_MS,
            )
        logger.exception("route failed")
        return ack_error(frame.id, ErrorCode.INTERNAL, "Internal error; retry with the same frame id")


def _reply(frame: dict[str, Any] | None) -> dict[str, Any]:
    if frame is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "body": encode(frame)}


def _describe(exc: ValidationError, prefix: str | None = None) -> str:
    parts = []
    for error in exc.errors()[:3]:
        location = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(error["loc"]))
        parts.append(f"{location}: {error['msg']}" if location else error["msg"])
    return "; ".join(parts)


def _readable_id(raw: Any) -> str | None:
    """The frame id, when one can be read, so even a rejected frame can be correlated."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return None
    frame_id = raw.get("id") if isinstance(raw, dict) else None
    return frame_id if isinstance(frame_id, str) and 0 < len(frame_id) <= 128 and encodable(frame_id) else None


def answer_unrouted_frame(caller: Caller, frame: ClientFrame, payload: EmptyPayload) -> dict[str, Any]:
    """`ping` gets `pong`; any other type reached `$default` because no route knows it."""
    if frame.type == "ping":
        return server_frame("pong", {"refId": frame.id})
    return ack_error(frame.id, ErrorCode.UNKNOWN_TYPE, f"Unknown frame type {frame.type!r}")
