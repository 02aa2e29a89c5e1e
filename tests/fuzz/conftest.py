"""One moto world per fuzz test, shared by all its examples (state accumulates, as it would in
production): the demo's users and chats, a message to point at, every queue the handlers use,
the embedded search engine, a signing key, and the @connections API as an in-memory fake."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import strategies as st

from tests.fuzz.strategies import forged_cursors, forged_tokens, hostile_text
from tests.integration.conftest import FakeConnections
from tests.support.aws import declare_environment
from tests.support.fakes import NoLimits
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tests.support.services import message_service
from tidings.app import APPLICATION
from tidings.kernel import connections_api, ratelimits
from tidings.kernel.declaration import Function
from tidings.kernel.environment import ColdStart
from tidings.kernel.observability import logger
from tidings.messaging.sending import SendMessage
from tidings.messaging.syncing import encode_cursor
from tidings.notifications.declaration import PUSH_VAPID
from tidings.notifications.vapid import VapidConfig
from tidings.search.declaration import SEARCH_INDEX
from tidings.search.searching import encode_cursor as search_cursor
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.tokens import issue_token

_modules: dict[str, ModuleType] = {}


def handler_of(function: Function) -> Callable[[dict[str, Any], Any], Any]:
    """The declared function's handler, loaded from functions/ once per test session."""
    path = f"{function.domain}/{function.module}.py"
    if path not in _modules:
        _modules[path] = load_function(path)
    return getattr(_modules[path], function.attribute)


def module_of(function: Function) -> ModuleType:
    handler_of(function)
    return _modules[f"{function.domain}/{function.module}.py"]


@dataclass
class World:
    connections: FakeConnections = field(repr=False)
    signing_key: str = field(repr=False)
    # Values that pass validation, by payload field name: a list to pick from, or a strategy
    # (see strategies.plausible).
    context: dict[str, Any] = field(default_factory=dict, repr=False)
    log: io.StringIO = field(default_factory=io.StringIO, repr=False)

    def __repr__(self) -> str:  # Hypothesis prints the arguments of a failing example
        return "World(...)"

    def token(self, user_id: str = "alice", ttl: int = 900) -> str:
        return issue_token(user_id, self.signing_key, ttl_seconds=ttl)

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines logged since the last call (and forgets them)."""
        text = self.log.getvalue()
        self.log.seek(0)
        self.log.truncate()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_no_traceback(lines: list[dict[str, Any]]) -> None:
    """No error, and no exception at any level: every input is a client's, handled."""
    for line in lines:
        assert line.get("level") not in ("ERROR", "CRITICAL"), line
        assert "exception" not in line and "stack_trace" not in line, line


@pytest.fixture
def world(aws, signing_key, tmp_path: Path, monkeypatch) -> Iterator[World]:
    monkeypatch.setenv(SEARCH_INDEX.db_path_env, str(tmp_path / "search.db"))
    vapid = VapidConfig.generate("mailto:ops@example.com").to_secret()
    arn = boto3.client("secretsmanager").create_secret(Name="tidings/fuzz-vapid", SecretString=vapid)["ARN"]
    monkeypatch.setenv(PUSH_VAPID.env_var, arn)
    declare_environment(monkeypatch)
    ColdStart.forget_all()
    connections = FakeConnections()
    monkeypatch.setattr(connections_api, "poster", lambda environment: connections)
    # Every frame reaches its route: fuzzing the rate limiter's refusals would test nothing else.
    monkeypatch.setattr(ratelimits, "rate_limiter", lambda environment: NoLimits())

    make_chat("general", ["alice", "bob", "carol", "dave", "erin"], admins=("alice",), chat_type="channel")
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    now = int(time.time())
    for connection_id, user_id in (("alice-1=", "alice"), ("bob-1=", "bob")):
        DynamoConnectionStore().add(connection_id, user_id, now * 1000, now + 900)
    for chat_id in ("general", "project-x", "general", "project-x"):  # seqs beyond 1, to page through
        message = message_service().send(
            "alice", SendMessage(request_id=f"seed-{uuid.uuid4()}", chat_id=chat_id, content="the quarterly budget")
        )
    world = World(connections, signing_key)
    world.context = {
        "chatId": [*["general", "project-x", "dm-alice-bob"], "no-such-chat"],
        "messageId": [message.message_id, "no-such-message"],
        "userIds": [["alice", "bob"], ["zed"], [f"user-{i}" for i in range(100)]],
        "token": st.sampled_from([world.token(), world.token("bob"), world.token(ttl=-60)])
        | forged_tokens(signing_key)
        | hostile_text,
        "cursor": st.sampled_from(
            [encode_cursor("general", 0), encode_cursor("project-x", 2**62), search_cursor(9_999)]
        )
        | forged_cursors(),
        "emoji": ["👍", "🎉"],
        "refreshToken": ["not-a-refresh-token"],
    }

    previous = logger.registered_handler.setStream(world.log)
    try:
        yield world
    finally:
        logger.registered_handler.setStream(previous)
        ColdStart.forget_all()


def websocket_routes() -> list[str]:
    """Every declared WebSocket route a client frame can select (not $connect/$disconnect)."""
    return [route.key for route in APPLICATION.routes if not route.key.startswith("$")]
