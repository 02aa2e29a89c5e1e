"""Breaking `tidings dev` on purpose (`--faults`, `/_local/faults`) and proving what survives:
an acked message is never lost, a poison record never blocks its shard, search, presence or the
push service down leave messaging working, and a failing connection is retried alone.

docs/failures.md lists what each failure costs a user; each row names the test here that shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.conftest import Server, start_server, stop_server
from tests.support.webpush import Subscriber
from tidings_client import Frame, HttpError, RequestTimeoutError, TidingsClient

pytestmark = pytest.mark.e2e

REPLY_TIMEOUT = 60.0  # generous: under injected throttles botocore backs off between attempts
QUIET_SECONDS = 2.0


# --- the runtime's local endpoints -------------------------------------------------------------


async def inject(server: Server, spec: str) -> None:
    await server.local("POST", "/_local/faults", {"faults": spec})


async def clear(server: Server) -> None:
    await server.local("DELETE", "/_local/faults")


async def fired(server: Server, rule: str) -> int:
    return int((await server.local("GET", "/_local/stats"))["faults"].get(rule, 0))


async def queue(server: Server, queue_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await server.local("GET", f"/_local/queues/{queue_id}")
    return result


async def eventually(check: Callable[[], Any], timeout: float = REPLY_TIMEOUT) -> Any:
    """Awaits `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)
    return value


@pytest.fixture(scope="module")
def faulty() -> Iterator[Server]:
    """A runtime for the tests that inject faults at run time; push retries shortened."""
    process, server, _ = start_server("--push-retry-base-seconds", "1", log_name="tidings-dev-faults")
    yield server
    stop_server(process)


@pytest.fixture
async def no_faults_left(faulty: Server) -> AsyncIterator[Server]:
    yield faulty
    await clear(faulty)


# --- the protocol, as a client runs it (raw SDK clients: every frame counted, duplicates too) ----


async def connect(server: Server, *users: str) -> list[TidingsClient]:
    return [await server.connect(user, raw=True) for user in users]


async def close(clients: list[TidingsClient]) -> None:
    for client in clients:
        await client.close()


async def send(client: TidingsClient, chat_id: str, content: str) -> dict[str, Any]:
    ack = await client.request("message.send", {"chatId": chat_id, "content": content}, timeout=REPLY_TIMEOUT)
    assert ack["payload"]["status"] == "ok", ack
    return ack["payload"]["message"]


async def head_seq(client: TidingsClient, chat_id: str) -> int:
    response = await client.request("sync.request", {"chatId": chat_id, "lastKnownSeq": 0, "limit": 1})
    return int(response["payload"]["headSeq"])


async def synced_messages(client: TidingsClient, chat_id: str, after_seq: int) -> list[dict[str, Any]]:
    """Every message event of `chat_id` after `after_seq`, by `sync.request` (all pages)."""
    events: list[Frame] = []
    page: dict[str, Any] = {"chatId": chat_id, "lastKnownSeq": after_seq, "limit": 500}
    while True:
        response = (await client.request("sync.request", page, timeout=REPLY_TIMEOUT))["payload"]
        events += response["events"]
        if not response["hasMore"]:
            return [e["payload"]["message"] for e in events if e["type"] == "message.new"]
        page = {"chatId": chat_id, "cursor": response["cursor"], "limit": 500}


def delivered(client: TidingsClient, chat_id: str) -> list[str]:
    """The messageIds of every `message.new` of `chat_id` this client got, duplicates kept."""
    return [
        f["payload"]["message"]["messageId"] for f in client.of_type("message.new") if f["payload"]["chatId"] == chat_id
    ]


async def wait_delivered(
    client: TidingsClient, chat_id: str, message_ids: set[str], timeout: float = REPLY_TIMEOUT
) -> None:
    async def all_there() -> bool:
        return message_ids <= set(delivered(client, chat_id))

    await eventually(all_there, timeout)


# --- 1. acked means never lost, under DynamoDB throttles and 5xx --------------------------------

DYNAMODB_FAULTS = (
    # The write path: every call of message.send may be throttled; a transaction may fail with a
    # 500 after it was applied (AWS says an InternalServerError may have succeeded).
    "dynamodb:throttle:function=MessageSend:p=0.3",
    "dynamodb:throttling:function=MessageSend:op=UpdateItem:p=0.3",
    "dynamodb:500:function=MessageSend:op=TransactWriteItems:applied=true:p=0.3",
    # The consumers' reads: members, connections and the message itself.
    "dynamodb:500:function=Delivery+NotifyRetry:op=Query+GetItem+BatchGetItem:p=0.5",
    "dynamodb:throttle:function=Delivery:op=Query:p=0.3",
)
SENDERS = ("alice", "bob", "carol")  # the members of project-x
MESSAGES_EACH = 8
SEND_ATTEMPTS = 5
ACK_WAIT_SECONDS = 20.0  # past MessageSend's 10 s timeout: API Gateway then answers no ack at all


async def send_until_acked(client: TidingsClient, chat_id: str, content: str) -> dict[str, Any] | None:
    """Sends like a client does: an error ack, or no ack in time (a timed-out function gets
    API Gateway's error without the frame's id), is retried with the same frame id."""
    frame_id = str(uuid.uuid4())
    payload = {"chatId": chat_id, "content": content}
    for _ in range(SEND_ATTEMPTS):
        try:
            ack = await client.request("message.send", payload, id=frame_id, timeout=ACK_WAIT_SECONDS)
        except RequestTimeoutError:
            continue
        if ack["payload"]["status"] == "ok":
            return ack["payload"]["message"]
    return None


@pytest.mark.timeout(600)
async def test_every_acked_message_reaches_every_member_or_sync_under_dynamodb_faults() -> None:
    process, server, _ = start_server(*(f"--faults={rule}" for rule in DYNAMODB_FAULTS), log_name="tidings-dev-ddb")
    try:
        clients = await connect(server, *SENDERS)
        start = await head_seq(clients[0], "project-x")
        run = uuid.uuid4().hex[:8]

        async def sender(client: TidingsClient, user: str) -> list[dict[str, Any] | None]:
            return [await send_until_acked(client, "project-x", f"{run}-{user}-{n}") for n in range(MESSAGES_EACH)]

        results = await asyncio.gather(*(sender(c, u) for c, u in zip(clients, SENDERS, strict=True)))
        acked = {m["messageId"]: m for result in results for m in result if m is not None}
        assert acked, "no send got through: the faults are too strong for the test to show anything"

        for rule in DYNAMODB_FAULTS:  # every fault really fired
            assert await fired(server, rule) > 0, rule
        await clear(server)

        for client, user in zip(clients, SENDERS, strict=True):
            stored = await synced_messages(client, "project-x", start)
            # Everything acked is stored, as acked, and reached this member live or by sync.
            seen = set(delivered(client, "project-x")) | {m["messageId"] for m in stored}
            assert set(acked) <= seen, f"{user} lost {set(acked) - seen}"
            by_id = {m["messageId"]: m for m in stored}
            for message_id, message in acked.items():
                assert (by_id[message_id]["seq"], by_id[message_id]["content"]) == (message["seq"], message["content"])
            # Nothing is stored twice (a retried send is the same message), nor for the wrong sender.
            ours = [m for m in stored if m["content"].startswith(f"{run}-")]
            assert all(m["content"].startswith(f"{run}-{m['senderId']}-") for m in ours)
            assert len({m["content"] for m in ours}) == len(ours)
        await close(clients)
    finally:
        stop_server(process)


# --- 2. a poison record lands on the failure queue and never blocks its shard -------------------


@pytest.mark.parametrize("error", ["error", "crash"])
async def test_a_poison_record_goes_to_the_failure_queue_and_later_messages_flow(no_faults_left, error) -> None:
    server = no_faults_left
    alice, bob = await connect(server, "alice", "bob")
    failures_before = len((await queue(server, "DeliveryFailures"))["messages"])
    rule = f"stream:{error}:function=Delivery:record=1"
    await inject(server, rule)

    poison = await send(alice, "dm-alice-bob", "the poison record")
    after = [await send(alice, "dm-alice-bob", f"after the poison {n}") for n in range(3)]

    await wait_delivered(bob, "dm-alice-bob", {m["messageId"] for m in after})
    assert poison["messageId"] not in delivered(bob, "dm-alice-bob")
    assert await fired(server, rule) == 4  # the first try and the mapping's 3 retries

    async def on_failure_queue() -> list[dict[str, Any]]:
        messages = (await queue(server, "DeliveryFailures"))["messages"]
        return messages[failures_before:]

    [failure] = await eventually(on_failure_queue)
    body = failure["body"]
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["functionArn"].endswith(":function:Tidings-Delivery")
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    if error == "crash":
        assert body["responseContext"]["functionError"] == "Unhandled"
    # Nothing acked is lost: the poison message is stored, and sync returns it.
    assert poison["messageId"] in {m["messageId"] for m in await synced_messages(bob, "dm-alice-bob", 0)}
    await close([alice, bob])


# --- 3. search down, presence down: messaging goes on -------------------------------------------


async def test_search_down_leaves_messaging_working_and_a_reindex_recovers_it(no_faults_left) -> None:
    server = no_faults_left
    alice, bob = await connect(server, "alice", "bob")
    word = f"zebra{uuid.uuid4().hex[:8]}"
    index_failures_before = len((await queue(server, "SearchIndexFailures"))["messages"])
    await inject(server, "search:down")

    message = await send(alice, "project-x", f"the {word} is searchable later")
    await wait_delivered(bob, "project-x", {message["messageId"]})
    assert message["messageId"] in {m["messageId"] for m in await synced_messages(bob, "project-x", message["seq"] - 1)}
    ack = await bob.request("search.query", {"query": word}, timeout=REPLY_TIMEOUT)
    assert ack["type"] == "ack"
    assert ack["payload"]["error"]["code"] == "UNAVAILABLE"
    assert ack["payload"]["error"]["message"] == "Search temporarily unavailable"

    async def index_failed() -> bool:
        return len((await queue(server, "SearchIndexFailures"))["messages"]) > index_failures_before

    await eventually(index_failed)

    # Search comes back; the message it missed is found once the index is rebuilt.
    await clear(server)
    results = await bob.request("search.query", {"query": word}, timeout=REPLY_TIMEOUT)
    assert results["type"] == "search.results"
    assert [r for r in results["payload"]["results"] if r["type"] == "message"] == []
    # The rebuild streams its progress as JSON lines, read to the end.
    assert (await server.rest().fetch("POST", "/_local/reindex", auth=False)).status == 200
    results = await bob.request("search.query", {"query": word}, timeout=REPLY_TIMEOUT)
    found = [r["message"]["messageId"] for r in results["payload"]["results"] if r["type"] == "message"]
    assert found == [message["messageId"]]
    await close([alice, bob])


async def test_presence_down_leaves_messaging_working(no_faults_left) -> None:
    server = no_faults_left
    rule = "dynamodb:500:table=Presence+PresenceSubscriptions"
    await inject(server, rule)

    alice, bob = await connect(server, "alice", "bob")  # $connect records presence: best effort
    start = await head_seq(bob, "dm-alice-bob")
    message = await send(alice, "dm-alice-bob", "presence is down, messages are not")
    await wait_delivered(bob, "dm-alice-bob", {message["messageId"]})
    assert [m["messageId"] for m in await synced_messages(bob, "dm-alice-bob", start)] == [message["messageId"]]
    read = await bob.request("read.mark", {"chatId": "dm-alice-bob", "messageId": message["messageId"]})
    assert read["payload"]["status"] == "ok"
    subscribed = await bob.request("presence.subscribe", {"userIds": ["alice"]}, timeout=REPLY_TIMEOUT)
    assert subscribed["payload"]["status"] == "error"  # presence itself answers, and says so
    assert await fired(server, rule) > 0
    await close([alice, bob])


# --- 4. @connections 500 and 429: retried alone, nobody gets a frame twice ----------------------


async def badges(client: TidingsClient, chat_id: str) -> int:
    response = await client.request("sync.request", {"chats": {chat_id: 10**9}}, timeout=REPLY_TIMEOUT)
    [badge] = [b for b in response["payload"]["badges"] if b["chatId"] == chat_id]
    return int(badge["unreadCount"])


@pytest.mark.timeout(300)
async def test_failing_connections_are_retried_alone_and_nobody_gets_a_frame_twice(no_faults_left) -> None:
    server = no_faults_left
    members = await connect(server, "alice", "bob", "carol", "dave", "erin")
    alice, bob, carol, dave, erin = members
    try:
        start = await head_seq(alice, "general")
        dave_unread = await badges(dave, "general")
        rules = (
            "connections:500:user=bob:op=PostToConnection:count=6",  # two posts fail all 3 tries
            # carol is throttled on her first post's three tries and the first try of its retry:
            # counted rather than random, so no run can give all four attempts up by chance.
            "connections:429:user=carol:op=PostToConnection:count=4",
            "connections:500:user=erin:op=PostToConnection",  # erin's connection never takes a post
        )
        await inject(server, ",".join(rules))

        sent = [await send(alice, "general", f"to everyone {n}") for n in range(10)]
        ids = {m["messageId"] for m in sent}

        for client in (alice, bob, carol, dave):  # the failed ones after their retries (up to ~31 s)
            await wait_delivered(client, "general", ids, timeout=2 * REPLY_TIMEOUT)
        assert await fired(server, rules[0]) == 6 and await fired(server, rules[1]) == 4

        # Badges are counted once per message: no consumer record was re-run for a failed post.
        async def all_counted() -> bool:
            return await badges(dave, "general") >= dave_unread + len(sent)

        await eventually(all_counted)
        await asyncio.sleep(QUIET_SECONDS)  # let the retries still in flight land
        assert await badges(dave, "general") == dave_unread + len(sent)
        for client in (alice, bob, carol, dave, erin):
            counts = Counter(m for m in delivered(client, "general") if m in ids)
            assert all(n == 1 for n in counts.values()), f"delivered twice: {counts}"

        # erin got nothing live, and recovers it all by sync once her connection works again.
        await clear(server)
        assert ids <= {m["messageId"] for m in await synced_messages(erin, "general", start)}
    finally:
        await close(members)


# --- 5. the push service down -------------------------------------------------------------------


@pytest.fixture
async def push_service() -> AsyncIterator[tuple[str, list[str]]]:
    received: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(request.path)
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/push/{name}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", received
    await runner.cleanup()


@pytest.mark.timeout(300)
async def test_the_push_service_down_is_retried_with_backoff_then_given_up(no_faults_left, push_service) -> None:
    server = no_faults_left
    origin, received = push_service
    endpoint = f"{origin}/push/erin-{uuid.uuid4().hex[:6]}"
    subscription = Subscriber().subscription(endpoint)
    erin = server.rest("erin")
    assert (await erin.fetch("POST", "/api/push/subscriptions", subscription)).status == 201
    rule = "push:down"
    await inject(server, rule)
    (alice,) = await connect(server, "alice")
    try:
        await send(alice, "general", "erin is offline and her push service is down")

        # 5 attempts (1 s, 2 s, 4 s, 8 s apart here), then the worker gives up.
        async def gave_up() -> bool:
            return await fired(server, rule) >= 5

        await eventually(gave_up, timeout=120)
        await asyncio.sleep(QUIET_SECONDS * 2)
        assert await fired(server, rule) == 5
        jobs = await queue(server, "PushJobs")
        assert (jobs["messages"], jobs["deadLetters"]) == ([], [])  # nothing left, nothing crashed
        assert received == []

        # The push service is back: the subscription was kept, and the next message gets through.
        await clear(server)
        await send(alice, "general", "and now it is back")

        async def pushed() -> bool:
            return bool(received)

        await eventually(pushed)
        assert received == [endpoint.removeprefix(origin)]
    finally:
        await close([alice])
        with contextlib.suppress(HttpError):
            await erin.delete("/api/push/subscriptions", {"endpoint": endpoint})
