"""Presence frames: `presence.update`, `presence.subscribe`, `presence.unsubscribe`.

`presence.subscribe` replies through the @connections API rather than as the route's response:
the `ack` must come before the snapshot's `presence.changed` frames, and a response would only
be sent after everything the handler posted.
"""

from typing import Any

from tidings.kernel import connections_api, ratelimits
from tidings.kernel.connections_api import ApiGatewayPoster
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.observability import metrics
from tidings.kernel.router import Caller, FrameRoute, frame_handler, frame_routes
from tidings.kernel.wire import ClientFrame, ack_ok
from tidings.presence import compose as presence
from tidings.presence.activity import activity_hook
from tidings.presence.declaration import PRESENCE_FRAMES
from tidings.presence.presence_service import PresenceService
from tidings.presence.wire import PresenceUpdatePayload, PresenceUsersPayload, subscribe_frames


@cold_start(PRESENCE_FRAMES)
def _presence(environment: Environment) -> PresenceService:
    return presence.presence_service(
        environment, limiter=ratelimits.rate_limiter(environment), visibility=presence.shared_chats(environment)
    )


@cold_start(PRESENCE_FRAMES)
def _replies(environment: Environment) -> ApiGatewayPoster:
    """Where `presence.subscribe` posts its ack and snapshot (the @connections API)."""
    return connections_api.poster(environment)


def update(caller: Caller, frame: ClientFrame, payload: PresenceUpdatePayload) -> dict[str, Any]:
    applied = _presence().update(caller.user_id, caller.connection_id, payload.status)
    if not applied:
        metrics.add_metric(name="PresenceUpdatesCoalesced", unit="Count", value=1)
    return ack_ok(frame.id, presence=payload.status, coalesced=not applied)


def subscribe(caller: Caller, frame: ClientFrame, payload: PresenceUsersPayload) -> None:
    snapshot = _presence().subscribe(caller.user_id, payload.userIds)
    for data in subscribe_frames(frame.id, snapshot):
        _replies().post(caller.connection_id, data)
    metrics.add_metric(name="PresenceSubscriptions", unit="Count", value=len(snapshot))


def unsubscribe(caller: Caller, frame: ClientFrame, payload: PresenceUsersPayload) -> dict[str, Any]:
    _presence().unsubscribe(caller.user_id, payload.userIds)
    return ack_ok(frame.id)


route = frame_routes(
    {
        "presence.update": FrameRoute(PresenceUpdatePayload, update),
        "presence.subscribe": FrameRoute(PresenceUsersPayload, subscribe),
        "presence.unsubscribe": FrameRoute(PresenceUsersPayload, unsubscribe),
    },
    on_served=activity_hook(_presence),
)

handler = frame_handler(route)
