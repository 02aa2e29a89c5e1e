"""Test doubles for code built on `TidingsClient` (and for the SDK's own tests): a clock that
moves only when told, and an in-memory server the test scripts frame by frame.

    clock, server = FakeClock(), FakeServer()
    client = TidingsClient("ws://test/ws", "token", clock=clock, transport=server)
    await client.connect()                  # the server answers hello with welcome
    conn = server.connections[-1]
    frame = await conn.receive("message.send")
    conn.ack(frame, message={...})
    await clock.advance(5)                  # runs every timer due within 5 s
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections import deque
from typing import Any

from tidings_client.errors import HandshakeError
from tidings_client.frames import Frame, iso_now, make_frame, new_id
from tidings_client.transport import TransportClosed, TransportError

SETTLE_ROUNDS = 50  # event-loop turns that let every ready task run after a wake-up


async def settle() -> None:
    """Lets every task that can run, run (the fake transport's hand-offs take a few turns)."""
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)


class FakeClock:
    """A `Clock` whose time moves only in `advance()`: sleepers wake in deadline order, and the
    event loop settles after each wake-up, so a test runs minutes of timers in no time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = 0.0
        self._epoch = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._epoch + self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    @property
    def sleepers(self) -> list[float]:
        """The wake-up times (monotonic) of everything sleeping now, soonest first."""
        return sorted(deadline for deadline, _, future in self._sleepers if not future.done())

    async def advance(self, seconds: float) -> None:
        target = self._now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():  # cancelled
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            await settle()
        self._now = target
        await settle()


class FakeConnection:
    """The server's side of one connection."""

    def __init__(self, server: FakeServer, url: str, headers: dict[str, str]) -> None:
        self.server = server
        self.url = url
        self.headers = headers
        self.texts: list[str] = []  # every message the client sent, as sent
        self.received: list[Frame] = []  # every frame (JSON object) the client sent, in order
        self._unread: deque[Frame] = deque()
        self._arrived = asyncio.Condition()
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False
        self.close_code: int | None = None
        self.auto_pong = server.auto_pong

    # --- the client's side (Connection) ------------------------------------------------------

    async def send(self, text: str) -> None:
        if self.closed:
            raise TransportClosed(self.close_code or 1006, "closed")
        self.texts.append(text)
        try:
            frame = json.loads(text)
        except ValueError:
            return  # send_raw garbage: only in `texts`
        if not isinstance(frame, dict):
            return
        self.received.append(frame)
        if frame.get("type") == "hello" and self.server.auto_welcome:
            if self.server.speaks(frame):
                self.reply(frame, "welcome", self.server.welcome_payload(frame))
            else:  # as the server does: the error, then the close
                self.reply(frame, "error", self.server.upgrade_required_payload(frame))
                self.drop()
        elif frame.get("type") == "ping" and self.auto_pong:
            self.reply(frame, "pong", {})
        else:
            async with self._arrived:
                self._unread.append(frame)
                self._arrived.notify_all()

    async def recv(self) -> str:
        text = await self._outgoing.get()
        if text is None:
            self._outgoing.put_nowait(None)  # stay closed for any later recv
            raise TransportClosed(self.close_code or 1000, "")
        return text

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self.close_code = code
            self._outgoing.put_nowait(None)

    # --- the test's side ---------------------------------------------------------------------

    def push(self, frame_type: str, payload: dict[str, Any]) -> Frame:
        """Sends a server frame to the client."""
        frame = {"type": frame_type, "id": new_id(), "timestamp": iso_now(), "payload": payload}
        self.push_frame(frame)
        return frame

    def push_frame(self, frame: Frame) -> None:
        if not self.closed:
            self._outgoing.put_nowait(json.dumps(frame))

    def reply(self, to: Frame, frame_type: str, payload: dict[str, Any]) -> Frame:
        return self.push(frame_type, {"refId": to["id"], **payload})

    def ack(self, to: Frame, **fields: Any) -> Frame:
        return self.reply(to, "ack", {"status": "ok", **fields})

    def ack_error(self, to: Frame, code: str, message: str = "refused", retry_after_ms: int | None = None) -> Frame:
        error: dict[str, Any] = {"code": code, "message": message}
        if retry_after_ms is not None:
            error["retryAfterMs"] = retry_after_ms
        return self.reply(to, "ack", {"status": "error", "error": error})

    def drop(self, code: int = 1000) -> None:
        """The server closes the connection (as API Gateway's DeleteConnection: code 1000)."""
        if not self.closed:
            self.closed = True
            self.close_code = code
            self._outgoing.put_nowait(None)

    async def receive(self, frame_type: str | None = None, timeout: float = 2.0) -> Frame:
        """The next frame the client sent (of `frame_type`) that the test has not taken yet.
        `hello` and `ping` are answered automatically (see FakeServer) and not queued here."""

        async def take() -> Frame:
            async with self._arrived:
                while True:
                    for frame in self._unread:
                        if frame_type is None or frame.get("type") == frame_type:
                            self._unread.remove(frame)
                            return frame
                    await self._arrived.wait()

        return await asyncio.wait_for(take(), timeout)

    def unread(self, frame_type: str | None = None) -> list[Frame]:
        """Frames the client sent that the test has not taken, without taking them."""
        return [f for f in self._unread if frame_type is None or f.get("type") == frame_type]

    def sent_of_type(self, frame_type: str) -> list[Frame]:
        """Every frame of that type the client sent on this connection (taken or not)."""
        return [f for f in self.received if f.get("type") == frame_type]


