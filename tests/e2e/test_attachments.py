"""Attachments end to end against `tidings dev`: an upload form from the HTTP API, the file
POSTed to the local S3 endpoint with the form's fields (multipart, as a browser sends it), the
scan (S3's ObjectCreated event to the scan function), `attachment.scanned` to the uploader, and
the message that carries it, and another member's download: 302 to a presigned GET, then the
same bytes."""

from __future__ import annotations

import asyncio

import pytest
import requests

from tests.e2e.conftest import Server
from tests.support.uploads import SCAN_TIMEOUT_SECONDS, get_without_redirect, post_file, upload_form
from tidings.attachments.scanning import EICAR
from tidings_client import ConflictError

pytestmark = pytest.mark.e2e


async def test_an_upload_is_scanned_sent_and_another_member_downloads_the_same_bytes(server: Server) -> None:
    chat_id = await server.share_chat("alice", "bob")
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    try:
        data = b"%PDF-1.7 the quarterly plan\n" * 100
        ticket = await upload_form(server, "alice", chat_id, "plan Q3 (final).pdf", data, "application/pdf")
        assert ticket["upload"]["url"].startswith("http://127.0.0.1:")
        posted = await asyncio.to_thread(post_file, ticket, "plan.pdf", data, "application/pdf")
        assert posted.status_code == 204, posted.text
        scanned = await alice.wait_for(
            "attachment.scanned",
            lambda frame: frame["payload"]["attachmentId"] == ticket["attachmentId"],
            timeout=SCAN_TIMEOUT_SECONDS,
        )
        assert scanned["payload"] == {"attachmentId": ticket["attachmentId"], "chatId": chat_id, "status": "clean"}

        url = f"{server.base_url}/api/attachments/{ticket['attachmentId']}"
        status, _ = await asyncio.to_thread(get_without_redirect, url, server.token("bob"))
        assert status == 404, "not sent yet: the uploader's alone"

        sent = await alice.send(chat_id, "the plan", attachments=[{"attachmentId": ticket["attachmentId"]}])
        expected = {
            "attachmentId": ticket["attachmentId"],
            "name": "plan Q3 (final).pdf",
            "size": len(data),
            "contentType": "application/pdf",
            "status": "clean",
        }
        assert sent["attachments"] == [expected]
        arrived = await bob.wait_for("message.new", lambda f: f["payload"]["message"]["messageId"] == sent["messageId"])
        assert arrived["payload"]["message"]["attachments"] == [expected]

        status, headers = await asyncio.to_thread(get_without_redirect, url, server.token("bob"))
        assert status == 302
        fetched = await asyncio.to_thread(requests.get, headers["location"], timeout=30)
        assert fetched.status_code == 200
        assert fetched.content == data
        assert "plan Q3 (final).pdf" in requests.utils.unquote(fetched.headers["content-disposition"])
        assert fetched.headers["content-type"] == "application/pdf"

        status, _ = await asyncio.to_thread(get_without_redirect, url, server.token("carol"))
        assert status == 403, "carol is not in the chat"
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.parametrize(
    ("sent", "content_type", "refusal"),
    [
        (b"one byte too many", "text/plain", "EntityTooLarge"),
        (b"short", "text/plain", "EntityTooSmall"),
        (b"exactly sixteen.", "text/html", "Policy Condition failed"),
    ],
)
async def test_s3_refuses_a_file_the_form_does_not_allow(
    server: Server, sent: bytes, content_type: str, refusal: str
) -> None:
    chat_id = await server.share_chat("alice", "dave")
    ticket = await upload_form(server, "alice", chat_id, "notes.txt", b"exactly sixteen.", "text/plain")
    fields = dict(ticket["upload"]["fields"])
    fields["Content-Type"] = content_type
    response = await asyncio.to_thread(
        requests.post,
        ticket["upload"]["url"],
        data=fields,
        files={"file": ("notes.txt", sent, content_type)},
        timeout=30,
    )
    assert response.status_code in (400, 403)
    assert refusal in response.text
    url = f"{server.base_url}/api/attachments/{ticket['attachmentId']}"
    status, _ = await asyncio.to_thread(get_without_redirect, url, server.token("alice"))
    assert status == 409, "nothing was stored, so nothing was scanned"


async def test_a_forged_policy_is_refused(server: Server) -> None:
    chat_id = await server.share_chat("alice", "dave")
    ticket = await upload_form(server, "alice", chat_id, "notes.txt", b"exactly sixteen.", "text/plain")
    fields = dict(ticket["upload"]["fields"])
    fields["x-amz-signature"] = "0" * 64
    response = await asyncio.to_thread(
        requests.post,
        ticket["upload"]["url"],
        data=fields,
        files={"file": ("n", b"exactly sixteen.", "text/plain")},
        timeout=30,
    )
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


async def test_the_eicar_test_file_is_flagged_infected_and_cannot_be_fetched(server: Server) -> None:
    chat_id = await server.share_chat("alice", "bob")
    alice = await server.connect("alice")
    try:
        ticket = await upload_form(server, "alice", chat_id, "eicar.com", EICAR, "application/octet-stream")
        posted = await asyncio.to_thread(post_file, ticket, "eicar.com", EICAR, "application/octet-stream")
        assert posted.status_code == 204, posted.text
        scanned = await alice.wait_for(
            "attachment.scanned",
            lambda frame: frame["payload"]["attachmentId"] == ticket["attachmentId"],
            timeout=SCAN_TIMEOUT_SECONDS,
        )
        assert scanned["payload"]["status"] == "infected"
        url = f"{server.base_url}/api/attachments/{ticket['attachmentId']}"
        status, _ = await asyncio.to_thread(get_without_redirect, url, server.token("alice"))
        assert status == 404
        with pytest.raises(ConflictError, match=r"payload\.attachments\.0\.attachmentId"):
            await alice.send(chat_id, "see this", attachments=[{"attachmentId": ticket["attachmentId"]}])
    finally:
        await alice.close()
