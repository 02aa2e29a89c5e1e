"""Notification preferences: the schema, validated, and its rules.

`GET/PUT /api/prefs` carry this model as JSON; the Notify consumer reads it for every recipient.
The model is strict (unknown fields are refused) so that a typo in a client is a 400 naming the
field, not a setting that silently does nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from tidings.kernel.lazy_model import LazyModel

Level = Literal["all", "mentions_only", "off"]
DEFAULT_LEVEL: Level = "all"
# Bounds that keep one user's preferences far below DynamoDB's 400 KB item limit.
MAX_OVERRIDES = 500
ChatKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Strict(LazyModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class DndSchedule(_Strict):
    """A daily quiet window in the user's time zone. `startTime` after `endTime` crosses
    midnight (22:00-08:00); equal times make an empty window."""

    enabled: bool = True
    start_time: str = Field(alias="startTime")
    end_time: str = Field(alias="endTime")
    timezone: str = "UTC"

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("must be a 24-hour time HH:MM, like 22:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone, like Europe/Berlin") from None
        return value

    def active_at(self, epoch_seconds: float) -> bool:
        if not self.enabled:
            return False
        local = datetime.fromtimestamp(epoch_seconds, ZoneInfo(self.timezone)).time()
        start, end = _parse_clock(self.start_time), _parse_clock(self.end_time)
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # the window crosses midnight


def _parse_clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class GlobalPreferences(_Strict):
    desktop: bool = True  # false: no push to devices (toasts in open apps still show)
    sound: bool = True
    # An extension of the preferences schema: the level of every chat and channel without an override.
    level: Level = DEFAULT_LEVEL
    dnd_schedule: DndSchedule | None = Field(default=None, alias="dndSchedule")


class ChatOverride(_Strict):
    level: Level = DEFAULT_LEVEL
    sound: bool = True
    pinned: bool = False


class ChannelOverride(_Strict):
    level: Level = DEFAULT_LEVEL
    sound: bool = True


class NotificationPreferences(_Strict):
    global_: GlobalPreferences = Field(default_factory=GlobalPreferences, alias="global")
    chat_overrides: dict[ChatKey, ChatOverride] = Field(
        default_factory=dict, alias="chatOverrides", max_length=MAX_OVERRIDES
    )
    channel_overrides: dict[ChatKey, ChannelOverride] = Field(
        default_factory=dict, alias="channelOverrides", max_length=MAX_OVERRIDES
    )

    def level_for(self, chat_id: str, chat_type: str) -> Level:
        """A channel's own override, else the chat override, else the global default."""
        if chat_type == "channel" and chat_id in self.channel_overrides:
            return self.channel_overrides[chat_id].level
        if chat_id in self.chat_overrides:
            return self.chat_overrides[chat_id].level
        return self.global_.level

    def dnd_scheduled_at(self, epoch_seconds: float) -> bool:
        schedule = self.global_.dnd_schedule
        return schedule is not None and schedule.active_at(epoch_seconds)

    def muted(self, chat_id: str, chat_type: str) -> bool:
        return self.level_for(chat_id, chat_type) == "off"

    def pinned(self, chat_id: str) -> bool:
        override = self.chat_overrides.get(chat_id)
        return bool(override and override.pinned)

    def to_wire(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json")


DEFAULT_PREFERENCES = NotificationPreferences()
