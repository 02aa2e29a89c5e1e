"""Screenshots of the web client's main views, for the docs: `make screenshots`.

Starts `tidings dev --demo`, has a few demo users talk in their own browsers (Debian's
Chromium, as the browser tests use it), and writes docs/screenshots/*.png:

- chat.png: the chat list with badges and presence, an open group chat with reactions, a
  reply, receipts and someone typing;
- toasts.png: toasts stacked bottom right (one urgent) with their actions;
- search.png: search results with highlights, and the operators;
- preferences.png: the notification preferences and the DND schedule.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT, launch_chromium
from tests.e2e.conftest import start_server, stop_server

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAX_BYTES = 1024 * 1024


def _page(browser: Browser, base_url: str, user: str, chat: str) -> Page:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base_url}/?as={user}#{chat}")
    expect(page.get_by_test_id("chat")).to_have_attribute("data-chat-id", chat)
    return page


def _send(page: Page, text: str, *, urgent: bool = False) -> None:
    if urgent:
        page.get_by_test_id("urgent-toggle").click()
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("composer").press("Enter")
    message = page.get_by_test_id("message").filter(has_text=text).last
    expect(message).to_have_attribute("data-status", "sent")


def _close_toasts(page: Page) -> None:
    toasts = page.get_by_test_id("toast")
    while toasts.count():
        toasts.first.get_by_test_id("toast-close").click()
    expect(toasts).to_have_count(0)


def _shot(page: Page, name: str) -> Path:
    page.mouse.move(0, 0)  # no hover effects
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes; keep screenshots under {MAX_BYTES}")
    print(f"wrote {path.relative_to(OUT.parents[1])} ({size // 1024} KiB)")
    return path


def take(browser: Browser, base_url: str) -> None:
    alice = _page(browser, base_url, "alice", "project-x")
    bob = _page(browser, base_url, "bob", "project-x")
    carol = _page(browser, base_url, "carol", "project-x")

    _send(alice, "Morning! The quarterly budget draft is in the shared folder.")
    _send(bob, "Thanks @alice, I'll go through the numbers today.")
    _send(carol, "Can we review it before Thursday's planning meeting?")
    first = bob.get_by_test_id("message").filter(has_text="quarterly budget").first
    first.hover()
    first.get_by_test_id("react-button").click()
    bob.locator('[data-testid="emoji"][data-emoji="👍"]').click()
    latest = alice.get_by_test_id("message").filter(has_text="before Thursday")
    latest.hover()
    latest.get_by_test_id("reply-button").click()
    _send(alice, "Yes: Wednesday 14:00 works for me.")
    expect(alice.get_by_test_id("receipt").last).to_have_text("Seen by 2")
    dave = _page(browser, base_url, "dave", "general")
    _send(dave, "Reminder: all-hands at 16:00 in the big room.")
    bob.get_by_test_id("composer").press_sequentially("I think the travel line is", delay=20)
    expect(alice.get_by_test_id("typing")).to_have_text("Bob is typing…")
    _close_toasts(alice)
    _shot(alice, "chat")

    # Toasts: alice looks at general while others write to her elsewhere.
    alice.get_by_test_id("chat-item").filter(has_text="general").click()
    _send(bob, "Budget numbers look fine, one question on travel.")
    bob.get_by_test_id("chat-item").filter(has_text="Alice").click()
    _send(bob, "Lunch at 12:30?")
    _send(carol, "The build server is down, can you check?", urgent=True)
    expect(alice.get_by_test_id("toast")).to_have_count(3)
    expect(alice.get_by_test_id("toast").filter(has_text="build server")).to_have_attribute("data-priority", "urgent")
    _shot(alice, "toasts")
    _close_toasts(alice)

    alice.keyboard.press("Control+e")
    box = alice.get_by_test_id("search")
    for _ in range(10):
        box.fill("budget")
        box.press("Enter")
        try:
            expect(alice.get_by_test_id("search-result").first).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            continue
    box.fill("")
    box.press_sequentially("bud", delay=50)
    expect(alice.get_by_test_id("suggestion").filter(has_text="numbers look fine")).to_be_visible()
    _shot(alice, "search")
    alice.get_by_test_id("search-close").click()

    alice.get_by_test_id("prefs-button").click()
    prefs = alice.get_by_test_id("prefs")
    prefs.get_by_test_id("prefs-dnd-enabled").check()
    prefs.get_by_test_id("prefs-dnd-timezone").fill("Europe/Berlin")
    prefs.locator('[data-testid="prefs-chat"][data-chat-id="general"]').get_by_test_id(
        "prefs-chat-level"
    ).select_option("mentions_only")
    _shot(alice, "preferences")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    process, server, _ = start_server(log_name="tidings-dev-screenshots")
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                take(browser, server.base_url)
            finally:
                browser.close()
    finally:
        stop_server(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
