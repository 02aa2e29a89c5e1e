"""The connection as a user lives it: going offline and back (the outbox sends what was written
meanwhile), a reload with messages still waiting, presence dots, and the "↓ New messages"
indicator when scrolled up."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_messages_written_offline_wait_greyed_and_go_out_when_back(sign_in) -> None:
    alice = sign_in("alice", chat="dm-alice-bob")
    bob = sign_in("bob", chat="dm-alice-bob")
    alice.send_and_wait("Boarding now")

    alice.network.go_offline()
    expect(alice.testid("offline-banner")).to_contain_text("You're offline. Messages will be sent when you reconnect.")
    alice.send("Written in the tunnel")
    alice.send("And a second one")
    waiting = alice.message("Written in the tunnel")
    expect(waiting).to_have_attribute("data-status", "pending")
    expect(waiting).to_have_class(re.compile(r"\bpending\b"))
    expect(waiting.get_by_test_id("receipt")).to_have_text("Sending…")
    expect(alice.testid("pending-count")).to_contain_text("2 waiting")
    expect(bob.message("Written in the tunnel")).to_have_count(0)

    alice.network.go_online()
    expect(alice.testid("offline-banner")).to_have_count(0)
    expect(waiting).to_have_attribute("data-status", "sent")
    expect(bob.message("Written in the tunnel")).to_be_visible()
    expect(bob.message("And a second one")).to_be_visible()
    expect(alice.message("And a second one")).to_have_attribute("data-status", "sent")
    # In the order written, on both sides.
    for user in (alice, bob):
        assert user.testid("message-content").all_inner_texts()[-3:] == [
            "Boarding now",
            "Written in the tunnel",
            "And a second one",
        ]


def test_a_message_still_waiting_at_a_reload_is_sent_after_it(sign_in) -> None:
    carol = sign_in("carol", chat="project-x")
    bob = sign_in("bob", chat="project-x")

    carol.network.go_offline(browser_too=False)  # the WebSocket is down, the page still loads
    carol.send("Sent from the train")
    expect(carol.message("Sent from the train")).to_have_attribute("data-status", "pending")
    carol.page.reload()  # the outbox in IndexedDB keeps it, and the page shows it waiting
    expect(carol.message("Sent from the train")).to_have_attribute("data-status", "pending")
    carol.network.go_online()
    expect(bob.message("Sent from the train")).to_be_visible()
    expect(carol.message("Sent from the train")).to_have_attribute("data-status", "sent")
    expect(carol.message("Sent from the train")).to_have_count(1)


def test_presence_dots_follow_the_other_user(sign_in) -> None:
    alice = sign_in("alice", chat="dm-alice-bob")
    bob = sign_in("bob", chat="general")
    dot = alice.chat_item("dm-alice-bob").get_by_test_id("presence-dot")
    expect(dot).to_have_attribute("data-user", "bob")
    expect(dot).to_have_attribute("data-status", "available")

    bob.context.close()  # bob closes the browser: his last connection goes
    expect(dot).to_have_attribute("data-status", "offline")
    expect(alice.testid("partner-status")).to_have_text(re.compile(r"Offline \(last seen"))


def test_new_messages_indicator_when_scrolled_up(sign_in) -> None:
    erin = sign_in("erin", chat="general")
    erin.page.set_viewport_size({"width": 1100, "height": 420})  # twelve lines overflow even a fresh chat
    dave = sign_in("dave", chat="general")
    for n in range(1, 13):
        dave.send(f"Log line {n}")
    expect(erin.message("Log line 12")).to_be_visible()
    expect(erin.testid("new-messages")).to_be_hidden()  # at the bottom: they scroll into view
    expect(erin.message("Log line 12")).to_be_in_viewport()

    erin.testid("messages").evaluate("element => element.scrollTo(0, 0)")
    expect(erin.message("Log line 12")).not_to_be_in_viewport()
    dave.send("Look at line 3")
    dave.send("Or rather line 4")
    indicator = erin.testid("new-messages")
    expect(indicator).to_have_text("↓ New messages (2)")
    expect(erin.message("Or rather line 4")).not_to_be_in_viewport()  # not scrolled to

    indicator.click()
    expect(erin.message("Or rather line 4")).to_be_in_viewport()
    expect(indicator).to_be_hidden()

    erin.testid("messages").evaluate("element => element.scrollTo(0, 0)")
    dave.send("One more")
    expect(indicator).to_have_text("↓ New messages (1)")
    erin.testid("messages").evaluate("element => element.scrollTo(0, element.scrollHeight)")
    expect(indicator).to_be_hidden()  # scrolling down dismisses it
    erin.send("Got it")  # and my own message always shows
    expect(erin.message("Got it")).to_be_in_viewport()
