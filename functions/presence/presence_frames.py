"""Presence frames (PROTOCOL.md §8): `presence.update`, `presence.subscribe`, `presence.unsubscribe`.

`presence.subscribe` replies through the @connections API rather than as the route's response:
the `ack` must come before the snapshot's `presence.changed` frames, and a response would only
be sent after everything the handler posted.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.router import Caller, FrameRoute, frame_routes
from tidings.kernel.wire import ClientFrame, ack_ok
from tidings.presence.wire import PresenceUpdatePayload, PresenceUsersPayload, subscribe_frames
from tidings.wiring import presence_replies, presence_service


def update(caller: Caller, frame: ClientFrame, payload: PresenceUpdatePayload) -> dict[str, Any]:
    applied = presence_service().update(caller.user_id, caller.connection_id, payload.status)
    if not applied:
        metrics.add_metric(name="PresenceUpdatesCoalesced", unit="Count", value=1)
    return ack_ok(frame.id, presence=payload.status, coalesced=not applied)


def subscribe(caller: Caller, frame: ClientFrame, payload: PresenceUsersPayload) -> None:
    snapshot = presence_service().subscribe(caller.user_id, payload.userIds)
    for data in subscribe_frames(frame.id, snapshot):
        presence_replies().post(caller.connection_id, data)
    metrics.add_metric(name="PresenceSubscriptions", unit="Count", value=len(snapshot))


def unsubscribe(caller: Caller, frame: ClientFrame, payload: PresenceUsersPayload) -> dict[str, Any]:
    presence_service().unsubscribe(caller.user_id, payload.userIds)
    return ack_ok(frame.id)


route = frame_routes(
    {
        "presence.update": FrameRoute(PresenceUpdatePayload, update),
        "presence.subscribe": FrameRoute(PresenceUsersPayload, subscribe),
        "presence.unsubscribe": FrameRoute(PresenceUsersPayload, unsubscribe),
    }
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
