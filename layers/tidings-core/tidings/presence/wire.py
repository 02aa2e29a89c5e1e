"""Presence on the wire (docs/protocol.md, "Presence"): payload models and frames."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ConfigDict, Field

from tidings.kernel.lazy_model import LazyModel
from tidings.kernel.wire import Absent, AckOk, Identifier, ServerPayload, ack_ok, encode, iso, server_frame
from tidings.presence.machine import OFFLINE, PresenceState, Status

MAX_SUBSCRIBE_USERS = 100


class PresenceChangedPayload(ServerPayload):
    userId: str
    status: Status
    lastSeen: str | Absent = Field(None, description="With `offline`: when the user went offline, ISO 8601 UTC")


class PresenceUpdateAck(AckOk):
    presence: Status = Field(description="The status asked for")
    coalesced: bool = Field(description="true: it takes effect when the 10 s since the last update are over")


def presence_payload(user_id: str, status: str, last_seen: float | None) -> dict[str, Any]:
    """The payload of `presence.changed`, and an entry of sync's `presence` list."""
    seen = iso(last_seen) if status == OFFLINE and last_seen is not None else None
    return PresenceChangedPayload.model_validate({"userId": user_id, "status": status, "lastSeen": seen}).model_dump(
        mode="json"
    )


def state_payload(user_id: str, state: PresenceState | None) -> dict[str, Any]:
    """Unknown and never-connected users are offline, without `lastSeen`."""
    if state is None:
        return presence_payload(user_id, OFFLINE, None)
    return presence_payload(user_id, state.status, state.last_seen)


def presence_changed_frame(payload: dict[str, Any]) -> str:
    return encode(server_frame("presence.changed", payload))


def subscribe_frames(ref_id: str, snapshot: Iterable[dict[str, Any]]) -> list[str]:
    """The ack, then one `presence.changed` per user: the order docs/protocol.md gives."""
    return [encode(ack_ok(ref_id))] + [presence_changed_frame(payload) for payload in snapshot]


class PresenceUpdatePayload(LazyModel):
    model_config = ConfigDict(extra="ignore")

    status: Status


class PresenceUsersPayload(LazyModel):
    """`presence.subscribe` and `presence.unsubscribe`: at most 100 users a frame."""

    model_config = ConfigDict(extra="ignore")

    userIds: list[Identifier] = Field(min_length=1, max_length=MAX_SUBSCRIBE_USERS)
