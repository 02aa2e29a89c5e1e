"""Presence payloads (PROTOCOL.md §8)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tidings.domain.presence import MAX_SUBSCRIBE_USERS, Status
from tidings.kernel.wire import Identifier


class PresenceUpdatePayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Status


class PresenceUsersPayload(BaseModel):
    """`presence.subscribe` and `presence.unsubscribe`: at most 100 users a frame."""

    model_config = ConfigDict(extra="ignore")

    userIds: list[Identifier] = Field(min_length=1, max_length=MAX_SUBSCRIBE_USERS)
