"""Retention end to end: a chat admin sets `retentionDays` over the HTTP API, and the hourly
retention sweep, fired through `tidings dev`'s `POST /_local/schedules/{id}` for a tick two days
on, deletes the chat's messages through the normal delete path: the other member's connection
gets `message.deleted`, history no longer has the content, and a chat without a retention keeps
everything. The session's server is shared: the chats here are this module's own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.uploads import SCAN_TIMEOUT_SECONDS, get_without_redirect, post_file, upload_form
from tidings_client import TidingsClient

pytestmark = pytest.mark.e2e


async def _send(client: TidingsClient, chat_id: str, content: str) -> dict:
    ack = await client.request("message.send", {"chatId": chat_id, "content": content})
    assert ack["payload"]["status"] == "ok", ack
    return ack["payload"]["message"]


async def test_the_sweep_deletes_an_expired_chat_s_messages_as_a_delete_does(server):
    rest = server.rest("alice")
    word = uuid.uuid4().hex[:8]
    expiring = (await rest.create_chat("group", f"Ephemeral {word}", ["bob"]))["chatId"]
    keeping = (await rest.create_chat("group", f"Archive {word}", ["bob"]))["chatId"]
    chat = await rest.update_chat(expiring, retention_days=1)
    assert chat["retentionDays"] == 1

    alice = await server.connect("alice", raw=True)
    bob = await server.connect("bob", raw=True)
    try:
        data = b"minutes of the day\n" * 50
        ticket = await upload_form(server, "alice", expiring, "minutes.txt", data, "text/plain")
        assert (await asyncio.to_thread(post_file, ticket, "minutes.txt", data, "text/plain")).status_code == 204
        await alice.wait_for(
            lambda f: f["type"] == "attachment.scanned" and f["payload"]["attachmentId"] == ticket["attachmentId"],
            timeout=SCAN_TIMEOUT_SECONDS,
        )
        ack = await alice.request(
            "message.send",
            {"chatId": expiring, "content": "with the file", "attachments": [{"attachmentId": ticket["attachmentId"]}]},
        )
        assert ack["payload"]["status"] == "ok", ack
        file_url = f"{server.base_url}/api/attachments/{ticket['attachmentId']}"
        assert (await asyncio.to_thread(get_without_redirect, file_url, server.token("bob")))[0] == 302

        gone = await _send(alice, expiring, "this goes in a day")
        kept = await _send(alice, keeping, "this stays")

        tomorrow = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fired = await server.local("POST", "/_local/schedules/RetentionSweepHourly", {"time": tomorrow})
        assert fired["result"]["deleted"] >= 2 and fired["result"]["finished"] is True

        deleted = await bob.wait_for(
            lambda f: f["type"] == "message.deleted" and f["payload"].get("messageId") == gone["messageId"]
        )
        assert deleted["payload"]["chatId"] == expiring

        history = await server.rest("bob").request("GET", f"/api/chats/{expiring}/messages")
        [tombstone] = [m for m in history["messages"] if m["messageId"] == gone["messageId"]]
        assert tombstone["deleted"] is True and not tombstone.get("content")
        # the file went with its message
        assert (await asyncio.to_thread(get_without_redirect, file_url, server.token("bob")))[0] == 404
        history = await server.rest("bob").request("GET", f"/api/chats/{keeping}/messages")
        assert [m["content"] for m in history["messages"] if m["messageId"] == kept["messageId"]] == ["this stays"]
    finally:
        await alice.close()
        await bob.close()


async def test_firing_an_unknown_schedule_or_a_bad_time_is_refused_with_json(server):
    response = await server.rest().fetch("POST", "/_local/schedules/Nope", {}, auth=False)
    assert response.status == 404 and "RetentionSweepHourly" in response.json()["error"]["message"]
    response = await server.rest().fetch("POST", "/_local/schedules/RetentionSweepHourly", {"time": "soon"}, auth=False)
    assert response.status == 400 and "time" in response.json()["error"]["message"]
