"""`RestClient` against a small local HTTP server: decoded answers, `HttpError` for refusals,
and `fetch` for the answer as it came (status, headers, body)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tidings_client import HttpError, RestClient, RestResponse

# path -> (status, headers, body)
ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/api/things": (201, {"Content-Type": "application/json"}, b'{"created": true}'),
    "/api/empty": (204, {}, b""),
    "/api/refused": (
        403,
        {"Content-Type": "application/json"},
        b'{"error": {"code": "FORBIDDEN", "message": "not yours"}}',
    ),
    "/api/busy": (503, {"Retry-After": "2", "Content-Type": "application/json"}, b'{"message": "Service Unavailable"}'),
    "/api/huge": (413, {"Content-Type": "text/plain"}, b"Request Entity Too Large"),
    "/_local/progress": (200, {"Content-Type": "application/x-ndjson"}, b'{"done": 1}\n{"done": 2}\n'),
}


class Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        Handler.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        status, headers, raw = ANSWERS[self.path.split("?")[0]]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def api(serve: Callable[[type[BaseHTTPRequestHandler]], Any]) -> Iterator[str]:
    Handler.seen.clear()
    with serve(Handler) as base:
        yield base


async def test_request_decodes_2xx_answers_and_raises_http_errors(api: str):
    rest = RestClient(api, "t-1")
    assert await rest.post("/api/things", {"name": "x"}) == {"created": True}
    assert Handler.seen[-1] == ("POST", "/api/things", "Bearer t-1", {"name": "x"})
    assert await rest.delete("/api/empty") is None
    with pytest.raises(HttpError) as refused:
        await rest.get("/api/refused")
    assert (refused.value.status, refused.value.code, refused.value.message) == (403, "FORBIDDEN", "not yours")
    with pytest.raises(HttpError) as busy:
        await rest.get("/api/busy")
    assert (busy.value.status, busy.value.code, busy.value.message) == (503, "HTTP_503", "Service Unavailable")
    assert busy.value.retry_after_ms == 2000
    with pytest.raises(HttpError) as huge:
        await rest.get("/api/huge")
    assert (huge.value.status, huge.value.message) == (413, "Request Entity Too Large")


async def test_fetch_returns_any_answer_as_it_came(api: str):
    rest = RestClient(api)
    created = await rest.fetch("POST", "/api/things", {"name": "x"}, auth=False)
    assert isinstance(created, RestResponse)
    assert (created.status, created.json()) == (201, {"created": True})
    assert created.headers["content-type"] == "application/json"
    assert Handler.seen[-1][2] is None  # no Authorization
    refused = await rest.fetch("GET", "/api/refused", query={"limit": 5, "before": None}, auth=False)
    assert (refused.status, refused.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert Handler.seen[-1][1] == "/api/refused?limit=5"
    progress = await rest.fetch("POST", "/_local/progress", auth=False)
    assert progress.status == 200 and progress.text.splitlines() == ['{"done": 1}', '{"done": 2}']
    with pytest.raises(ValueError):
        progress.json()  # two JSON documents are not one
    assert (await rest.fetch("DELETE", "/api/empty", auth=False)).json() is None
