"""Notification preferences: the schema, validated; levels; scheduled DND by time zone."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tidings.notifications.preferences import DndSchedule, NotificationPreferences


def at(utc: str) -> float:
    return datetime.fromisoformat(utc).replace(tzinfo=UTC).timestamp()


NIGHT = DndSchedule(startTime="22:00", endTime="08:00", timezone="Europe/Berlin")


@pytest.mark.parametrize(
    ("utc", "active"),
    [
        ("2026-11-25T20:59:00", False),  # 21:59 in Berlin (UTC+1 in November)
        ("2026-11-25T21:00:00", True),  # 22:00: the window opens
        ("2026-11-25T23:30:00", True),  # 00:30 the next day: across midnight
        ("2026-11-26T06:59:00", True),  # 07:59
        ("2026-11-26T07:00:00", False),  # 08:00: the window has closed
        ("2026-11-26T12:00:00", False),  # 13:00
    ],
)
def test_a_scheduled_dnd_window_crosses_midnight_in_the_users_time_zone(utc, active):
    assert NIGHT.active_at(at(utc)) is active


def test_the_same_clock_time_differs_by_time_zone():
    noon_utc = at("2026-11-25T12:00:00")  # 21:00 in Tokyo, 04:00 in Los Angeles
    assert DndSchedule(startTime="20:00", endTime="22:00", timezone="Asia/Tokyo").active_at(noon_utc)
    assert not DndSchedule(startTime="20:00", endTime="22:00", timezone="America/Los_Angeles").active_at(noon_utc)
    assert DndSchedule(startTime="22:00", endTime="06:00", timezone="America/Los_Angeles").active_at(noon_utc)


def test_summer_time_moves_the_window_with_the_local_clock():
    # 21:30 UTC is 23:30 in Berlin in July (UTC+2) and 22:30 in November (UTC+1): inside both.
    window = DndSchedule(startTime="23:00", endTime="23:45", timezone="Europe/Berlin")
    assert window.active_at(at("2026-07-01T21:30:00"))
    assert not window.active_at(at("2026-11-25T21:30:00"))


def test_a_disabled_or_empty_window_is_never_active():
    assert not DndSchedule(enabled=False, startTime="00:00", endTime="23:59").active_at(at("2026-11-25T12:00:00"))
    assert not DndSchedule(startTime="09:00", endTime="09:00").active_at(at("2026-11-25T09:00:00"))


def test_levels_come_from_the_channel_override_then_the_chat_override_then_the_global_default():
    prefs = NotificationPreferences.model_validate(
        {
            "global": {"desktop": True, "sound": True, "level": "mentions_only"},
            "chatOverrides": {"project-x": {"level": "off", "sound": False, "pinned": True}},
            "channelOverrides": {"general": {"level": "all", "sound": True}},
        }
    )
    assert prefs.level_for("general", "channel") == "all"
    assert prefs.level_for("project-x", "group") == "off"
    assert prefs.level_for("dm-alice-bob", "dm") == "mentions_only"
    assert prefs.muted("project-x", "group") and prefs.pinned("project-x")
    assert NotificationPreferences().level_for("anything", "group") == "all"


def test_the_wire_form_round_trips_with_the_seeds_field_names():
    wire = {
        "global": {
            "desktop": False,
            "sound": True,
            "level": "all",
            "dndSchedule": {"enabled": True, "startTime": "22:00", "endTime": "08:00", "timezone": "Europe/Berlin"},
        },
        "chatOverrides": {"project-x": {"level": "mentions_only", "sound": True, "pinned": False}},
        "channelOverrides": {},
    }
    assert NotificationPreferences.model_validate(wire).to_wire() == wire


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"chatOverrides": {"x": {"level": "loud"}}}, "chatOverrides.x.level"),
        ({"global": {"dndSchedule": {"startTime": "25:00", "endTime": "08:00"}}}, "global.dndSchedule.startTime"),
        ({"global": {"dndSchedule": {"startTime": "22:00", "endTime": "8am"}}}, "global.dndSchedule.endTime"),
        (
            {"global": {"dndSchedule": {"startTime": "22:00", "endTime": "08:00", "timezone": "Mars/Olympus"}}},
            "global.dndSchedule.timezone",
        ),
        ({"global": {"desktop": "maybe"}}, "global.desktop"),
        ({"globl": {}}, "globl"),
        ({"channelOverrides": {"general": {"level": "all", "pinned": True}}}, "channelOverrides.general.pinned"),
    ],
)
def test_bad_input_names_the_field(document, field):
    with pytest.raises(ValidationError) as caught:
        NotificationPreferences.model_validate(document)
    locations = [".".join(str(part) for part in error["loc"]) for error in caught.value.errors()]
    assert field in locations