class FakeServer:
    """A `Transport` whose connections are `FakeConnection`s. By default it answers `hello`
    with `welcome` and `ping` with `pong`; `refuse(status)` makes the next handshake fail with
    that HTTP status, `unreachable()` makes the next attempt fail to connect.

    With `supported_versions` (the protocol versions it speaks, e.g. `[1]` for a server older
    than the client) a `hello` with another version is answered as the server answers it: `error
    UPGRADE_REQUIRED` listing them (left out with `list_versions=False`), then the close.
    Without, every version is welcomed (and `welcome` says `supportedVersions: [1, 2]`)."""

    def __init__(
        self,
        *,
        user_id: str = "alice",
        auto_welcome: bool = True,
        auto_pong: bool = True,
        supported_versions: list[int] | None = None,
        list_versions: bool = True,
    ) -> None:
        self.user_id = user_id
        self.auto_welcome = auto_welcome
        self.auto_pong = auto_pong
        self.supported_versions = None if supported_versions is None else list(supported_versions)
        self.list_versions = list_versions
        self.heartbeat_interval_ms = 30000
        self.connections: list[FakeConnection] = []
        self.attempts: list[tuple[str, dict[str, str]]] = []
        self._refusals: deque[int | None] = deque()
        self._connected = asyncio.Condition()

    def refuse(self, status: int, times: int = 1) -> None:
        self._refusals.extend([status] * times)

    def unreachable(self, times: int = 1) -> None:
        self._refusals.extend([None] * times)

    def speaks(self, hello: Frame) -> bool:
        """Whether the version this `hello` says is one of `supported_versions` (any, without)."""
        if self.supported_versions is None:
            return True
        return hello.get("payload", {}).get("protocolVersion", 1) in self.supported_versions

    def upgrade_required_payload(self, hello: Frame) -> dict[str, Any]:
        version = hello.get("payload", {}).get("protocolVersion")
        supported = self.supported_versions or []
        payload: dict[str, Any] = {
            "code": "UPGRADE_REQUIRED",
            "message": f"Protocol version {version} is not supported; this server speaks "
            + ", ".join(map(str, supported)),
            "upgradeUrl": "https://tidings.test/docs/protocol.md",
        }
        if self.list_versions:
            payload["supportedVersions"] = list(supported)
        return payload

    def welcome_payload(self, hello: Frame) -> dict[str, Any]:
        return {
            "connectionId": f"conn-{len(self.connections) - 1}",
            "userId": self.user_id,
            "protocolVersion": hello.get("payload", {}).get("protocolVersion", 1),
            "supportedVersions": [1, 2] if self.supported_versions is None else list(self.supported_versions),
            "heartbeatIntervalMs": self.heartbeat_interval_ms,
            "serverTime": iso_now(),
        }

    async def connect(self, url: str, headers: dict[str, str], timeout: float) -> FakeConnection:
        self.attempts.append((url, headers))
        await asyncio.sleep(0)
        if self._refusals:
            status = self._refusals.popleft()
            if status is None:
                raise TransportError("connection refused")
            raise HandshakeError(f"the server refused the connection with HTTP {status}", status=status)
        connection = FakeConnection(self, url, headers)
        async with self._connected:
            self.connections.append(connection)
            self._connected.notify_all()
        return connection

    @property
    def current(self) -> FakeConnection:
        return self.connections[-1]

    async def next_connection(self, after: int, timeout: float = 2.0) -> FakeConnection:
        """The connection opened after the first `after` ones."""

        async def wait() -> FakeConnection:
            async with self._connected:
                await self._connected.wait_for(lambda: len(self.connections) > after)
                return self.connections[after]

        return await asyncio.wait_for(wait(), timeout)


def message(
    chat_id: str, seq: int, content: str = "hi", sender: str = "bob", message_id: str | None = None
) -> dict[str, Any]:
    """A stored message object as the server sends it."""
    return {
        "messageId": message_id or f"m-{chat_id}-{seq}",
        "chatId": chat_id,
        "seq": seq,
        "senderId": sender,
        "senderName": sender.title(),
        "content": content,
        "replyTo": None,
        "attachments": [],
        "mentions": [],
        "priority": "normal",
        "createdAt": iso_now(),
        "editedAt": None,
        "deleted": False,
        "reactions": {},
    }


def message_new(chat_id: str, seq: int, **kwargs: Any) -> Frame:
    """A `message.new` frame (for `FakeConnection.push_frame` or a sync response's events)."""
    return make_frame("message.new", {"chatId": chat_id, "seq": seq, "message": message(chat_id, seq, **kwargs)})
