"""Attachments as a client uploads them to `tidings dev`: an upload form from the HTTP API, then
the file POSTed to S3 with the form's fields (multipart, as a browser sends it)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import requests

SCAN_TIMEOUT_SECONDS = 60  # a bound of failure: the scan function's cold start on a loaded machine


async def upload_form(server: Any, user: str, chat_id: str, name: str, data: bytes, content_type: str) -> dict:
    """`POST /api/chats/{chatId}/attachments` for `data`, which must answer 201: the ticket."""
    body = {"name": name, "size": len(data), "contentType": content_type}
    response = await server.rest(user).fetch("POST", f"/api/chats/{chat_id}/attachments", body)
    assert response.status == 201, response.text
    ticket: dict = response.json()
    return ticket


def post_file(ticket: dict, name: str, data: bytes, content_type: str) -> requests.Response:
    """S3's POST Object, as a browser form sends it: the fields, then the file."""
    upload = ticket["upload"]
    return requests.post(upload["url"], data=upload["fields"], files={"file": (name, data, content_type)}, timeout=30)


async def clean_upload(
    server: Any, client: Any, user: str, chat_id: str, name: str, data: bytes, content_type: str
) -> str:
    """An upload of `user`'s, scanned clean (told to `client`, `user`'s connected SDK client): its id."""
    ticket = await upload_form(server, user, chat_id, name, data, content_type)
    posted = await asyncio.to_thread(post_file, ticket, name, data, content_type)
    assert posted.status_code == 204, posted.text
    scanned = await client.wait_for(
        "attachment.scanned",
        lambda frame: frame["payload"]["attachmentId"] == ticket["attachmentId"],
        timeout=SCAN_TIMEOUT_SECONDS,
    )
    assert scanned["payload"]["status"] == "clean", scanned
    attachment_id: str = ticket["attachmentId"]
    return attachment_id


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get_without_redirect(url: str, token: str) -> tuple[int, dict[str, str]]:
    """The HTTP API's own answer to a download (`302` while the file is there), not where it leads."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with opener.open(request) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}
