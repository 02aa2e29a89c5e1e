"""The local-only endpoints (/@connections, /_local/*) answer only this machine unless allowed.

Only 127.0.0.1 traffic is possible here, so a peer on another host is made two ways: a mocked
request with another peer address for the middleware itself, and, through the whole runtime, a
test middleware in front that gives each request the peer its `X-Test-Peer` header names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from tests.local.conftest import StartRuntime
from tidings_local import gateway, local_only
from tidings_local.local_only import is_same_host, peer_check


def _request(path: str, peer: str, local: str = "0.0.0.0", method: str = "POST") -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {
        "peername": (peer, 50000),
        "sockname": (local, 8080),
    }.get(name, default)
    return make_mocked_request(method, path, transport=transport)


async def _ok(_: web.Request) -> web.StreamResponse:
    return web.json_response({"served": True})


async def _through(path: str, peer: str, *, local: str = "0.0.0.0", allow_remote: bool = False) -> web.Response:
    response = await peer_check(allow_remote=allow_remote)(_request(path, peer, local), _ok)
    assert isinstance(response, web.Response)
    return response


@pytest.mark.parametrize(
    "path", ["/_local/sessions", "/_local/stats", "/_local/faults", "/_local/reindex", "/_local/queues/Fanout"]
)
async def test_another_host_is_refused_the_local_endpoints_with_a_json_403(path: str) -> None:
    response = await _through(path, "192.0.2.10")
    assert response.status == 403
    assert response.content_type == "application/json"
    assert response.text is not None and '"code": "FORBIDDEN"' in response.text
    assert "--allow-remote-local-endpoints" in response.text


async def test_another_host_is_refused_the_management_api_as_botocore_reads_it() -> None:
    response = await _through("/@connections/abc123", "192.0.2.10")
    assert response.status == 403
    assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert response.text is not None and '"message"' in response.text


@pytest.mark.parametrize("path", ["/healthz", "/ws", "/api/chats", "/", "/config.json", "/_localish"])
async def test_the_public_endpoints_serve_any_host(path: str) -> None:
    assert (await _through(path, "192.0.2.10")).status == 200


@pytest.mark.parametrize(
    ("peer", "local"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "0.0.0.0"),
        ("::1", "::"),
        ("::ffff:127.0.0.1", "::"),
        ("192.168.1.5", "192.168.1.5"),  # bound to a LAN address: the handlers call back on it
    ],
)
async def test_this_machine_is_served_the_local_endpoints(peer: str, local: str) -> None:
    assert (await _through("/_local/sessions", peer, local=local)).status == 200
    assert is_same_host(peer, local)


async def test_the_flag_lets_other_hosts_in() -> None:
    assert (await _through("/_local/sessions", "192.0.2.10", allow_remote=True)).status == 200
    assert (await _through("/@connections/abc", "192.0.2.10", allow_remote=True)).status == 200


@pytest.mark.parametrize("peer", [None, "", "not-an-address"])
def test_an_unknown_peer_is_not_this_machine(peer: str | None) -> None:
    assert not is_same_host(peer, "0.0.0.0")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
def peers_from_a_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime's gateway with a test middleware in front of its peer check: each request
    comes from the address in its `X-Test-Peer` header (127.0.0.1 without one)."""

    def check_with_test_peers(*, allow_remote: bool) -> local_only.Middleware:
        check = peer_check(allow_remote=allow_remote)

        @web.middleware
        async def with_test_peer(request: web.Request, handler: Handler) -> web.StreamResponse:
            peer = request.headers.get("X-Test-Peer")
            return await check(request if peer is None else request.clone(remote=peer), handler)

        return with_test_peer

    monkeypatch.setattr(gateway, "peer_check", check_with_test_peers)


@pytest.mark.usefixtures("peers_from_a_header")
async def test_the_runtime_refuses_its_local_endpoints_to_other_hosts(
    start_runtime: StartRuntime, http: aiohttp.ClientSession
) -> None:
    runtime = await start_runtime(host="127.0.0.1")
    remote = {"X-Test-Peer": "192.0.2.10"}
    async with http.get(f"{runtime.url}/_local/stats", headers=remote) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "FORBIDDEN"
    async with http.post(f"{runtime.url}/_local/sessions", json={"userId": "alice"}, headers=remote) as response:
        assert response.status == 403
    async with http.post(f"{runtime.url}/@connections/abc", data=b"x", headers=remote) as response:
        assert response.status == 403
        assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
    async with http.get(f"{runtime.url}/healthz", headers=remote) as response:
        assert response.status == 200
    async with http.get(f"{runtime.url}/_local/stats") as response:
        assert response.status == 200, "this machine is served"


@pytest.mark.usefixtures("peers_from_a_header")
async def test_the_runtime_serves_other_hosts_when_asked(
    start_runtime: StartRuntime, http: aiohttp.ClientSession
) -> None:
    runtime = await start_runtime(host="127.0.0.1", allow_remote_local_endpoints=True)
    async with http.get(f"{runtime.url}/_local/stats", headers={"X-Test-Peer": "192.0.2.10"}) as response:
        assert response.status == 200
