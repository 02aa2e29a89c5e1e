"""The Notify pipeline on moto: toasts, grouping, push for offline users, levels, DND, urgent."""

import pytest

from tests.support.notify import NotifyWorld
from tidings.kernel.ephemeral import EphemeralModel
from tidings.messaging.models import AuditModel
from tidings.notifications.preferences import NotificationPreferences


@pytest.fixture
def world(aws):
    return NotifyWorld(online=("bob-1",))


def prefs(**document) -> NotificationPreferences:
    return NotificationPreferences.model_validate(document)


def test_an_online_recipient_gets_the_badge_then_a_toast(world):
    message = world.send("alice", "general", "lunch?")
    frames = world.posted.frames["bob-1"]
    assert [f["type"] for f in frames] == ["notification.badge", "notification.toast"]
    assert frames[1]["payload"] == {
        "id": "toast-1",
        "title": "Alice in #general",
        "body": "lunch?",
        "chatId": "general",
        "messageId": message.message_id,
        "priority": "normal",
        "timestamp": message.created_at,
        "actions": ["reply", "markRead", "mute"],
        "count": 1,
    }
    assert not world.pushed, "an online recipient is not pushed"


def test_a_toast_body_is_cut_at_100_characters(world):
    world.send("alice", "dm-alice-bob", "x" * 150)
    (toast,) = world.toasts("bob-1")
    assert toast["title"] == "Alice"
    assert len(toast["body"]) == 100 and toast["body"] == "x" * 99 + "…"


def test_rapid_messages_of_one_chat_group_into_one_toast(world):
    for n in range(3):
        world.send("alice", "general", f"m{n}")
        world.clock += 0.5
    toasts = world.toasts("bob-1")
    assert {t["id"] for t in toasts} == {"toast-1"}, "one toast, replaced as it grows"
    assert [t["count"] for t in toasts] == [1, 2, 3]
    assert toasts[-1]["title"] == "#general" and toasts[-1]["body"] == "3 new messages in #general"
    world.clock += 2.0  # the window (from the first message) is over: a new toast
    world.send("alice", "general", "later")
    assert (world.toasts("bob-1")[-1]["id"], world.toasts("bob-1")[-1]["count"]) == ("toast-2", 1)


def test_messages_sent_together_group_however_slowly_they_are_handled(world):
    sent = [world.store("alice", "general", f"m{n}") for n in range(3)]  # within one second
    for message in sent:
        world.notifications.message_arrived(message)
        world.clock += 3.0  # a loaded consumer: each handled 3 s after the last
    assert [(t["id"], t["count"]) for t in world.toasts("bob-1")] == [("toast-1", 1), ("toast-1", 2), ("toast-1", 3)]


def test_messages_sent_apart_stay_apart_when_a_backlog_handles_them_together(world):
    sent = []
    for n in range(2):
        sent.append(world.store("alice", "general", f"m{n}"))
        world.clock += 5.0
    for message in sent:  # a consumer catching up handles both at once
        world.notifications.message_arrived(message)
    assert [t["count"] for t in world.toasts("bob-1")] == [1, 1]


def test_groups_are_per_chat_and_expire_by_ttl(world):
    world.send("alice", "general")
    world.send("alice", "dm-alice-bob")
    assert [t["count"] for t in world.toasts("bob-1")] == [1, 1]
    assert EphemeralModel.get("toast#bob#general").expires_at is not None


def test_an_offline_recipient_is_pushed_with_the_badge_total(world):
    message = world.send("bob", "project-x", "deploy done")
    carol = next(p for p in world.pushed if p.user_id == "carol")
    assert (carol.title, carol.body, carol.message_id, carol.total_unread) == (
        "Bob in project-x",
        "deploy done",
        message.message_id,
        1,
    )


def test_mentions_only_badges_silently_unless_mentioned(world):
    world.preferences.put("bob", prefs(chatOverrides={"project-x": {"level": "mentions_only"}}))
    world.send("alice", "project-x", "fyi")
    assert world.badges("bob-1") and not world.toasts("bob-1")
    world.send("alice", "project-x", "@bob please look")
    assert len(world.toasts("bob-1")) == 1


def test_a_channel_override_applies_to_the_channel(world):
    world.preferences.put("bob", prefs(channelOverrides={"general": {"level": "off"}}))
    world.send("alice", "general", "@bob hi")
    world.send("alice", "project-x", "hi")
    assert [t["chatId"] for t in world.toasts("bob-1")] == ["project-x"]


def test_the_global_level_is_the_default(world):
    world.preferences.put("carol", prefs(**{"global": {"level": "off"}}))
    world.send("alice", "project-x")
    assert not [p for p in world.pushed if p.user_id == "carol"]


def test_dnd_through_presence_keeps_the_badge_but_not_the_toast(world):
    world.presence["bob"] = "dnd"
    world.send("alice", "general")
    assert world.badges("bob-1") and not world.toasts("bob-1")


def test_scheduled_dnd_silences_push_in_the_window(world):
    world.clock = 1_795_651_200.0  # 2026-11-26T00:00:00Z: inside the window, past midnight
    window = {"startTime": "22:00", "endTime": "08:00", "timezone": "UTC"}
    world.preferences.put("carol", prefs(**{"global": {"dndSchedule": window}}))
    world.send("alice", "project-x")
    assert not [p for p in world.pushed if p.user_id == "carol"]
    world.clock += 10 * 3600  # 10:00: the window is over
    world.send("alice", "project-x")
    assert [p for p in world.pushed if p.user_id == "carol"]


def test_urgent_bypasses_dnd_and_mute_stands_alone_and_is_audited(world):
    world.presence["bob"] = "dnd"
    world.preferences.put("bob", prefs(channelOverrides={"general": {"level": "off"}}))
    world.send("alice", "general", "normal")
    message = world.send("alice", "general", "server down", priority="urgent")
    (toast,) = world.toasts("bob-1")
    assert (toast["priority"], toast["count"], toast["body"]) == ("urgent", 1, "server down")
    (audit,) = AuditModel.query("alice")
    assert (audit.action, audit.chat_id, audit.message_id) == ("message.urgent", "general", message.message_id)


def test_device_notifications_off_means_no_push(world):
    world.preferences.put("carol", prefs(**{"global": {"desktop": False}}))
    world.send("alice", "project-x")
    assert not [p for p in world.pushed if p.user_id == "carol"]


def test_presence_failure_degrades_to_not_dnd(world):
    world.presence.broken = True
    world.send("alice", "general")
    assert world.toasts("bob-1"), "notifications still flow without presence"
