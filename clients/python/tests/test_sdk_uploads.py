"""`RestClient.upload_attachment` against a small local HTTP server standing in for the HTTP API
and S3: the form's fields, then the file, as multipart; progress to the last byte; S3's and the
API's refusals raised with their codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tidings_client import HttpError, RestClient, UploadRefusedError

FIELDS = {"key": "uploads/a-1", "Content-Type": "text/plain", "policy": "cG9saWN5", "x-amz-signature": "ab12"}
TOO_LARGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>'
    b"<Message>Your proposed upload exceeds the maximum allowed size</Message></Error>"
)


class Handler(BaseHTTPRequestHandler):
    base = ""
    forms: list[Any] = []
    posts: list[tuple[str, bytes]] = []  # (Content-Type, body) of each S3 POST

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/api/chats/"):
            Handler.forms.append(json.loads(body))
            if self.path == "/api/chats/busy/attachments":
                return self._answer(429, {"error": {"code": "RATE_LIMITED", "message": "slow down"}}, retry="6")
            s3 = "/s3/refuses" if self.path == "/api/chats/refused/attachments" else "/s3/stores"
            ticket = {"attachmentId": "a-1", "upload": {"url": Handler.base + s3, "fields": FIELDS}, "expiresAt": "x"}
            return self._answer(201, ticket)
        Handler.posts.append((self.headers["Content-Type"], body))
        if self.path == "/s3/refuses":
            return self._raw(400, TOO_LARGE)
        return self._raw(204, b"")

    def _answer(self, status: int, body: Any, retry: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if retry:
            self.send_header("Retry-After", retry)
        raw = json.dumps(body).encode()
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _raw(self, status: int, raw: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def api(serve: Callable[[type[BaseHTTPRequestHandler]], Any]) -> Iterator[str]:
    Handler.forms.clear()
    Handler.posts.clear()
    with serve(Handler) as base:
        Handler.base = base
        yield base


def _parts(content_type: str, body: bytes) -> list[Message]:
    parsed = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return list(parsed.get_payload())  # type: ignore[arg-type]


async def test_the_fields_go_first_and_the_file_last_with_progress_to_the_end(api: str, tmp_path: Path) -> None:
    data = b"quarterly numbers\n" * 20_000  # several chunks
    path = tmp_path / "plan Q3.txt"
    path.write_bytes(data)
    seen: list[tuple[int, int]] = []
    ticket = await RestClient(api, "t-1").upload_attachment("c1", path, progress=lambda s, t: seen.append((s, t)))
    assert ticket["attachmentId"] == "a-1"
    assert Handler.forms == [{"name": "plan Q3.txt", "size": len(data), "contentType": "text/plain"}]
    [(content_type, body)] = Handler.posts
    parts = _parts(content_type, body)
    assert [part.get_param("name", header="content-disposition") for part in parts] == [*FIELDS, "file"]
    assert [part.get_payload() for part in parts[:-1]] == list(FIELDS.values())
    assert parts[-1].get_filename() == "plan Q3.txt"
    assert parts[-1].get_payload(decode=True) == data
    assert len(seen) > 1 and seen[-1] == (len(body), len(body))
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)


async def test_bytes_need_a_name_and_take_the_given_type(api: str) -> None:
    rest = RestClient(api, "t-1")
    with pytest.raises(ValueError, match="name"):
        await rest.upload_attachment("c1", b"hello")
    await rest.upload_attachment("c1", b"hello", name="notes", content_type="application/x-notes")
    assert Handler.forms == [{"name": "notes", "size": 5, "contentType": "application/x-notes"}]


async def test_s3s_refusal_is_raised_with_its_code(api: str) -> None:
    with pytest.raises(UploadRefusedError) as refused:
        await RestClient(api, "t-1").upload_attachment("refused", b"hello", name="n.txt")
    assert (refused.value.status, refused.value.code) == (400, "EntityTooLarge")
    assert "exceeds the maximum allowed size" in refused.value.message


async def test_a_refused_form_is_the_apis_error_and_nothing_is_posted(api: str) -> None:
    with pytest.raises(HttpError) as busy:
        await RestClient(api, "t-1").upload_attachment("busy", b"hello", name="n.txt")
    assert (busy.value.status, busy.value.code, busy.value.retry_after_ms) == (429, "RATE_LIMITED", 6000)
    assert Handler.posts == []
