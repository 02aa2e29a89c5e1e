"""The e2e suite's check of HTTP answers against docs/openapi.yaml (`tests/support/rest_contract.py`)
bites: answers that break the document are reported, through urllib as the tests make calls."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.rest_contract import checking_urllib, rest_contract

CHAT = {"chatId": "general", "type": "group", "name": "General", "members": []}


def test_a_documented_answer_passes() -> None:
    assert rest_contract().problems("GET", "/api/chats", 200, "[]") == []
    error = json.dumps({"error": {"code": "UNAUTHORIZED", "message": "no token"}})
    assert rest_contract().problems("GET", "/api/chats", 401, error) == []
    assert rest_contract().problems("DELETE", "/api/chats/general/members/bob", 204, "") == []


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "why"),
    [
        ("GET", "/api/chats", 200, json.dumps({"chats": []}), "is not of type 'array'"),
        ("GET", "/api/chats", 418, "{}", "the status is not documented"),
        ("GET", "/api/chats", 401, json.dumps({"message": "no"}), "'message' was unexpected"),
        ("GET", "/api/chats", 200, "<html>", "the body is not JSON"),
        ("DELETE", "/api/chats/general/members/bob", 204, "{}", "documented without a body"),
        ("DELETE", "/api/chats", 200, "[]", "has no DELETE /api/chats"),
        ("GET", "/api/nowhere", 200, "[]", "no path of openapi.yaml matches"),
    ],
)
def test_an_answer_that_breaks_the_document_is_reported(
    method: str, path: str, status: int, body: str, why: str
) -> None:
    problems = rest_contract().problems(method, path, status, body)
    assert problems and why in problems[0], problems


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = (200, b"[]") if self.path == "/api/chats" else (401, b'{"message": "Unauthorized"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_urllib_answers_are_checked_and_handed_on_unchanged(base_url: str) -> None:
    with checking_urllib() as handler:
        with urllib.request.urlopen(f"{base_url}/api/chats", timeout=10) as response:
            assert response.status == 200 and json.load(response) == []
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base_url}/api/prefs", timeout=10)
        assert refused.value.code == 401 and json.load(refused.value) == {"message": "Unauthorized"}
        violations = handler.take_violations()
    assert len(violations) == 1 and "GET /api/prefs" in violations[0] and "'message' was unexpected" in violations[0]
