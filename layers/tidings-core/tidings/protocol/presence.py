"""Presence payloads (PROTOCOL.md §8)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tidings.domain.presence import MAX_SUBSCRIBE_USERS, Status

UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PresenceUpdatePayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Status


class PresenceUsersPayload(BaseModel):
    """`presence.subscribe` and `presence.unsubscribe`: at most 100 users a frame."""

    model_config = ConfigDict(extra="ignore")

    userIds: list[UserId] = Field(min_length=1, max_length=MAX_SUBSCRIBE_USERS)
