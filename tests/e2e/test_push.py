"""A real Web Push round trip against `tidings dev`.

The test is the browser and the push service: it makes its own ECDH P-256 key pair and auth
secret, runs a push service on 127.0.0.1 (aiohttp), registers the subscription for an offline
user, has another user send a message, and decrypts what arrives (RFC 8291 aes128gcm). It also
checks the VAPID header (RFC 8292) against the server's public key, and that a 410 from the
push service deletes the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tests.support.webpush import PushRequest, Subscriber, verify_vapid
from tidings_client import HttpError

pytestmark = pytest.mark.e2e

OFFLINE_USER = "erin"  # in #general, and never connected by this test
DELIVERY_TIMEOUT_SECONDS = 60  # a bound of failure: two cold starts (Notify, PushWorker) on a loaded machine
QUIET_SECONDS = 1.0


@dataclass
class PushService:
    """The push service: records what the Tidings push worker POSTs, answers 201 or a set status."""

    origin: str = ""
    requests: list[PushRequest] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, request: web.Request) -> web.Response:
        self.requests.append(
            PushRequest(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
        )
        self.arrived.set()
        return web.Response(status=self.answers.get(request.path, 201))

    async def wait_for(self, path: str, count: int) -> list[PushRequest]:
        """The first `count` requests to `path`, once they have arrived."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
        while len(matching := [r for r in self.requests if r.path == path]) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{count} push(es) to {path} expected, got {len(matching)}"
            self.arrived.clear()  # no await since the check: nothing can arrive in between
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        return matching[:count]


@pytest.fixture
async def push_service():
    service = PushService()
    app = web.Application()
    app.router.add_post("/push/{name}", service.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    service.origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield service
    await runner.cleanup()


async def _unsubscribe(erin, endpoint: str) -> None:
    """Cleans up after a test (whatever went wrong before)."""
    with contextlib.suppress(HttpError):
        await erin.delete("/api/push/subscriptions", {"endpoint": endpoint})


async def test_an_offline_user_gets_an_encrypted_web_push_and_a_410_deletes_the_subscription(server, push_service):
    erin = server.rest(OFFLINE_USER)
    answer = await erin.fetch("GET", "/api/push/vapid-public-key")
    assert answer.status == 200
    key = answer.json()
    subscriber = Subscriber()
    endpoint = f"{push_service.origin}/push/erin-laptop"
    answer = await erin.fetch("POST", "/api/push/subscriptions", subscriber.subscription(endpoint))
    assert answer.status == 201, answer.text
    registered = answer.json()
    assert registered["platform"] == "webpush"

    alice = await server.connect("alice")
    try:
        # 1. A message reaches the offline user's push service, encrypted for its keys.
        content = "Lunch at noon? " + "x" * 120
        message = await alice.send("general", content)
        [request] = await push_service.wait_for("/push/erin-laptop", 1)
        assert request.headers["content-encoding"] == "aes128gcm"
        assert int(request.headers["ttl"]) > 0
        payload = subscriber.decrypt(request.body)
        assert payload["type"] == "notification.push"
        assert payload["title"] == "Alice in #general"  # as the toast would say
        assert payload["body"] == content[:99] + "…" and len(payload["body"]) == 100
        assert (payload["chatId"], payload["messageId"]) == ("general", message["messageId"])
        assert payload["priority"] == "normal"
        assert payload["badge"] >= 1
        assert payload["id"]

        # The VAPID JWT is ES256, signed by the key the API publishes, for this push service.
        claims, k = verify_vapid(request, audience=push_service.origin)
        assert k == key["publicKey"]
        assert claims["sub"].startswith("mailto:")
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600

        # 2. The push service says the subscription is gone: the worker deletes it.
        push_service.answers["/push/erin-laptop"] = 410
        await alice.send("general", "second")
        await push_service.wait_for("/push/erin-laptop", 2)

        # 3. A new subscription of the same user gets the next message; the deleted one does not.
        other = Subscriber()
        answer = await erin.fetch(
            "POST", "/api/push/subscriptions", other.subscription(f"{push_service.origin}/push/erin-phone")
        )
        assert answer.status == 201
        third = await alice.send("general", "third")
        [phone] = await push_service.wait_for("/push/erin-phone", 1)
        assert other.decrypt(phone.body)["messageId"] == third["messageId"]
        await asyncio.sleep(QUIET_SECONDS)  # the same job would have tried the deleted one too
        assert len([r for r in push_service.requests if r.path == "/push/erin-laptop"]) == 2
    finally:
        await alice.close()
        await _unsubscribe(erin, f"{push_service.origin}/push/erin-phone")


async def test_push_endpoints_never_appear_in_the_log(push_service):
    """An endpoint URL is a capability (whoever has it can push to that browser): registering
    one, refusing one, delivering to one and failing to reach one must log none of them."""
    import uuid

    from tests.e2e.conftest import start_server, stop_server
    from tests.support.push_service import closed_port_url

    process, server, log_path = start_server(log_name="tidings-dev-push-log")
    delivered = f"/push/capability-{uuid.uuid4().hex}"
    unreachable = closed_port_url(f"/push/capability-{uuid.uuid4().hex}")  # connection refused
    refused = f"https://169.254.169.254/latest/meta-data/capability-{uuid.uuid4().hex}"
    erin = server.rest(OFFLINE_USER)
    try:
        for endpoint in (push_service.origin + delivered, unreachable):
            answer = await erin.fetch("POST", "/api/push/subscriptions", Subscriber().subscription(endpoint))
            assert answer.status == 201
        with pytest.raises(HttpError) as error:
            await erin.post("/api/push/subscriptions", Subscriber().subscription(refused))
        assert error.value.status == 400 and error.value.message.startswith("endpoint:"), error.value

        alice = await server.connect("alice")
        try:
            await alice.send("general", "are you there?")
            await push_service.wait_for(delivered, 1)
        finally:
            await alice.close()
        await asyncio.sleep(QUIET_SECONDS)  # the same job tries the unreachable one too, and logs it
        for endpoint in (push_service.origin + delivered, unreachable):
            await _unsubscribe(erin, endpoint)
    finally:
        stop_server(process)
    log = log_path.read_text()
    assert "push retrying" in log, "the worker logged the failed delivery (without its endpoint)"
    for endpoint in (delivered, unreachable, refused):
        assert endpoint.rsplit("/", 1)[1] not in log
