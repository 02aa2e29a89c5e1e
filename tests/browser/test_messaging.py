"""Two (or more) users in their own browsers: messages, receipts, typing, reactions, edits,
deletes, replies, and content that must never be taken for HTML."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import User, rest

pytestmark = pytest.mark.browser


def _server_unread(server, user_id: str, chat_id: str) -> int:
    """The user's unread count of the chat as the server stores it (`GET /api/chats`)."""
    request = urllib.request.Request(
        f"{server.base_url}/api/chats", headers={"Authorization": f"Bearer {server.token(user_id)}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        chats = json.load(answer)
    return next(chat["unreadCount"] for chat in chats if chat["chatId"] == chat_id)


def test_a_message_reaches_the_other_user_and_its_receipt_turns_read(sign_in, server) -> None:
    alice = sign_in("alice", chat="dm-alice-bob")
    bob = sign_in("bob", chat="dm-alice-bob")
    # Another test of this package's server may have left bob a message of the DM unread: opening
    # the DM reads it, and the count starts from 0 only once the server has that read (the page
    # shows 0 at once, optimistically, while the SDK holds the read mark up to a second).
    deadline = time.monotonic() + 30
    while _server_unread(server, "bob", "dm-alice-bob") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _server_unread(server, "bob", "dm-alice-bob") == 0, "bob's opening the DM read it"
    bob.open_chat("general")  # looking elsewhere: alice's message stays unread

    alice.send("Lunch at noon?")
    mine = alice.message("Lunch at noon?")
    expect(mine).to_have_attribute("data-status", "sent")
    expect(mine.get_by_test_id("receipt")).to_have_text("✓")  # delivered, not read
    expect(bob.chat_item("dm-alice-bob").get_by_test_id("badge")).to_have_text("1")

    bob.open_chat("dm-alice-bob")
    expect(bob.message("Lunch at noon?").get_by_test_id("sender")).to_have_text("Alice")
    expect(mine.get_by_test_id("receipt")).to_have_text("✓✓")  # bob read it
    expect(mine.get_by_test_id("receipt")).to_have_attribute("data-state", "read")
    expect(bob.chat_item("dm-alice-bob").get_by_test_id("badge")).to_have_count(0)


def test_a_group_message_says_how_many_have_seen_it(sign_in) -> None:
    alice = sign_in("alice", chat="project-x")
    bob = sign_in("bob", chat="general")
    carol = sign_in("carol", chat="general")

    alice.send_and_wait("Draft is in the folder")
    receipt = alice.message("Draft is in the folder").get_by_test_id("receipt")
    expect(receipt).to_have_text("✓")
    bob.open_chat("project-x")
    expect(receipt).to_have_text("Seen by 1")
    carol.open_chat("project-x")
    expect(receipt).to_have_text("Seen by 2")
    expect(receipt).to_have_attribute("title", re.compile(r"Seen by (Bob, Carol|Carol, Bob)"))


def _keep_typing(*users: User, until, text) -> None:
    """Each user presses a key (people keep typing; the client sends typing.start at most every
    3 s and typing.stop after 3 s without a key) until `until` shows `text`."""
    for _ in range(20):
        for user in users:
            user.testid("composer").press_sequentially("a")
        try:
            expect(until).to_have_text(text, timeout=2_000)
            return
        except AssertionError:
            continue
    expect(until).to_have_text(text)


def test_typing_indicator_names_one_two_then_several(sign_in) -> None:
    erin = sign_in("erin", chat="general")
    alice = sign_in("alice", chat="general")
    bob = sign_in("bob", chat="general")
    carol = sign_in("carol", chat="general")
    typing = erin.testid("typing")

    _keep_typing(alice, until=typing, text="Alice is typing…")
    _keep_typing(alice, bob, until=typing, text=re.compile(r"^(Alice and Bob|Bob and Alice) are typing…$"))
    _keep_typing(alice, bob, carol, until=typing, text="Several people are typing…")

    alice.testid("composer").fill("")  # cleared: alice stops typing at once
    _keep_typing(bob, carol, until=typing, text=re.compile(r"^(Bob and Carol|Carol and Bob) are typing…$"))
    bob.send("done")  # a sent message ends bob's typing
    _keep_typing(carol, until=typing, text="Carol is typing…")
    carol.testid("composer").fill("")
    expect(typing).to_have_text("")


def test_reactions_edits_replies_and_deletes_show_on_both_sides(sign_in) -> None:
    alice = sign_in("alice", chat="dm-alice-bob")
    bob = sign_in("bob", chat="dm-alice-bob")

    alice.send_and_wait("The deploy went out")
    theirs = bob.message("The deploy went out")
    theirs.hover()
    theirs.get_by_test_id("react-button").click()
    bob.page.locator('[data-testid="emoji"][data-emoji="🎉"]').click()
    expect(alice.message("The deploy went out").get_by_test_id("reaction")).to_have_text("🎉 1")
    expect(theirs.get_by_test_id("reaction")).to_have_class(re.compile(r"\bmine\b"))

    mine = alice.message("The deploy went out")
    mine.hover()
    mine.get_by_test_id("edit-button").click()
    alice.testid("edit-input").fill("The deploy went out at 10:02")
    alice.testid("edit-input").press("Enter")
    edited = bob.message("The deploy went out at 10:02")
    expect(edited.get_by_test_id("edited")).to_be_visible()
    expect(edited.get_by_test_id("reaction")).to_have_text("🎉 1")  # an edit keeps the reactions

    edited.hover()
    edited.get_by_test_id("reply-button").click()
    expect(bob.testid("reply-bar")).to_contain_text("Replying to Alice")
    bob.send("Nice, no alarms")
    reply = alice.message("Nice, no alarms")
    expect(reply.get_by_test_id("reply-quote")).to_contain_text("Alice: The deploy went out at 10:02")

    mine = alice.message("The deploy went out at 10:02")
    mine.hover()
    mine.get_by_test_id("delete-button").click()
    alice.testid("confirm-delete-yes").click()
    deleted = bob.testid("message").filter(has_text="This message was deleted.")
    expect(deleted).to_have_count(1)
    expect(bob.message("The deploy went out")).to_have_count(0)
    expect(reply.get_by_test_id("reply-quote")).to_contain_text("Message deleted")


def test_html_in_messages_is_shown_as_text_never_run(sign_in) -> None:
    alice = sign_in("alice", chat="project-x")
    bob = sign_in("bob", chat="project-x")
    hostile = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script> <b>bold</b> &amp;'

    alice.send(hostile)
    content = bob.message("<img src=x").get_by_test_id("message-content")
    expect(content).to_have_text(hostile)
    expect(bob.testid("messages").locator("img, script, b")).to_have_count(0)
    expect(bob.chat_item("project-x")).to_contain_text("<img src=x")  # the chat list's preview is text too
    expect(bob.testid("chat-list").locator("img, script, b")).to_have_count(0)
    assert bob.page.evaluate("window.__pwned") is None
    assert alice.page.evaluate("window.__pwned") is None


def test_a_chat_summary_shows_how_many_messages_are_on_their_way_until_they_land(sign_in, server) -> None:
    """`chat.summary` comes only from a big chat under a flood (over 500 connections), so the
    frame is handed to alice's page by the test's WebSocket proxy; the messages it counts are
    then really written, by bob, and their arrival clears the count."""
    alice = sign_in("alice", chat="project-x")
    bob = sign_in("bob", chat="project-x")
    head = next(chat["headSeq"] for chat in rest(server, "GET", "/api/chats", "alice") if chat["chatId"] == "project-x")
    summary = {
        "type": "chat.summary",
        "id": str(uuid.uuid4()),
        "timestamp": "2026-12-02T10:00:00.000Z",
        "payload": {"chatId": "project-x", "newMessages": 2, "lastSeq": head + 2},
    }
    page_side, _ = alice.network.open[-1]
    page_side.send(json.dumps(summary))
    expect(alice.testid("summary-banner")).to_have_text("2 new messages: catching up…")
    expect(alice.chat_item("project-x").get_by_test_id("summary-badge")).to_have_text("+2")

    tag = uuid.uuid4().hex[:6]
    bob.send_and_wait(f"flood {tag} 1")
    expect(alice.message(f"flood {tag} 1")).to_be_visible()
    expect(alice.testid("summary-banner")).to_be_visible()  # seq head + 1: one still on its way
    bob.send_and_wait(f"flood {tag} 2")
    expect(alice.message(f"flood {tag} 2")).to_be_visible()
    expect(alice.testid("summary-banner")).to_be_hidden()
    expect(alice.chat_item("project-x").get_by_test_id("summary-badge")).to_have_count(0)
