"""Browser tests: the web client (`clients/web/`) in headless Chromium, driven by Playwright,
against a real `tidings dev --demo` subprocess (one for the whole folder: each test sets up what
it counts on, such as having read a chat before counting its badge, and gives back what it
changes, such as preferences).

Chromium is Debian's (`/usr/bin/chromium`, installed by `make install`; `TIDINGS_CHROMIUM`
names another): Playwright's own browser download is never used. Every user is a page in its
own browser context, so two users are two separate browsers as far as the client can tell
(their own sessionStorage, IndexedDB outbox and WebSocket).

Tests assert what a user sees, through `data-testid` elements (clients/web/README.md), with
Playwright's auto-waiting `expect` and generous timeouts: a shared 2-core machine runs the
whole backend next to the browsers.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, WebSocketRoute, expect, sync_playwright

from tests.e2e.conftest import Server, start_server, stop_server
from tests.support.frame_contract import contract

CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 45_000  # the bound of a failure, not a goal (a loaded 2-core machine)
VIEWPORT = {"width": 1100, "height": 720}

expect.set_options(timeout=TIMEOUT_MS)


def launch_chromium(playwright: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(
            f"No Chromium at {CHROMIUM}: `make install` installs Debian's chromium (or set TIDINGS_CHROMIUM)"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope, not session: the sync API runs its own event loop while it is open, and
    # the async tests that come after this folder need the thread without it.
    with sync_playwright() as playwright:
        try:
            browser = launch_chromium(playwright)
        except FileNotFoundError as missing:
            pytest.fail(str(missing))
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def server() -> Iterator[Server]:
    # A status change takes effect at most once a second instead of every 10 s.
    process, server, _ = start_server("--presence-update-interval", "1", log_name="tidings-dev-browser")
    yield server
    stop_server(process)


class Network:
    """A page's connection to the server, which a test can cut: every WebSocket goes through
    Playwright's proxy, so going offline closes the open ones and refuses new ones, and the
    browser itself reports offline (`navigator.onLine`, the `offline` event). The proxy also
    checks every frame the server sends the page against docs/asyncapi.yaml, as the e2e suite
    checks its clients' (`violations`), and hands it on."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.offline = False
        self.open: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.violations: list[str] = []
        context.route_web_socket(re.compile(r"/ws(\?|$)"), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        if self.offline:
            ws.close()
            return
        server_side = ws.connect_to_server()

        def check_and_forward(message: str | bytes) -> None:
            self._check(message)
            ws.send(message)  # with a handler set, Playwright no longer forwards on its own

        server_side.on_message(check_and_forward)
        self.open.append((ws, server_side))

    def _check(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            self.violations.append(f"not JSON: {message[:300]!r}")
            return
        problems = contract().problems(frame)
        if problems:
            self.violations.append(f"{json.dumps(frame, ensure_ascii=False)[:500]}\n    " + "\n    ".join(problems))

    def go_offline(self, *, browser_too: bool = True) -> None:
        """Cuts the WebSockets; `browser_too=False` keeps HTTP working (the page can reload)."""
        self.offline = True
        if browser_too:
            self.context.set_offline(True)
        for page_side, server_side in self.open:
            page_side.close()
            server_side.close()
        self.open.clear()

    def go_online(self) -> None:
        self.offline = False
        self.context.set_offline(False)


@dataclass
class User:
    """One signed-in user: a page of the web client in its own browser context."""

    user_id: str
    page: Page
    context: BrowserContext
    network: Network
    errors: list[str] = field(default_factory=list)

    def testid(self, testid: str):
        return self.page.get_by_test_id(testid)

    def open_chat(self, chat_id: str) -> None:
        self.chat_item(chat_id).click()
        self.wait_for_chat(chat_id)

    def wait_for_chat(self, chat_id: str) -> None:
        """Until the chat is on screen and the server has the focus (its `chat.focus` is acked): only
        then do its messages stop adding to the unread badge, and others' to theirs."""
        expect(self.testid("chat")).to_have_attribute("data-chat-id", chat_id)
        expect(self.testid("app")).to_have_attribute("data-server-focus", chat_id)

    def chat_item(self, chat_id: str):
        return self.page.locator(f'[data-testid="chat-item"][data-chat-id="{chat_id}"]')

    def read_all(self) -> None:
        """Opens every chat once, so no badge is left over from earlier tests."""
        for chat_id in self.testid("chat-item").evaluate_all("items => items.map(item => item.dataset.chatId)"):
            self.open_chat(chat_id)
            expect(self.chat_item(chat_id).get_by_test_id("badge")).to_have_count(0)
        expect(self.testid("total-badge")).to_be_hidden()

    def message(self, text: str):
        return self.testid("message").filter(has=self.page.get_by_test_id("message-content").filter(has_text=text))

    def send(self, text: str) -> None:
        composer = self.testid("composer")
        composer.fill(text)
        composer.press("Enter")
        expect(composer).to_have_value("")

    def send_and_wait(self, text: str) -> None:
        """Sends, then waits until the server has stored it (no longer greyed)."""
        self.send(text)
        expect(self.message(text)).to_have_attribute("data-status", "sent")


@pytest.fixture
def sign_in(browser: Browser, server: Server) -> Iterator[Callable[..., User]]:
    """`sign_in("alice", chat="dm-alice-bob")`: a new page signed in as that user (locally,
    `/?as=alice`), with that chat open. Any uncaught error in a page fails the test, and so does
    a frame the server sent a page that docs/asyncapi.yaml does not describe."""
    users: list[User] = []

    def open_page(user_id: str, chat: str | None = None) -> User:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        network = Network(context)
        page = context.new_page()
        user = User(user_id, page, context, network)
        page.on("pageerror", lambda error: user.errors.append(str(error)))
        page.goto(f"{server.base_url}/?as={user_id}" + (f"#{chat}" if chat else ""))
        expect(page.get_by_test_id("me")).to_have_attribute("data-user", user_id)
        expect(page.get_by_test_id("chat-item").first).to_be_visible()
        if chat:
            user.wait_for_chat(chat)
        users.append(user)
        return user

    yield open_page
    errors = {user.user_id: user.errors for user in users if user.errors}
    violations = [violation for user in users for violation in user.network.violations]
    for user in users:
        user.context.close()
    assert not errors, f"uncaught errors in the web client: {errors}"
    assert not violations, "server frames that docs/asyncapi.yaml does not describe:\n" + "\n".join(violations)


@pytest.fixture
def restore_prefs(server: Server) -> Iterator[Callable[[str], None]]:
    """`restore_prefs("bob")`: bob's preferences go back to the defaults after the test."""
    users: list[str] = []
    yield users.append
    for user in users:
        rest(server, "PUT", "/api/prefs", user, {})


def eventually(check: Callable[[], bool], timeout: float = TIMEOUT_MS / 1000, what: str = "the condition") -> None:
    """Polls `check` (a server-side look) until it holds; the UI may show a change first."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(0.2)


def rest(server: Server, method: str, path: str, user: str, body: dict | None = None) -> dict:
    """A REST call as `user` (a token from `tidings token`), for checking what the server stored."""
    request = urllib.request.Request(
        f"{server.base_url}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token(user)}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")
