"""Search as a user does it: Ctrl+E, suggestions while typing, Enter, highlighted results that
open the message, the query operators, and highlights that stay text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import User

pytestmark = pytest.mark.browser


def _search_until_found(user: User, query: str, expected: int = 1) -> None:
    """Runs the query until the results show `expected` hits: a message becomes searchable
    within 2 s of its ack, so a search right after sending may run before it is indexed."""
    box = user.testid("search")
    for _ in range(10):
        box.fill(query)
        box.press("Enter")
        total = user.testid("search-total")
        try:
            expect(total).to_have_text(f"{expected} result{'' if expected == 1 else 's'}", timeout=3_000)
            return
        except AssertionError:
            continue
    expect(user.testid("search-total")).to_have_text(f"{expected} result{'' if expected == 1 else 's'}")


def test_ctrl_e_suggests_while_typing_and_a_result_opens_the_message(sign_in) -> None:
    alice = sign_in("alice", chat="general")
    bob = sign_in("bob", chat="dm-alice-bob")
    alice.send_and_wait("The zebrafish budget is approved")

    bob.page.keyboard.press("Control+e")
    box = bob.testid("search")
    expect(box).to_be_focused()
    suggestion = bob.testid("suggestion").filter(has_text="zebrafish budget")
    for _ in range(10):  # typing on, as someone waiting for the message to be indexed would
        box.fill("")
        box.press_sequentially("zebraf", delay=30)
        try:
            expect(suggestion).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            continue
    expect(suggestion.locator("mark")).to_have_text(re.compile("zebraf", re.IGNORECASE))

    _search_until_found(bob, "zebrafish")
    result = bob.testid("search-result").filter(has_text="zebrafish")
    expect(result.locator("mark")).to_have_text("zebrafish")
    expect(result).to_contain_text("Alice in #general")
    result.click()
    expect(bob.testid("search-results")).to_be_hidden()
    expect(bob.testid("chat")).to_have_attribute("data-chat-id", "general")
    expect(bob.message("zebrafish budget")).to_be_in_viewport()


def test_operators_narrow_the_results(sign_in) -> None:
    alice = sign_in("alice", chat="project-x")
    carol = sign_in("carol", chat="project-x")
    alice.send_and_wait("quokka sighting near the office")
    carol.send_and_wait("another quokka at lunch")

    _search_until_found(carol, "quokka", expected=2)
    _search_until_found(carol, "quokka from:alice", expected=1)
    expect(carol.testid("search-result")).to_contain_text("quokka sighting")
    _search_until_found(carol, '"quokka at lunch"', expected=1)
    _search_until_found(carol, "quokka in:general", expected=0)
    carol.testid("search").fill("quokka before:2026-13-01")
    carol.testid("search").press("Enter")
    expect(carol.testid("search-error")).to_contain_text("before:2026-13-01 is not a date")


def test_highlights_show_message_html_as_text(sign_in) -> None:
    alice = sign_in("alice", chat="general")
    erin = sign_in("erin", chat="general")
    alice.send_and_wait('<img src=x onerror="window.__pwned=1"> axolotl & friends')

    _search_until_found(erin, "axolotl")
    fragment = erin.testid("search-result").get_by_test_id("search-fragment")
    expect(fragment).to_contain_text('<img src=x onerror="window.__pwned=1"> axolotl & friends')
    expect(fragment.locator("mark")).to_have_text("axolotl")
    expect(erin.testid("search-results").locator("img")).to_have_count(0)
    assert erin.page.evaluate("window.__pwned") is None


def test_people_and_channels_come_up_too(sign_in) -> None:
    dave = sign_in("dave", chat="general")
    dave.testid("search").fill("gen")
    dave.testid("search").press("Enter")
    channel = dave.testid("search-result").filter(has_text="general")
    expect(channel).to_have_attribute("data-type", "channel")
    expect(channel.locator("mark")).to_have_text(re.compile("gen", re.IGNORECASE))
    dave.testid("scope-people").click()
    dave.testid("search").fill("car")
    dave.testid("search").press("Enter")
    person = dave.testid("search-result").filter(has_text="Carol")
    expect(person).to_have_attribute("data-type", "person")
