"""Badges, toasts (and their actions), do not disturb and the notification preferences, as
the people receiving them see them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import eventually, rest

pytestmark = pytest.mark.browser


def test_unread_and_mention_badges_and_the_total_clear_when_the_chat_is_read(sign_in, server) -> None:
    bob = sign_in("bob")
    bob.read_all()
    bob.open_chat("general")
    alice = sign_in("alice", chat="project-x")

    alice.send_and_wait("Can someone review the slides?")
    alice.send_and_wait("@bob especially you")
    item = bob.chat_item("project-x")
    expect(item.get_by_test_id("badge")).to_have_text("2")
    expect(item.get_by_test_id("mention-badge")).to_have_text("@1")
    expect(bob.testid("total-badge")).to_have_text("2")
    expect(bob.page).to_have_title("(2) Tidings")

    bob.open_chat("project-x")
    expect(bob.message("especially you")).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(item.get_by_test_id("badge")).to_have_count(0)
    expect(item.get_by_test_id("mention-badge")).to_have_count(0)
    expect(bob.testid("total-badge")).to_be_hidden()

    # Read on the server too: bob's next session starts without the badge.
    def stored_unread() -> int:
        return next(c["unreadCount"] for c in rest(server, "GET", "/api/chats", "bob") if c["chatId"] == "project-x")

    eventually(lambda: stored_unread() == 0, what="the stored unread count going to 0")


def test_a_toast_shows_the_message_and_mark_as_read_clears_its_badge(sign_in) -> None:
    bob = sign_in("bob", chat="dm-alice-bob")
    bob.open_chat("general")
    alice = sign_in("alice", chat="dm-alice-bob")

    alice.send("Are you around for a call?")
    toast = bob.testid("toast").filter(has_text="Are you around for a call?")
    expect(toast.get_by_test_id("toast-title")).to_have_text("Alice")
    expect(toast).to_have_attribute("data-priority", "normal")
    expect(bob.chat_item("dm-alice-bob").get_by_test_id("badge")).to_have_text("1")

    toast.get_by_test_id("toast-mark-read").click()
    expect(toast).to_have_count(0)
    expect(bob.chat_item("dm-alice-bob").get_by_test_id("badge")).to_have_count(0)
    expect(alice.message("Are you around for a call?").get_by_test_id("receipt")).to_have_text("✓✓")


def test_reply_from_a_toast_opens_the_chat_to_answer(sign_in) -> None:
    bob = sign_in("bob", chat="general")
    alice = sign_in("alice", chat="dm-alice-bob")

    alice.send("And bring the adapter")
    toast = bob.testid("toast").filter(has_text="And bring the adapter")
    toast.get_by_test_id("toast-reply").click()
    expect(bob.testid("chat")).to_have_attribute("data-chat-id", "dm-alice-bob")
    expect(bob.testid("reply-bar")).to_contain_text("Replying to Alice: And bring the adapter")
    expect(bob.testid("composer")).to_be_focused()
    bob.page.keyboard.type("Will do")
    bob.page.keyboard.press("Enter")
    expect(alice.message("Will do").get_by_test_id("reply-quote")).to_contain_text("And bring the adapter")


def test_a_normal_toast_goes_after_5_s_an_urgent_one_is_red_and_stays(sign_in) -> None:
    bob = sign_in("bob", chat="general")
    alice = sign_in("alice", chat="project-x")

    alice.testid("urgent-toggle").click()
    expect(alice.testid("urgent-toggle")).to_have_attribute("aria-pressed", "true")
    alice.send_and_wait("Prod is down")
    expect(alice.message("Prod is down")).to_have_class(re.compile(r"\burgent\b"))
    toast = bob.testid("toast").filter(has_text="Prod is down")
    expect(toast).to_have_attribute("data-priority", "urgent")
    expect(toast).to_have_class(re.compile(r"\burgent\b"))
    # A normal toast sent after it comes and goes (5 s on screen); the urgent one stays.
    expect(alice.testid("urgent-toggle")).to_have_attribute("aria-pressed", "false")  # one message only
    alice.send("Ignore the noise in the channel")
    later = bob.testid("toast").filter(has_text="Ignore the noise")
    expect(later).to_have_attribute("data-priority", "normal")
    expect(later).to_have_count(0, timeout=15_000)
    expect(toast).to_be_visible()
    toast.get_by_test_id("toast-close").click()
    expect(toast).to_have_count(0)


def test_mute_from_a_toast_silences_the_chat(sign_in, server, restore_prefs) -> None:
    restore_prefs("bob")
    bob = sign_in("bob", chat="general")
    bob.open_chat("dm-alice-bob")
    alice = sign_in("alice", chat="general")

    alice.send("Standup moved to 9:30")
    toast = bob.testid("toast").filter(has_text="Standup moved to 9:30")
    toast.get_by_test_id("toast-mute").click()
    expect(bob.chat_item("general").get_by_test_id("muted-icon")).to_be_visible()
    assert rest(server, "GET", "/api/prefs", "bob")["channelOverrides"]["general"]["level"] == "off"

    alice.send_and_wait("Standup moved again, 9:45")
    expect(bob.chat_item("general").get_by_test_id("badge")).to_have_text("2")  # badges still count
    alice.open_chat("project-x")
    alice.send("Unmuted chats still notify")  # sent after the muted one: its toast comes after
    expect(bob.testid("toast").filter(has_text="Unmuted chats still notify")).to_be_visible()
    expect(bob.testid("toast").filter(has_text="Standup moved again")).to_have_count(0)


def test_do_not_disturb_shows_a_banner_and_others_see_the_red_dot(sign_in) -> None:
    alice = sign_in("alice", chat="dm-alice-bob")
    bob = sign_in("bob", chat="dm-alice-bob")

    expect(bob.testid("partner-status")).to_have_text(re.compile("Available"))
    alice.testid("status-select").select_option("dnd")
    expect(alice.testid("dnd-banner")).to_contain_text("Do not disturb is on")
    dot = bob.testid("chat-members").get_by_test_id("presence-dot")
    expect(dot).to_have_attribute("data-status", "dnd")
    expect(bob.testid("partner-status")).to_have_text(re.compile("Do not disturb"))

    alice.testid("dnd-off").click()
    expect(alice.testid("dnd-banner")).to_have_count(0)
    expect(dot).to_have_attribute("data-status", "available")


def test_preferences_save_a_dnd_schedule_and_chat_settings(sign_in, server, restore_prefs) -> None:
    restore_prefs("bob")
    bob = sign_in("bob", chat="general")
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")

    bob.testid("prefs-button").click()
    prefs = bob.testid("prefs")
    expect(prefs).to_be_visible()
    prefs.get_by_test_id("prefs-level").select_option("mentions_only")
    prefs.get_by_test_id("prefs-dnd-enabled").check()
    prefs.get_by_test_id("prefs-dnd-start").fill(start)
    prefs.get_by_test_id("prefs-dnd-end").fill(end)
    prefs.get_by_test_id("prefs-dnd-timezone").fill("UTC")
    row = prefs.locator('[data-testid="prefs-chat"][data-chat-id="project-x"]')
    row.get_by_test_id("prefs-chat-level").select_option("off")
    row.get_by_test_id("prefs-chat-pinned").check()
    prefs.get_by_test_id("prefs-save").click()
    expect(prefs).to_be_hidden()

    expect(bob.testid("dnd-banner")).to_contain_text(f"scheduled until {end} (UTC)")
    expect(bob.chat_item("project-x").get_by_test_id("muted-icon")).to_be_visible()
    expect(bob.testid("chat-item").first).to_have_attribute("data-chat-id", "project-x")  # pinned first
    stored = rest(server, "GET", "/api/prefs", "bob")
    assert stored["global"]["level"] == "mentions_only"
    assert stored["global"]["dndSchedule"] == {"enabled": True, "startTime": start, "endTime": end, "timezone": "UTC"}
    assert stored["chatOverrides"]["project-x"] == {"level": "off", "sound": True, "pinned": True}

    # A value the server refuses is shown, and nothing is saved.
    bob.testid("prefs-button").click()
    prefs.get_by_test_id("prefs-dnd-timezone").fill("Mars/Olympus_Mons")
    prefs.get_by_test_id("prefs-save").click()
    expect(prefs.get_by_test_id("prefs-error")).to_contain_text("time zone")
    prefs.get_by_test_id("prefs-dnd-enabled").uncheck()
    prefs.get_by_test_id("prefs-dnd-timezone").fill("UTC")
    prefs.get_by_test_id("prefs-save").click()
    expect(prefs).to_be_hidden()
    expect(bob.testid("dnd-banner")).to_have_count(0)
    assert rest(server, "GET", "/api/prefs", "bob")["global"]["dndSchedule"]["enabled"] is False
