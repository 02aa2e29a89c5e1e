"""The web client's static files in `tidings dev` (static.py): content types, no listings,
nothing outside its folders, config.json, and the gateway's other routes left as they were."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tidings_local.runtime import LocalRuntime
from tidings_local.static import WEB_ROOT, add_web_client_routes

USERS = [{"userId": "alice", "displayName": "Alice"}]


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    web_root, sdk_root = tmp_path / "web", tmp_path / "sdk"
    (web_root / "app" / "nested").mkdir(parents=True)
    sdk_root.mkdir()
    (web_root / "index.html").write_text("<!doctype html><title>client</title>")
    (web_root / "app" / "main.js").write_text("export const main = 1;")
    (web_root / "app" / "style.css").write_text("body {}")
    (web_root / "app" / "nested" / "deep.js").write_text("export {};")
    (web_root / "app" / "notes.txt").write_text("not served")
    (web_root / "app" / ".hidden.js").write_text("not served")
    (web_root / "README.md").write_text("not served")
    (sdk_root / "index.js").write_text("export class TidingsClient {}")
    (tmp_path / "secret.js").write_text("outside")
    (web_root / "app" / "escape.js").symlink_to(tmp_path / "secret.js")
    return web_root, sdk_root


READY = {"value": True}


@pytest.fixture
async def client(roots: tuple[Path, Path]) -> AsyncIterator[TestClient]:
    web_root, sdk_root = roots
    READY["value"] = True
    app = web.Application()
    add_web_client_routes(
        app, is_ready=lambda: READY["value"], web_root=web_root, sdk_root=sdk_root, users=lambda: USERS
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/", "text/html; charset=utf-8", "<!doctype html><title>client</title>"),
        ("/index.html", "text/html; charset=utf-8", "<!doctype html><title>client</title>"),
        ("/app/main.js", "text/javascript; charset=utf-8", "export const main = 1;"),
        ("/app/style.css", "text/css; charset=utf-8", "body {}"),
        ("/app/nested/deep.js", "text/javascript; charset=utf-8", "export {};"),
        ("/sdk/index.js", "text/javascript; charset=utf-8", "export class TidingsClient {}"),
    ],
)
async def test_files_are_served_with_their_content_type(
    client: TestClient, path: str, content_type: str, body: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"
    assert await response.text() == body
    head = await client.head(path)
    assert head.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/app/",  # a folder: no listing
        "/app/nested",
        "/app/nested/",
        "/app/notes.txt",  # not a type the client has
        "/app/.hidden.js",
        "/README.md",
        "/app/missing.js",
        "/app/%2e%2e/%2e%2e/secret.js",  # out of the folder
        "/app/..%2f..%2fsecret.js",
        "/app/escape.js",  # a symlink out of the folder
        "/sdk/../web/index.html",
    ],
)
async def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert "outside" not in await response.text()


async def test_only_get_and_head(client: TestClient) -> None:
    response = await client.post("/app/main.js")
    assert response.status == 405


async def test_config_names_the_apis_on_the_host_the_browser_used(client: TestClient) -> None:
    response = await client.get("/config.json", headers={"Host": "tidings.local:9000"})
    assert response.status == 200
    assert await response.json() == {
        "webSocketUrl": "ws://tidings.local:9000/ws",
        "apiUrl": "http://tidings.local:9000",
        "localSignIn": {"sessionsUrl": "/_local/sessions", "users": USERS},
    }


async def test_config_lists_no_users_before_the_runtime_is_ready(client: TestClient) -> None:
    READY["value"] = False
    config = await (await client.get("/config.json")).json()
    assert config["localSignIn"]["users"] == []


async def test_the_gateway_serves_the_client_and_keeps_its_other_routes(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{runtime.url}/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert await response.text() == (WEB_ROOT / "index.html").read_text()
    async with http.get(f"{runtime.url}/app/main.js") as response:
        assert response.status == 200
    async with http.get(f"{runtime.url}/sdk/index.js") as response:
        assert response.status == 200
        assert "TidingsClient" in await response.text()
    async with http.get(f"{runtime.url}/healthz") as response:
        assert await response.json() == {"status": "ok"}
    async with http.get(f"{runtime.url}/api/nothing-here") as response:  # still the HTTP API's 404
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "NOT_FOUND"
    async with http.get(f"{runtime.url}/config.json") as response:
        config = await response.json()
        assert config["webSocketUrl"] == runtime.ws_url
        assert config["apiUrl"] == runtime.url
