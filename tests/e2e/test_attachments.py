"""Attachments end to end against `tidings dev`: an upload form from the HTTP API, the file
POSTed to the local S3 endpoint with the form's fields (multipart, as a browser sends it), the
scan (S3's ObjectCreated event to the scan function), `attachment.scanned` to the uploader, and
the message that carries it, and another member's download: 302 to a presigned GET, then the
same bytes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import requests

from tests.e2e.conftest import Server
from tests.support.searching import search_until
from tests.support.uploads import SCAN_TIMEOUT_SECONDS, clean_upload, get_without_redirect, post_file, upload_form
from tidings.attachments.scanning import EICAR
from tidings_client import ConflictError, InfectedError

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


async def _sent_file(server: Server, chat_id: str, name: str, data: bytes, content: str) -> tuple[dict, str]:
    """alice's message to `chat_id` carrying `data` as `name`, scanned clean: the message and
    its attachment's download address."""
    alice = await server.connect("alice")
    try:
        attachment_id = await clean_upload(server, alice, "alice", chat_id, name, data, "text/plain")
        message = await alice.send(chat_id, content, attachments=[{"attachmentId": attachment_id}])
    finally:
        await alice.close()
    return message, f"{server.base_url}/api/attachments/{attachment_id}"


async def test_a_removed_member_is_refused_the_download(server: Server) -> None:
    chat_id = (await server.rest("alice").create_chat("group", "Files, then a removal", ["bob"]))["chatId"]
    _, url = await _sent_file(server, chat_id, "minutes.txt", b"the minutes\n" * 10, "the minutes")
    status, _ = await asyncio.to_thread(get_without_redirect, url, server.token("bob"))
    assert status == 302, "bob may fetch it while he is a member"

    await server.rest("alice").remove_member(chat_id, "bob")
    status, headers = await asyncio.to_thread(get_without_redirect, url, server.token("bob"))
    assert status == 403
    assert "location" not in headers


async def test_has_file_and_the_files_scope_find_the_file_by_name_for_members_only(server: Server) -> None:
    chat_id = (await server.rest("alice").create_chat("group", "Files to find", ["bob"]))["chatId"]
    word = f"zq{uuid.uuid4().hex[:10]}"
    name = f"{word}-roadmap.txt"
    message, _ = await _sent_file(server, chat_id, name, b"the roadmap\n" * 10, "the plan, attached")
    bob, carol = await server.connect("bob"), await server.connect("carol")
    try:
        # Only the file's name holds the word: the message's text does not.
        payload = await search_until(bob, f"{word} has:file", lambda p: p["total"] >= 1, scope="messages")
        assert [r["message"]["messageId"] for r in payload["results"]] == [message["messageId"]]
        files = await search_until(bob, word, lambda p: p["total"] >= 1, scope="files")
        assert files["total"] == 1
        file = files["results"][0]["file"]
        assert (file["name"], file["messageId"], file["chatId"]) == (name, message["messageId"], chat_id)

        # carol is in no chat of it: the same searches, once indexed, find nothing for her.
        assert (await carol.search(f"{word} has:file", scope="messages"))["total"] == 0
        assert (await carol.search(word, scope="files"))["total"] == 0
        assert (await carol.search(word))["total"] == 0
    finally:
        await bob.close()
        await carol.close()


async def test_a_deleted_messages_file_is_gone(server: Server) -> None:
    chat_id = (await server.rest("alice").create_chat("group", "A file, then a delete", ["bob"]))["chatId"]
    data = b"soon gone\n" * 10
    message, url = await _sent_file(server, chat_id, "draft.txt", data, "a draft")
    status, headers = await asyncio.to_thread(get_without_redirect, url, server.token("bob"))
    assert status == 302
    presigned = headers["location"]
    fetched = await asyncio.to_thread(requests.get, presigned, timeout=30)
    assert (fetched.status_code, fetched.content) == (200, data)

    alice = await server.connect("alice")
    try:
        deleted = await alice.delete(message["messageId"])
        assert deleted["messageId"] == message["messageId"]
    finally:
        await alice.close()
    for user in ("alice", "bob"):
        status, _ = await asyncio.to_thread(get_without_redirect, url, server.token(user))
        assert status == 404, user
    # The URL handed out before the delete is still signed and unexpired: the object itself is
    # gone, which S3 tells a signer that may not list the bucket as 403 AccessDenied.
    again = await asyncio.to_thread(requests.get, presigned, timeout=30)
    assert again.status_code == 403, again.text
    assert "AccessDenied" in again.text and "s3:ListBucket" in again.text
    assert data not in again.content


async def test_the_sdk_uploads_waits_for_the_scan_and_the_file_is_sent(server: Server) -> None:
    chat_id = (await server.rest("alice").create_chat("group", "SDK uploads", ["bob"]))["chatId"]
    alice = await server.connect("alice", api_url=server.base_url)
    try:
        data = b"through the SDK\n" * 4096
        seen: list[tuple[int, int]] = []
        attachment_id = await alice.upload(
            chat_id, data, name="sdk.txt", progress=lambda sent, total: seen.append((sent, total))
        )
        assert seen and seen[-1][0] == seen[-1][1] > len(data)
        sent = await alice.send(chat_id, "via the SDK", attachments=[{"attachmentId": attachment_id}])
        assert sent["attachments"][0]["contentType"] == "text/plain"
        url = f"{server.base_url}/api/attachments/{attachment_id}"
        status, headers = await asyncio.to_thread(get_without_redirect, url, server.token("bob"))
        assert status == 302
        assert (await asyncio.to_thread(requests.get, headers["location"], timeout=30)).content == data

        with pytest.raises(InfectedError):
            await alice.upload(chat_id, EICAR, name="eicar.com", timeout=SCAN_TIMEOUT_SECONDS)
    finally:
        await alice.close()
