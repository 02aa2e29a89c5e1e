"""End-to-end fixtures: a real `tidings dev --demo` process, and the project's own Python SDK
(`tidings_client`) as every test's client.

The runtime runs as a subprocess on a free port, exactly as a developer starts it; the tests
talk to it only over HTTP and WebSockets, as a client would. `server.connect(user)` is a
`TidingsClient` as an application uses it (hello, ordered and de-duplicated chat events,
retries, reconnects); `server.connect(user, raw=True)` is the SDK's raw mode, for tests that
must see exactly what the server does (every frame, duplicates, error replies, closes).

Every frame any of those clients receives is checked against the published contract,
`docs/asyncapi.yaml` (`frames_match_the_contract`): a test whose server sent a frame the document
does not describe fails. Likewise every HTTP answer of `/api/...` and `/admin/...` the tests get
through urllib (the SDK's `RestClient`, `urlopen`, the in-process admin CLI) is checked against
`docs/openapi.yaml` (`rest_answers_match_the_contract`): its status and JSON body.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.frame_contract import contract
from tests.support.rest_contract import RecordingHandler, checking_urllib
from tidings_client import Backoff, ConnectionState, RestClient, TidingsClient
from tidings_local.pytest_plugin import WAIT_SECONDS, start_tidings, tidings_executable
from tidings_local.pytest_plugin import stop_tidings as stop_server
from tidings_local.pytest_plugin import wait_until as wait_until  # the e2e modules' wait, the plugin's

TIDINGS = Path(tidings_executable())
TOKEN_REUSE_SECONDS = 300

# A normal client that lost its connection tries again quickly (the default starts at 1 s, jittered).
RECONNECT_BACKOFF = Backoff([0.2, 0.5, 1.0], jitter=False)

# Every client `Server.client` made, and the frame-log mark up to which its frames were checked.
_checked_up_to: dict[TidingsClient, int] = {}


@dataclass
class Server:
    base_url: str
    ws_url: str
    tokens: dict[str, tuple[str, float]]  # user -> (token, when it was issued, monotonic)

    def token(self, user_id: str, ttl: int | None = None) -> str:
        """A token from `tidings token`, the way a developer gets one. Default ones (15 min) are
        reused for 5 min: a slow run of a module outlasts one token, and an expired one would
        fail a test that has nothing to do with expiry."""
        cached = self.tokens.get(user_id)
        if ttl is None and cached is not None and time.monotonic() - cached[1] < TOKEN_REUSE_SECONDS:
            return cached[0]
        args = [str(TIDINGS), "token", user_id] + ([] if ttl is None else ["--ttl", str(ttl)])
        token = subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        if ttl is None:
            self.tokens[user_id] = (token, time.monotonic())
        return token

    def client(
        self, user_id: str | None = None, *, token: str | None = None, raw: bool = False, **options: Any
    ) -> TidingsClient:
        """An SDK client of `user_id` (or with `token`), not connected yet. The token goes in the
        query string, as a browser sends it (`token_in="header"` for `Authorization: Bearer`);
        the frame log keeps every frame; waits and replies get `WAIT_SECONDS`."""
        if token is None:
            if user_id is None:
                raise ValueError("a client needs a user_id or a token")
            token = self.token(user_id)
        options.setdefault("token_in", "query")
        options.setdefault("log_size", None)
        for timeout in ("wait_timeout", "request_timeout", "connect_timeout"):
            options.setdefault(timeout, WAIT_SECONDS)
        if not raw:
            options.setdefault("backoff", RECONNECT_BACKOFF)
        client = TidingsClient(self.ws_url, token, raw=raw, **options)
        _checked_up_to[client] = client.mark()
        return client

    async def connect(
        self, user_id: str | None = None, *, token: str | None = None, raw: bool = False, **options: Any
    ) -> TidingsClient:
        """`client(...)`, connected: a normal client once `welcome` is in, a raw one (no hello)
        once the handshake succeeded (a refused one raises `HandshakeError` with its status)."""
        client = self.client(user_id, token=token, raw=raw, **options)
        try:
            await client.connect(timeout=WAIT_SECONDS)
        except BaseException:
            await client.close()
            raise
        return client

    def rest(self, user_id: str | None = None, *, token: str | None = None) -> RestClient:
        """The SDK's client of the HTTP API, as `user_id` (or with `token`; neither: for
        unauthenticated calls, `request(..., auth=False)`)."""
        if token is None and user_id is not None:
            token = self.token(user_id)
        return RestClient(self.base_url, token)

    async def share_chat(self, *user_ids: str) -> str:
        """A new group of these users (`POST /_local/chats`): who shares a chat may see the
        others' presence. Returns its id."""
        chat_id = "shared-" + "-".join(user_ids)
        await self.local("POST", "/_local/chats", {"chatId": chat_id, "type": "group", "members": list(user_ids)})
        return chat_id

    async def local(self, method: str, path: str, body: Any = None) -> Any:
        """One of the runtime's own endpoints (`/_local/...`), which must answer 200: its JSON."""
        response = await self.rest().fetch(method, path, body, auth=False)
        assert response.status == 200, (method, path, response.status, response.text)
        return response.json()


def start_server(*extra_args: str, log_name: str = "tidings-dev") -> tuple[subprocess.Popen, Server, Path]:
    """`tidings dev --demo` as the pytest plugin starts it (`tidings_local.pytest_plugin`)."""
    running = start_tidings(*extra_args, demo=True, log_name=log_name)
    assert running.process is not None and running.log_path is not None
    return running.process, Server(base_url=running.base_url, ws_url=running.ws_url, tokens={}), running.log_path


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    process, server, _ = start_server()
    yield server
    stop_server(process)


def contract_violations(clients: dict[TidingsClient, int]) -> list[str]:
    """The frames the clients received since their marks that `docs/asyncapi.yaml` does not
    describe, each with why; the marks move on, and closed clients are let go."""
    violations = []
    for client, mark in list(clients.items()):
        for frame in client.frames_after(mark):
            problems = contract().problems(frame)
            if problems:
                violations.append(f"{json.dumps(frame, ensure_ascii=False)[:500]}\n    " + "\n    ".join(problems))
        if client.state is ConnectionState.CLOSED:
            del clients[client]
        else:
            clients[client] = client.mark()
    return violations


@pytest.fixture(autouse=True)
def frames_match_the_contract() -> Iterator[None]:
    """After each test: every frame its clients received is a server frame of the contract."""
    yield
    violations = contract_violations(_checked_up_to)
    if violations:
        pytest.fail("server frames that docs/asyncapi.yaml does not describe:\n" + "\n".join(violations), pytrace=False)


@pytest.fixture(scope="session")
def rest_answers() -> Iterator[RecordingHandler]:
    with checking_urllib() as handler:
        yield handler


@pytest.fixture(autouse=True)
def rest_answers_match_the_contract(rest_answers: RecordingHandler) -> Iterator[None]:
    """After each test: every answer of the HTTP API it got is one of the contract's."""
    rest_answers.take_violations()  # a call still running from the test before is not this one's
    yield
    violations = rest_answers.take_violations()
    if violations:
        pytest.fail("HTTP answers that docs/openapi.yaml does not describe:\n" + "\n".join(violations), pytrace=False)
