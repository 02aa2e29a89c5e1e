"""`tidings dev --data DIR` keeps everything across a restart (messages, seq counters, badges,
refresh tokens, the search index); without it a restart starts from nothing, the search index
included. Each test restarts a real `tidings dev`, as a developer does with Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import TIDINGS, WAIT_SECONDS, Server, start_server, stop_server
from tidings_client import RestClient, TidingsClient

WORD = "persimmon"  # searchable, and in nothing else the demo holds


async def _searched(client: TidingsClient, query: str, total: int) -> dict:
    """Searches until `total` hits come back (the index follows the message stream)."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        results = await client.search(query)
        if results["total"] == total or asyncio.get_running_loop().time() > deadline:
            return results
        await asyncio.sleep(0.3)


def _session(server: Server, user_id: str) -> dict:
    printed = subprocess.run(
        [str(TIDINGS), "session", user_id, "--url", server.base_url], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(printed)


@pytest.mark.timeout(300)  # two starts of tidings dev
async def test_a_restart_with_data_keeps_messages_seq_badges_sessions_and_the_search_index(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process, server, _ = start_server("--data", str(data), log_name="tidings-dev-data")
    try:
        alice = await server.connect("alice")
        try:
            sent = await alice.send("general", f"Remember the {WORD} tree")
            assert (await _searched(alice, WORD, 1))["total"] == 1
        finally:
            await alice.close()
        bob_rest = server.rest("bob")
        chats = {chat["chatId"]: chat for chat in await bob_rest.chats()}
        unread_before = chats["general"]["unreadCount"]
        assert unread_before >= 1
        session = _session(server, "carol")
    finally:
        assert stop_server(process) == 0
    assert (data / "state.json").is_file() and (data / "search.db").is_file()

    # --demo again: it must not reset a data directory that has state.
    process, server, _ = start_server("--data", str(data), log_name="tidings-dev-data-again")
    try:
        history = await server.rest("alice").messages("general", limit=50)
        assert sent["messageId"] in [message["messageId"] for message in history["messages"]]
        chats = {chat["chatId"]: chat for chat in await server.rest("bob").chats()}
        assert chats["general"]["unreadCount"] == unread_before
        renewed = await RestClient(server.base_url).refresh(session["refreshToken"])
        assert renewed["token"]

        alice = await server.connect("alice")
        try:
            assert (await _searched(alice, WORD, 1))["total"] == 1
            after = await alice.send("general", "And after the restart")
            assert after["seq"] == sent["seq"] + 1  # the chat's seq counter survived too
        finally:
            await alice.close()
    finally:
        assert stop_server(process) == 0


@pytest.mark.timeout(300)
async def test_without_data_a_restart_starts_from_nothing_search_index_included() -> None:
    process, server, _ = start_server(log_name="tidings-dev-memory")
    try:
        alice = await server.connect("alice")
        try:
            await alice.send("general", f"A {WORD} for the road")
            assert (await _searched(alice, WORD, 1))["total"] == 1
        finally:
            await alice.close()
    finally:
        stop_server(process)

    process, server, _ = start_server(log_name="tidings-dev-memory-again")
    try:
        history = await server.rest("alice").messages("general", limit=50)
        assert [m for m in history["messages"] if WORD in (m.get("content") or "")] == []
        alice = await server.connect("alice")
        try:
            assert (await alice.search(WORD))["total"] == 0  # no hit for a message that no longer exists
        finally:
            await alice.close()
    finally:
        stop_server(process)


async def test_a_data_directory_that_is_not_a_state_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "state.json").write_text("not json")
    completed = subprocess.run(
        [str(TIDINGS), "dev", "--data", str(data), "--port", "0"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 1
    assert "is not a Tidings state file" in completed.stderr and "move it away" in completed.stderr
