"""Attachments end to end against `tidings dev`: an upload form from the HTTP API, the file
POSTed to the local S3 endpoint with the form's fields (multipart, as a browser sends it), the
scan (S3's ObjectCreated event to the scan function), `attachment.scanned` to the uploader, and
the download: 302 to a presigned GET, then the same bytes."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Server
from tidings.attachments.scanning import EICAR

pytestmark = pytest.mark.e2e

SCAN_TIMEOUT_SECONDS = 60  # a bound of failure: the scan function's cold start on a loaded machine


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get_without_redirect(url: str, token: str) -> tuple[int, dict[str, str]]:
    """The HTTP API's own answer: the redirect itself, not where it leads."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with opener.open(request) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


async def _upload_form(server: Server, user: str, chat_id: str, name: str, data: bytes, content_type: str) -> dict:
    body = {"name": name, "size": len(data), "contentType": content_type}
    response = await server.rest(user).fetch("POST", f"/api/chats/{chat_id}/attachments", body)
    assert response.status == 201, response.text
    return response.json()


def _post_file(ticket: dict, name: str, data: bytes, content_type: str) -> requests.Response:
    """S3's POST Object, as a browser form sends it: the fields, then the file."""
    upload = ticket["upload"]
    return requests.post(upload["url"], data=upload["fields"], files={"file": (name, data, content_type)}, timeout=30)


async def test_an_upload_is_scanned_and_another_member_downloads_the_same_bytes(server: Server) -> None:
    chat_id = await server.share_chat("alice", "bob")
    alice = await server.connect("alice")
    try:
        data = b"%PDF-1.7 the quarterly plan\n" * 100
        ticket = await _upload_form(server, "alice", chat_id, "plan Q3 (final).pdf", data, "application/pdf")
        assert ticket["upload"]["url"].startswith("http://127.0.0.1:")
        posted = await asyncio.to_thread(_post_file, ticket, "plan.pdf", data, "application/pdf")
        assert posted.status_code == 204, posted.text
        scanned = await alice.wait_for(
            "attachment.scanned",
            lambda frame: frame["payload"]["attachmentId"] == ticket["attachmentId"],
            timeout=SCAN_TIMEOUT_SECONDS,
        )
        assert scanned["payload"] == {"attachmentId": ticket["attachmentId"], "chatId": chat_id, "status": "clean"}

        url = f"{server.base_url}/api/attachments/{ticket['attachmentId']}"
        status, headers = await asyncio.to_thread(_get_without_redirect, url, server.token("alice"))
        assert status == 302
        fetched = await asyncio.to_thread(requests.get, headers["location"], timeout=30)
        assert fetched.status_code == 200
        assert fetched.content == data
        assert "plan Q3 (final).pdf" in requests.utils.unquote(fetched.headers["content-disposition"])
        assert fetched.headers["content-type"] == "application/pdf"

        status, _ = await asyncio.to_thread(_get_without_redirect, url, server.token("carol"))
        assert status == 403, "carol is not in the chat"
    finally:
        await alice.close()


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
    ticket = await _upload_form(server, "alice", chat_id, "notes.txt", b"exactly sixteen.", "text/plain")
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
    status, _ = await asyncio.to_thread(_get_without_redirect, url, server.token("alice"))
    assert status == 409, "nothing was stored, so nothing was scanned"


async def test_a_forged_policy_is_refused(server: Server) -> None:
    chat_id = await server.share_chat("alice", "dave")
    ticket = await _upload_form(server, "alice", chat_id, "notes.txt", b"exactly sixteen.", "text/plain")
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
        ticket = await _upload_form(server, "alice", chat_id, "eicar.com", EICAR, "application/octet-stream")
        posted = await asyncio.to_thread(_post_file, ticket, "eicar.com", EICAR, "application/octet-stream")
        assert posted.status_code == 204, posted.text
        scanned = await alice.wait_for(
            "attachment.scanned",
            lambda frame: frame["payload"]["attachmentId"] == ticket["attachmentId"],
            timeout=SCAN_TIMEOUT_SECONDS,
        )
        assert scanned["payload"]["status"] == "infected"
        url = f"{server.base_url}/api/attachments/{ticket['attachmentId']}"
        status, _ = await asyncio.to_thread(_get_without_redirect, url, server.token("alice"))
        assert status == 404
    finally:
        await alice.close()
