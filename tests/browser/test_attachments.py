"""Attachments in the web client: files chosen with the composer's 📎 are uploaded (the SDK's
`upload`: the form, the POST to the local S3 endpoint, the scan), sent with the message, and
shown to another member: an image inline (fetched with the token through `GET
/api/attachments/{id}`, 302 to S3, as a blob URL), another file as a download link; an infected
upload is shown as such and never sent."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import rest
from tidings.attachments.scanning import EICAR

pytestmark = pytest.mark.browser

BLOB_URL = re.compile(r"^blob:")
# A 1x1 PNG: an <img> that decodes it has a natural width of 1.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def _new_group(server, *members: str) -> str:
    """A group of its own (alice's, with `members`): the images posted here are in no other
    test's chat (one asserts that a chat shows no <img> at all)."""
    body = {"type": "group", "name": f"Files {uuid.uuid4().hex[:6]}", "members": list(members)}
    chat_id: str = rest(server, "POST", "/api/chats", "alice", body)["chat"]["chatId"]
    return chat_id


def test_an_uploaded_image_is_seen_inline_by_another_member_and_a_file_as_a_link(sign_in, server) -> None:
    chat_id = _new_group(server, "bob")
    alice = sign_in("alice", chat=chat_id)
    bob = sign_in("bob", chat=chat_id)
    notes = f"notes-{uuid.uuid4().hex[:6]}.txt"

    alice.testid("attach-input").set_input_files(
        [
            {"name": "dot.png", "mimeType": "image/png", "buffer": PNG},
            {"name": notes, "mimeType": "text/plain", "buffer": b"the plan, in words\n"},
        ]
    )
    uploads = alice.testid("upload")
    expect(uploads).to_have_count(2)
    expect(alice.page.locator('[data-testid="upload"][data-name="dot.png"]')).to_have_attribute("data-state", "clean")
    expect(alice.page.locator(f'[data-testid="upload"][data-name="{notes}"]')).to_have_attribute("data-state", "clean")
    expect(alice.testid("send")).to_be_enabled()

    caption = f"The dot {uuid.uuid4().hex[:6]}"
    alice.send_and_wait(caption)
    expect(alice.testid("uploads")).to_be_hidden()  # sent: the composer's uploads are gone

    seen = bob.message(caption)
    image = seen.get_by_test_id("attachment-image")
    expect(image).to_have_attribute("src", BLOB_URL)
    expect(image).to_have_attribute("alt", "dot.png")
    bob.page.wait_for_function("img => img.complete && img.naturalWidth === 1", arg=image.element_handle())
    link = seen.get_by_test_id("attachment-link")
    expect(link).to_have_text(notes)
    with bob.page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == notes
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == b"the plan, in words\n"
    # The sender sees the same (her own message's image, fetched as the uploader and member).
    expect(alice.message(caption).get_by_test_id("attachment-image")).to_have_attribute("src", BLOB_URL)


def test_an_infected_upload_is_shown_as_such_and_not_sent(sign_in, server) -> None:
    alice = sign_in("alice", chat=_new_group(server))
    alice.testid("attach-input").set_input_files({"name": "eicar.txt", "mimeType": "text/plain", "buffer": EICAR})
    upload = alice.testid("upload")
    expect(upload).to_have_attribute("data-state", "infected")
    expect(upload.get_by_test_id("upload-state")).to_contain_text("Infected")

    text = f"No virus here {uuid.uuid4().hex[:6]}"
    alice.send_and_wait(text)
    expect(alice.message(text).get_by_test_id("attachment")).to_have_count(0)
    expect(upload).to_have_count(1)  # still shown, with its reason, until removed
    upload.get_by_test_id("upload-remove").click()
    expect(alice.testid("uploads")).to_be_hidden()
