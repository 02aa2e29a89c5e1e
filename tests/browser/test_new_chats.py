"""Starting conversations from the web client: a DM with someone, a new group, a public channel
found in the directory and joined, and a refusal shown rather than swallowed."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_dm_opened_from_the_web_client_reaches_the_other_user(sign_in) -> None:
    alice = sign_in("alice", chat="general")
    dave = sign_in("dave", chat="general")

    alice.testid("new-chat-button").click()
    alice.testid("new-dm-user").fill("dave")
    alice.testid("new-dm-submit").click()
    expect(alice.testid("new-chat")).to_be_hidden()
    expect(alice.testid("chat-title")).to_have_text("Dave")
    dm_id = alice.testid("chat").get_attribute("data-chat-id")
    assert dm_id and dm_id.startswith("dm-"), dm_id
    alice.wait_for_chat(dm_id)
    text = f"Hello Dave {uuid.uuid4().hex[:6]}"
    alice.send_and_wait(text)

    expect(dave.chat_item(dm_id)).to_be_visible()  # chat.added, or the message's own refresh
    dave.open_chat(dm_id)
    expect(dave.message(text).get_by_test_id("sender")).to_have_text("Alice")

    # The pair has one DM, whoever opens it: dave opening "alice" lands in the same chat.
    dave.testid("new-chat-button").click()
    dave.testid("new-dm-user").fill("@alice")
    dave.testid("new-dm-submit").click()
    dave.wait_for_chat(dm_id)


def test_a_group_created_in_the_web_client_has_its_members_and_a_public_channel_can_be_joined(sign_in) -> None:
    carol = sign_in("carol", chat="general")
    erin = sign_in("erin", chat="general")
    suffix = uuid.uuid4().hex[:6]

    carol.testid("new-chat-button").click()
    carol.testid("new-chat-name").fill(f"Offsite {suffix}")
    carol.testid("new-chat-members").fill("erin")
    carol.testid("new-chat-submit").click()
    expect(carol.testid("chat-title")).to_have_text(f"Offsite {suffix}")
    group_id = carol.testid("chat").get_attribute("data-chat-id")
    assert group_id
    expect(erin.chat_item(group_id)).to_be_visible()  # erin is a member from the start

    carol.testid("new-chat-button").click()
    carol.testid("new-chat-type").select_option("channel")
    carol.testid("new-chat-name").fill(f"launch-{suffix}")
    carol.testid("new-chat-visibility").select_option("public")
    carol.testid("new-chat-submit").click()
    expect(carol.testid("chat-title")).to_have_text(f"#launch-{suffix}")
    channel_id = carol.testid("chat").get_attribute("data-chat-id")
    assert channel_id
    expect(erin.chat_item(channel_id)).to_have_count(0)  # a channel one is not in yet

    erin.testid("new-chat-button").click()
    erin.testid("channel-query").fill(f"launch-{suffix}")
    found = erin.page.locator(f'[data-testid="channel-item"][data-chat-id="{channel_id}"]')
    found.get_by_test_id("channel-join").click()
    erin.wait_for_chat(channel_id)
    erin.send_and_wait(f"joined {suffix}")
    carol_sees = carol.message(f"joined {suffix}")
    expect(carol_sees.get_by_test_id("sender")).to_have_text("Erin")


def test_a_refused_chat_says_why_in_the_dialog(sign_in) -> None:
    bob = sign_in("bob", chat="general")
    bob.testid("new-chat-button").click()
    bob.testid("new-dm-user").fill(f"nobody-{uuid.uuid4().hex[:6]}")
    bob.testid("new-dm-submit").click()
    error = bob.testid("new-chat-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(bob.testid("new-chat")).to_be_visible()  # still open, to correct the id
    bob.testid("new-chat-close").click()
    expect(bob.testid("new-chat")).to_be_hidden()
    expect(bob.testid("chat")).to_have_attribute("data-chat-id", "general")
