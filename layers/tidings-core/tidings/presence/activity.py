"""Which frames show that the user is there (PROTOCOL.md §8: away after the idle time without
activity frames, available again on activity).

Frames the user causes count; frames a client sends on its own do not: `ping` (the heartbeat,
answered by API Gateway without a Lambda anyway), `hello` and `auth.renew` (sent at connect and
on `token.refresh`), `sync.request` (sent on every reconnect). `presence.update` records its own
activity. Every function that serves one of these routes has read-write access to the Presence
table (`tidings.app`; a test checks it).
"""

from __future__ import annotations

from tidings.presence.presence_service import best_effort

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


def note_activity(frame_type: str, user_id: str, connection_id: str) -> None:
    """Records the activity, best effort: a presence failure never fails the frame."""
    if frame_type not in ACTIVITY_FRAMES:
        return
    # Resolved here, not at import: the edge builds no services, and routes without activity
    # never touch presence.
    from tidings.wiring import presence_service

    best_effort(lambda: presence_service().activity(user_id, connection_id), "activity")
