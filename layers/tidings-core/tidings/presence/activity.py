"""Which frames show that the user is there (docs/protocol.md: away after the idle time without
activity frames, available again on activity).

Frames the user causes count; frames a client sends on its own do not: `ping` (the heartbeat,
answered by API Gateway without a Lambda anyway), `hello` and `auth.renew` (sent at connect and
on `token.refresh`), `sync.request` (sent on every reconnect). `presence.update` records its own
activity. Every function that serves one of these routes has read-write access to the Presence
table (`PRESENCE_RECORDING` in `tidings.presence.declaration`; a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable

from tidings.kernel.declaration import Function
from tidings.kernel.environment import cold_start
from tidings.kernel.router import Caller, Served
from tidings.presence.presence_service import PresenceService, best_effort

ACTIVITY_FRAMES = frozenset(
    {
        "message.send",
        "message.edit",
        "message.delete",
        "message.react",
        "typing.start",
        "typing.stop",
        "read.mark",
        "chat.focus",
        "presence.subscribe",
        "presence.unsubscribe",
    }
)


def activity_hook(service: Callable[[], PresenceService]) -> Served:
    """What the frame router calls after each frame (`frame_routes(..., on_served=…)`): records
    the activity of an activity frame, best effort; a presence failure never fails the frame.
    `service` is built on the first activity frame, so routes without one never touch presence."""

    def note_activity(route_key: str, caller: Caller) -> None:
        if route_key in ACTIVITY_FRAMES:
            best_effort(lambda: service().activity(caller.user_id, caller.connection_id), "activity")

    return note_activity


def function_activity_hook(function: Function) -> Served:
    """`activity_hook` over a presence service of `function`'s own, built in its environment on
    the first activity frame: what a frame handler passes as `on_served` when it needs no
    presence service of its own."""
    from tidings.presence import compose

    return activity_hook(cold_start(function)(compose.presence_service))
