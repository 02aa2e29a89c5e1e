"""Signing in: the local sign-in page, `?token=`, `#chatId`, and tokens the server refuses."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.e2e.conftest import Server
from tidings.sessions.tokens import issue_token
from tidings_local.keys import dev_signing_key

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the web client: {errors}"


def test_the_sign_in_page_lists_the_local_users(page, server: Server) -> None:
    page.goto(f"{server.base_url}/")
    users = page.get_by_test_id("signin-user")
    expect(users).to_have_count(5)
    expect(users.first).to_contain_text("Alice")
    page.locator('[data-testid="signin-user"][data-user="carol"]').click()
    expect(page.get_by_test_id("me")).to_have_text("Carol")
    # The demo's chats of carol's (other tests of this package's server may add more).
    for chat_id in ("project-x", "general"):
        expect(page.locator(f'[data-testid="chat-item"][data-chat-id="{chat_id}"]')).to_be_visible()
    expect(page.locator('[data-testid="chat-item"][data-chat-id="dm-alice-bob"]')).to_have_count(0)

    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signin-message")).to_have_text("You signed out.")
    page.reload()
    expect(page.get_by_test_id("signin")).to_be_visible()  # the session is gone with the sign-out


def test_a_token_in_the_address_signs_in_and_leaves_the_address(page, server: Server) -> None:
    page.goto(f"{server.base_url}/?token={server.token('dave')}#general")
    expect(page.get_by_test_id("me")).to_have_text("Dave")
    expect(page.get_by_test_id("chat")).to_have_attribute("data-chat-id", "general")
    assert "token=" not in page.url
    assert page.url.endswith("/#general")
    page.reload()  # the tab keeps its session
    expect(page.get_by_test_id("me")).to_have_text("Dave")


def test_the_token_form_on_the_sign_in_page(page, server: Server) -> None:
    page.goto(f"{server.base_url}/")
    page.get_by_test_id("token-input").fill(server.token("erin"))
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("me")).to_have_text("Erin")


def test_an_expired_or_broken_token_brings_back_the_sign_in_page(page, server: Server) -> None:
    expired = issue_token("bob", dev_signing_key(), ttl_seconds=60, now=time.time() - 3600)
    page.goto(f"{server.base_url}/?token={expired}")
    expect(page.get_by_test_id("signin-message")).to_have_text("Your session has ended: sign in again.")

    page.goto(f"{server.base_url}/?token=not-a-jwt")
    expect(page.get_by_test_id("signin-message")).to_have_text("That token names no user")


def test_an_unknown_chat_in_the_address_says_so(page, server: Server) -> None:
    page.goto(f"{server.base_url}/?as=erin#project-x")  # erin is not in project-x
    expect(page.get_by_test_id("no-chat")).to_have_text("That chat is not in your list.")
