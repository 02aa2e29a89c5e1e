"""`TidingsClient`: one user's connection to Tidings, with the protocol's hard parts done.

What it does for you (each one is a rule of the wire protocol):

- **Connects and stays connected.** `hello` first on every connection; a `ping` every
  `heartbeatIntervalMs` (30 s) and a reconnect after 90 s without a `pong`; reconnects with
  backoff (1, 2, 4, 8, 16, 30 s, full jitter) after a drop, at once before API Gateway's 2-hour
  limit, and once with a fresh token after `error UNAUTHORIZED`. Says `hello` with protocol
  version 2; a server that answers `UPGRADE_REQUIRED` listing version 1 gets a reconnect that
  says 1, and the client keeps speaking 1 (see `protocol_version`). `CONNECTION_LIMIT` (the
  user opened a 6th session elsewhere) and `UPGRADE_REQUIRED` with no version in common close
  the client for good.
- **Never loses a mutation.** `send`, `edit`, `delete` and `react` go through an outbox
  (in memory, or a SQLite file that survives restarts): written before they go out, resent with
  the same frame `id` when no ack arrives within 5 s or the connection drops (the server is
  idempotent per id), retried after `retryAfterMs` when `RATE_LIMITED`, and removed on their ack.
  One chat's messages go out one at a time, in order.
- **Delivers chat events in order, once.** Per chat it tracks the last `seq`, holds frames that
  overtook a missing one, fills gaps with `sync.request`, syncs every tracked chat after each
  reconnect (listen first, then sync), refetches over REST when a chat is too far behind, and
  drops duplicates. A `chat.summary` (a busy big chat's messages in a number) syncs that chat
  when it is tracked, so its messages arrive as if posted one by one.
- **Keeps session state.** Renews the token on `token.refresh`; re-sends focus, presence status
  and presence subscriptions after a reconnect and renews subscriptions before they lapse;
  throttles `typing.start` (1 per 3 s per chat) and `read.mark` (1 per s per chat, coalesced);
  debounces `search.suggest` (300 ms).

For tests and tools there is a frame log (`frames`, `wait_for`, `mark`), `request` and
`send_raw`, and a raw mode (`raw=True`) that does none of the above: one connection, no
`hello` unless asked, no retries, no reordering, so a test sees exactly what the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from tidings_client._version import __version__
from tidings_client.backoff import Backoff
from tidings_client.clock import Clock, SystemClock
from tidings_client.errors import (
    ClientClosedError,
    FrameTooLargeError,
    HandshakeError,
    HttpError,
    InfectedError,
    RateLimitedError,
    RequestTimeoutError,
    TidingsError,
    UnauthorizedError,
    UpgradeRequiredError,
    error_from_payload,
)
from tidings_client.frames import (
    TRACE_ID,
    Frame,
    chat_event_position,
    decode,
    encode,
    make_frame,
    new_id,
    payload_of,
    ref_id,
    split_notices,
)
from tidings_client.outbox import MemoryOutbox, OutboxEntry, OutboxStore
from tidings_client.rest import RestClient
from tidings_client.sequencer import Sequencer
from tidings_client.tokens import TokenSource, resolve_token
from tidings_client.transport import Connection, Transport, TransportClosed, TransportError, WebSocketTransport
from tidings_client.uploads import FileSource, Progress

logger = logging.getLogger("tidings_client")

# Version 2: a new message's `message.new` carries the recipient's badge and toast, which the
# client hands on as the `notification.badge` and `notification.toast` events version 1 sends.
PROTOCOL_VERSION = 2
# Every version the client speaks (version 1 sends the badge and toast as their own frames). A
# server that refuses PROTOCOL_VERSION with UPGRADE_REQUIRED gets the highest one it lists of these.
PROTOCOL_VERSIONS = (1, 2)
CLIENT_NAME = f"tidings-python/{__version__}"

# Error frames after which the server closes the connection (API Gateway's close carries no code).
CLOSING_CODES = frozenset({"UNAUTHORIZED", "CONNECTION_LIMIT", "UPGRADE_REQUIRED"})
# Closes after which reconnecting is pointless: the user went elsewhere, or must upgrade (unless
# UPGRADE_REQUIRED lists another protocol version the client speaks: see `_fall_back`).
FINAL_CODES = frozenset({"CONNECTION_LIMIT", "UPGRADE_REQUIRED"})
# Failures worth retrying with the same id (the server did not, or may not have, stored it).
TRANSIENT_CODES = frozenset({"INTERNAL", "UNAVAILABLE"})

MAX_FRAME_BYTES = 64 * 1024  # the server refuses bigger frames (FRAME_TOO_LARGE)
MAX_CHATS_PER_SYNC = 100  # the server's limit per sync.request
MAX_USERS_PER_PRESENCE_FRAME = 100
SCAN_TIMEOUT_SECONDS = 60.0  # an upload's scan: a GuardDuty scan of a large file takes a while
REFETCH_LIMIT = 50  # messages reloaded over REST for a chat too far behind
SERVER_CLOSE_GRACE_SECONDS = 5.0  # after a closing error frame, wait this long for the server's close

Handler = Callable[[Frame], Any]
StateHandler = Callable[["ConnectionState", "ConnectionState"], Any]
T = TypeVar("T")


class ConnectionState(StrEnum):
    CONNECTING = "connecting"  # before the first connection
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # the connection dropped; trying again
    CLOSED = "closed"  # close() was called, or a final error (see `closed_error`)


@dataclass(frozen=True)
class CloseInfo:
    """How a connection ended. `by`: `server` (or the network), `client` (close()),
    `heartbeat` (no pong for 90 s), `max_age` (the planned reconnect before 2 hours)."""

    code: int
    reason: str
    by: Literal["server", "client", "heartbeat", "max_age"]
    error: TidingsError | None = None  # the error frame that preceded the close, if any


@dataclass
class _Link:
    """One WebSocket connection and what belongs to it."""

    conn: Connection
    opened_at: float
    last_pong: float
    closed: asyncio.Future[CloseInfo]
    welcome: dict[str, Any] | None = None
    error: TidingsError | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


@dataclass
class _ReadMarks:
    message_id: str | None = None
    waiters: list[asyncio.Future[dict[str, Any]]] = field(default_factory=list)
    last_sent: float | None = None
    task: asyncio.Task[None] | None = None


class _AuthRefused(Exception):
    """The handshake or the token source refused our credentials."""

    def __init__(self, error: TidingsError) -> None:
        super().__init__(str(error))
        self.error = error


def derive_api_url(url: str) -> str | None:
    """`ws://host:port/ws` (the local runtime's layout) → `http://host:port`; None otherwise
    (on AWS the HTTP API has its own URL: pass `api_url`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.path.rstrip("/").endswith("/ws"):
        return None
    path = parts.path.rstrip("/")[: -len("/ws")]
    return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, path, "", ""))


class TidingsClient:
    """A client of one user. See the module docstring for what it guarantees.

    `url` is the WebSocket URL (`ws://127.0.0.1:8080/ws` for `tidings dev`). `get_token` is a
    token, or a function (sync or async) returning a valid access token; it is called for every
    connection and on every `token.refresh` (`TokenRefresher` refreshes with a refresh token).
    `api_url` is the HTTP API's base URL (derived from a `.../ws` URL when not given), used to
    refetch a chat that is too far behind and available as `client.rest`.
    """

    def __init__(
        self,
        url: str,
        get_token: TokenSource,
        *,
        api_url: str | None = None,
        outbox: OutboxStore | None = None,
        backoff: Backoff | Sequence[float] | None = None,
        raw: bool = False,
        hello: bool | None = None,
        client_name: str = CLIENT_NAME,
        token_in: Literal["header", "query"] = "header",  # noqa: S107  (where the token goes, not a token)
        headers: dict[str, str] | None = None,
        clock: Clock | None = None,
        transport: Transport | None = None,
        ack_timeout: float = 5.0,
        request_timeout: float = 15.0,
        wait_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        heartbeat_timeout: float = 90.0,
        max_connection_age: float = 2 * 3600 - 5 * 60,
        gap_timeout: float = 1.0,
        typing_interval: float = 3.0,
        read_interval: float = 1.0,
        presence_renew_interval: float = 5 * 60,
        suggest_debounce: float = 0.3,
        max_rate_limit_wait: float = 60.0,
        max_transient_retries: int = 5,
        log_size: int | None = 1000,
    ) -> None:
        self.url = url
        self._get_token = get_token
        self.api_url = api_url or derive_api_url(url)
        self.raw = raw
        self.hello = (not raw) if hello is None else hello
        self.client_name = client_name
        self.token_in = token_in
        self.extra_headers = dict(headers or {})
        self.ack_timeout = ack_timeout
        self.request_timeout = request_timeout
        self.wait_timeout = wait_timeout
        self.connect_timeout = connect_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.max_connection_age = max_connection_age
        self.gap_timeout = gap_timeout
        self.typing_interval = typing_interval
        self.read_interval = read_interval
        self.presence_renew_interval = presence_renew_interval
        self.suggest_debounce = suggest_debounce
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_transient_retries = max_transient_retries

        self._clock: Clock = clock or SystemClock()
        self._transport: Transport = transport or WebSocketTransport()
        self._backoff = backoff if isinstance(backoff, Backoff) else Backoff(backoff) if backoff else Backoff()
        self._store: OutboxStore = outbox if outbox is not None else MemoryOutbox()
        self._rest = RestClient(self.api_url, get_token) if self.api_url else None

        self._state = ConnectionState.CONNECTING
        # The version `hello` says: PROTOCOL_VERSION until a server refuses it (UPGRADE_REQUIRED)
        # and lists another one this client speaks; then that one, for every later connection.
        self._protocol_version = PROTOCOL_VERSION
        self.closed_error: TidingsError | None = None  # why the client closed, when not by close()
        self.welcome: dict[str, Any] | None = None  # the current connection's welcome payload
        self.close_info: CloseInfo | None = None  # how the last connection ended

        self._handlers: dict[str, list[Handler]] = {}
        self._state_handlers: list[StateHandler] = []
        self._log: deque[tuple[int, Frame]] = deque(maxlen=log_size)
        self._received = 0
        self.sent: deque[str] = deque(maxlen=log_size)
        self._waiters: list[tuple[Callable[[Frame], bool], int, asyncio.Future[Frame]]] = []
        self._pending: dict[str, tuple[asyncio.Future[Frame], _Link]] = {}

        self._link: _Link | None = None
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        self._started = False
        self._was_connected = False
        self._first: asyncio.Future[None] | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deliveries: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None

        self._sequencer = Sequencer()
        self._gap_timers: dict[str, asyncio.Task[None]] = {}
        self._lanes: dict[str, deque[OutboxEntry]] = {}
        self._lane_tasks: dict[str, asyncio.Task[None]] = {}
        self._results: dict[str, asyncio.Future[dict[str, Any]]] = {}

        self._focus: str | None = None
        self._focus_set = False
        self._presence_status: str | None = None
        self._presence_subscriptions: dict[str, None] = {}
        self._typing_sent: dict[str, float] = {}
        self._reads: dict[str, _ReadMarks] = {}
        self._suggest_query = ""
        self._suggest_waiters: list[asyncio.Future[list[dict[str, Any]]]] = []
        self._suggest_timer: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connection_id(self) -> str | None:
        return self.welcome.get("connectionId") if self.welcome else None

    @property
    def user_id(self) -> str | None:
        return self.welcome.get("userId") if self.welcome else None

    @property
    def protocol_version(self) -> int:
        """The protocol version this client speaks with the server: the one its `hello` says,
        2 (`PROTOCOL_VERSION`) unless a server refused that with `UPGRADE_REQUIRED` and listed
        another one the client speaks (then that one, for the rest of this client's life). 1 for
        a client that does not say `hello` (`hello=False`): the server treats it as version 1."""
        return self._protocol_version if self.hello else 1

    @property
    def rest(self) -> RestClient:
        """The HTTP API with this client's token (needs `api_url`)."""
        if self._rest is None:
            raise ValueError("this client has no api_url; pass api_url= to use the REST API")
        return self._rest

    async def connect(self, timeout: float | None = None) -> None:
        """Opens the connection and returns once it is up (after `welcome`). Retries with
        backoff until then; raises at once for a final refusal (a token refused twice,
        `UPGRADE_REQUIRED` with no protocol version in common; one that lists another version
        the client speaks is not final: it reconnects with that version). With `timeout`,
        raises `RequestTimeoutError` when not connected by then (the client keeps trying until
        `close()`). A raw client tries once, and a refused handshake raises `HandshakeError`
        with its HTTP status (401 and 403 included)."""
        if self._started:
            raise RuntimeError("connect() was already called on this client")
        self._started = True
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="tidings-dispatch")
        if self.raw:
            self._set_state(ConnectionState.CONNECTING)
            try:
                link = await self._open()
            except _AuthRefused as refused:
                self._finish(refused.error)
                raise refused.error from None
            except BaseException as exc:
                self._finish(exc if isinstance(exc, TidingsError) else None)
                raise
            self._attach(link)
            return
        for entry in self._store.load():  # what a previous run left unsent
            self._enqueue(entry, None)
        self._first = asyncio.get_running_loop().create_future()
        self._run_task = asyncio.create_task(self._run(), name="tidings-connection")
        self._spawn(self._renew_presence())
        await self._within(asyncio.shield(self._first), timeout, "not connected")

    async def close(self) -> None:
        """Closes the connection and stops every timer. Mutations not yet acked stay in the
        outbox store (a persistent one sends them at the next start); their awaiting callers
        get `ClientClosedError`. Handlers finish the frames already received. A read mark still
        held back by its 1-second interval goes out first: the user did read up to there."""
        await self._flush_read_marks()
        self._finish(None)
        link = self._link
        if link is not None:
            self._end_link(link, CloseInfo(1000, "closed by the client", "client"))
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        if link is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.conn.close(1000, "bye"), 3)
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._dispatcher is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._dispatcher), 5)
            except TimeoutError:
                self._dispatcher.cancel()

    async def __aenter__(self) -> TidingsClient:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def wait_closed(self, timeout: float | None = None) -> CloseInfo:
        """Waits until the current connection ends (a raw client: until it is closed)."""
        link = self._link
        if link is None:
            if self.close_info is None:
                raise ClientClosedError("not connected")
            return self.close_info
        return await self._within(asyncio.shield(link.closed), timeout, "the connection did not close")

    # --- handlers ----------------------------------------------------------------------------

    def on(self, frame_type: str, handler: Handler) -> Callable[[], None]:
        """Calls `handler(frame)` for every server frame of `frame_type` (`"*"`: every frame),
        sync or async, one frame at a time in arrival order (chat events: in `seq` order, once
        each). Returns a function that removes the handler.

        Besides the server's frames, the client delivers its own events, as frames of these
        types (not in the frame log, not matched by `"*"`):

        - `reset {chatId, reason, headSeq, ...}`: drop what you cached of the chat. `reason`:
          `tooLarge` (too far behind; `messages` are its newest ones from REST, oldest first),
          `headSeqBehind` (the server lost events, e.g. `tidings dev` restarted without its
          data: the chat's events follow again from seq 1; `previousSeq`), `forbidden` (sync
          refused the chat: you were removed; `error`).
        - `synced {chatId, headSeq, readWatermarks, readSummary?}`: a chat's sync finished. In a
          big chat `readWatermarks` lists only your watermark and those of the readers furthest
          ahead, and `readSummary {members, readToHead}` counts the rest.
        - `outbox {action, entry, ack?, error?}`: a mutation was `queued`, `acked` or `failed`
          (also those a persistent outbox kept from a previous run, which no call awaits)."""
        self._handlers.setdefault(frame_type, []).append(handler)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._handlers.get(frame_type, []).remove(handler)

        return unsubscribe

    def on_state(self, handler: StateHandler) -> Callable[[], None]:
        """Calls `handler(new_state, old_state)` on every state change."""
        self._state_handlers.append(handler)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._state_handlers.remove(handler)

        return unsubscribe

    # --- messaging ---------------------------------------------------------------------------

    async def send(
        self,
        chat_id: str,
        content: str,
        *,
        reply_to: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        priority: str | None = None,
        id: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """Sends a message and returns it as stored (the ack's `message`, with `seq`).

        `id` is the frame id (a UUID; one is made when not given). The server stores one
        message per (chat, sender, id), so sending again with the same id (from an earlier
        run, say) returns the original message instead of a second one.

        `trace_id` (8 to 64 of `A-Z a-z 0-9 _ -`, e.g. the bot's own request id) is the id the
        server logs the message under and puts on its frames (`traceId`); without one the
        server makes one. Anything else raises ValueError: the server would replace it."""
        if trace_id is not None and not (isinstance(trace_id, str) and TRACE_ID.fullmatch(trace_id)):
            raise ValueError("trace_id must be 8 to 64 characters of A-Z a-z 0-9 _ -")
        payload: dict[str, Any] = {"chatId": chat_id, "content": content}
        if reply_to is not None:
            payload["replyTo"] = reply_to
        if attachments is not None:
            payload["attachments"] = attachments
        if priority is not None:
            payload["priority"] = priority
        ack = await self._mutation("message.send", payload, f"chat:{chat_id}", id, trace_id)
        self._typing_sent.pop(chat_id, None)  # the server ended our typing; the next keystroke says so again
        message: dict[str, Any] = ack.get("message") or {}
        return message

    async def edit(self, message_id: str, content: str, *, id: str | None = None) -> dict[str, Any]:
        """Edits your message; returns it as it is now."""
        ack = await self._mutation(
            "message.edit", {"messageId": message_id, "content": content}, f"message:{message_id}", id
        )
        message: dict[str, Any] = ack.get("message") or {}
        return message

    async def delete(self, message_id: str, *, id: str | None = None) -> dict[str, Any]:
        """Deletes a message (yours, or any as a chat admin); returns the ack `{chatId, seq, messageId}`."""
        return await self._mutation("message.delete", {"messageId": message_id}, f"message:{message_id}", id)

    async def react(
        self,
        message_id: str,
        emoji: str,
        action: Literal["add", "remove"] = "add",
        *,
        id: str | None = None,
    ) -> dict[str, Any]:
        """Adds or removes a reaction; returns the ack `{chatId, seq, messageId, reactions}`."""
        payload = {"messageId": message_id, "emoji": emoji, "action": action}
        return await self._mutation("message.react", payload, f"message:{message_id}", id)

    async def mark_read(self, chat_id: str, message_id: str) -> dict[str, Any]:
        """Marks a chat read up to `message_id`. At most one `read.mark` per `read_interval`
        (1 s) per chat goes out, carrying the latest id asked for; every call returns the ack
        of the one that covered it."""
        if self.raw:
            return await self._request_ok("read.mark", {"chatId": chat_id, "messageId": message_id})
        self._check_open()
        marks = self._reads.setdefault(chat_id, _ReadMarks())
        marks.message_id = message_id
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        marks.waiters.append(waiter)
        if marks.task is None:
            marks.task = self._spawn(self._send_read_marks(chat_id, marks))
        return await waiter

    async def typing(self, chat_id: str) -> bool:
        """Call on every keystroke: sends `typing.start` at most once per `typing_interval`
        (3 s) per chat, only while connected. True when a frame went out. A raw client sends
        one on every call (the server's own limit is then what a test sees)."""
        now = self._clock.monotonic()
        last = self._typing_sent.get(chat_id)
        if not self.raw and last is not None and now - last < self.typing_interval:
            return False
        link = self._current_link()
        if link is None:
            return False
        try:
            await self._write(link, make_frame("typing.start", {"chatId": chat_id}))
        except ClientClosedError:
            return False
        self._typing_sent[chat_id] = now
        return True

    async def stop_typing(self, chat_id: str) -> None:
        """Sends `typing.stop` (the server also ends typing 5 s after the last start)."""
        self._typing_sent.pop(chat_id, None)
        link = self._current_link()
        if link is not None:
            with contextlib.suppress(ClientClosedError):
                await self._write(link, make_frame("typing.stop", {"chatId": chat_id}))

    # --- session state -----------------------------------------------------------------------

    async def focus(self, chat_id: str | None) -> dict[str, Any] | None:
        """The chat this connection shows (None: none). Kept and re-sent after every
        reconnect. Returns the ack, or None when not connected (sent once connected)."""
        self._focus, self._focus_set = chat_id, True
        if self.raw or self._current_link() is not None:
            return await self._request_ok("chat.focus", {"chatId": chat_id})
        return None

    async def set_presence(self, status: str) -> dict[str, Any] | None:
        """`presence.update` (`available`, `away`, `dnd`, `brb`, `offline`, `in_a_meeting`).
        A chosen status other than `available` is re-sent after a reconnect (the server forgets
        it when the user's last connection closes). Returns the ack, or None when not connected."""
        self._presence_status = status
        if self.raw or self._current_link() is not None:
            return await self._request_ok("presence.update", {"status": status})
        return None

    async def subscribe_presence(self, user_ids: Iterable[str]) -> dict[str, Any] | None:
        """Follows these users' presence (`presence.changed` frames). The subscriptions are
        renewed every `presence_renew_interval` (5 min; the server lets them lapse after 10)
        and re-sent after every reconnect, until `unsubscribe_presence`."""
        ids = list(dict.fromkeys(user_ids))
        self._presence_subscriptions.update(dict.fromkeys(ids))
        if self.raw or self._current_link() is not None:
            return await self._presence_frames("presence.subscribe", ids)
        return None

    async def unsubscribe_presence(self, user_ids: Iterable[str]) -> dict[str, Any] | None:
        ids = list(dict.fromkeys(user_ids))
        for user_id in ids:
            self._presence_subscriptions.pop(user_id, None)
        if self.raw or self._current_link() is not None:
            return await self._presence_frames("presence.unsubscribe", ids)
        return None

    async def _presence_frames(self, frame_type: str, user_ids: list[str]) -> dict[str, Any] | None:
        ack = None
        for start in range(0, len(user_ids), MAX_USERS_PER_PRESENCE_FRAME):
            ack = await self._request_ok(
                frame_type, {"userIds": user_ids[start : start + MAX_USERS_PER_PRESENCE_FRAME]}
            )
        return ack

    # --- attachments --------------------------------------------------------------------------

    async def upload(
        self,
        chat_id: str,
        source: FileSource,
        *,
        name: str | None = None,
        content_type: str | None = None,
        wait_scanned: bool = True,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Uploads a file to a chat (`rest.upload_attachment`: the upload form, then the POST to
        S3) and returns its `attachmentId`, to send as `send(..., attachments=[{"attachmentId":
        id}])`. With `wait_scanned` (the default) it returns once the scan has found the file
        clean (`attachment.scanned`, within `timeout` seconds, default 60), and raises
        `InfectedError` when it was found infected; without, the attachment may still be
        `pending` (a send of it is refused with `CONFLICT` until it is clean)."""
        mark = self.mark()  # the verdict may come before the POST's answer
        ticket = await self.rest.upload_attachment(
            chat_id, source, name=name, content_type=content_type, progress=progress
        )
        attachment_id: str = ticket["attachmentId"]
        if wait_scanned:
            scanned = await self.wait_for(
                "attachment.scanned",
                lambda frame: frame["payload"]["attachmentId"] == attachment_id,
                timeout=SCAN_TIMEOUT_SECONDS if timeout is None else timeout,
                after=mark,
            )
            if scanned["payload"].get("status") != "clean":
                raise InfectedError(f"attachment {attachment_id!r} was found infected and deleted", frame=scanned)
        return attachment_id

    # --- search ------------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        scope: str | None = None,
        chat_id: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """`search.query`; returns the `search.results` payload `{results, total, cursor}`."""
        payload: dict[str, Any] = {"query": query}
        for name, value in (("scope", scope), ("chatId", chat_id), ("cursor", cursor), ("limit", limit)):
            if value is not None:
                payload[name] = value
        return await self._request_ok("search.query", payload)

    async def suggest(self, query: str) -> list[dict[str, Any]]:
        """Suggestions while typing, debounced: the request goes out `suggest_debounce`
        (300 ms) after the last call, for the last query, and every waiting call gets its
        suggestions. Under 2 characters: `[]` without asking. A raw client asks at once, for
        every query."""
        if self.raw:
            return await self._suggestions(query)
        self._suggest_query = query
        waiter: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._suggest_waiters.append(waiter)
        if self._suggest_timer is not None:
            self._suggest_timer.cancel()
        self._suggest_timer = self._spawn(self._suggest_after_quiet())
        return await waiter

    async def _suggest_after_quiet(self) -> None:
        await self._clock.sleep(self.suggest_debounce)
        self._suggest_timer = None  # from here on a new call starts a new round
        query, waiters = self._suggest_query, self._suggest_waiters
        self._suggest_waiters = []
        try:
            suggestions = [] if len(query.strip()) < 2 else await self._suggestions(query)
        except TidingsError as exc:
            _settle(waiters, error=exc)
            return
        _settle(waiters, suggestions)

    async def _suggestions(self, query: str) -> list[dict[str, Any]]:
        suggestions: list[dict[str, Any]] = (await self._request_ok("search.suggest", {"query": query})).get(
            "suggestions"
        ) or []
        return suggestions

    # --- sync --------------------------------------------------------------------------------

    def track(self, chat_id: str, last_seq: int) -> None:
        """Sets the last `seq` you have of a chat (from your cache, or `headSeq` of
        `GET /api/chats` after loading its history). Later events arrive in order from there,
        and it is synced after every reconnect. Chats are also tracked from their first event."""
        self._sequencer.track(chat_id, last_seq)

    def untrack(self, chat_id: str) -> None:
        """Stops tracking a chat (it is tracked again from its next event)."""
        self._sequencer.forget(chat_id)

    def watermarks(self) -> dict[str, int]:
        """The last `seq` applied per chat: persist it with your cache and `track` it again."""
        return self._sequencer.watermarks()

    async def sync(self, chat_id: str | None = None) -> None:
        """Catches up now: syncs one chat (untracked: from its first event) or every tracked
        chat; the events reach the handlers as usual."""
        if chat_id is not None:
            chats = {chat_id: self._sequencer.watermarks().get(chat_id, 0)}
        else:
            chats = self._sequencer.watermarks()
        if not chats:
            return
        link = await self._wait_connected(self.request_timeout)
        await self._sync(link, dict(chats), raise_errors=True)

    def pending_outbox(self) -> list[OutboxEntry]:
        """Mutations not yet acknowledged, oldest first."""
        return self._store.load()

    # --- tests and tools ---------------------------------------------------------------------

    @property
    def frames(self) -> list[Frame]:
        """Every server frame received (the last `log_size`), oldest first."""
        return [frame for _, frame in self._log]

    def of_type(self, frame_type: str, *, after: int | None = None) -> list[Frame]:
        """The logged server frames of `frame_type` (from the `after` mark on), oldest first."""
        return [frame for frame in self.frames_after(after) if frame.get("type") == frame_type]

    def frames_after(self, mark: int | None) -> list[Frame]:
        """The logged server frames received since `mark` (from `mark()`; None: all), oldest first."""
        start = 0 if mark is None else mark
        return [frame for index, frame in self._log if index >= start]

    def mark(self) -> int:
        """A position in the frame log: `wait_for(..., after=mark)` ignores earlier frames."""
        return self._received

    async def wait_for(
        self,
        match: str | Callable[[Frame], bool],
        where: Callable[[Frame], bool] | None = None,
        *,
        timeout: float | None = None,
        after: int | None = None,
    ) -> Frame:
        """The first logged server frame (from `after` on) of type `match` (or for which
        `match(frame)` is true) that also satisfies `where`; waits up to `timeout` seconds
        (default: the client's `wait_timeout`, 10 s). A predicate that raises
        KeyError/TypeError/IndexError counts as no match."""
        timeout = self.wait_timeout if timeout is None else timeout

        def predicate(frame: Frame) -> bool:
            try:
                matched = frame.get("type") == match if isinstance(match, str) else bool(match(frame))
                return matched and (where is None or bool(where(frame)))
            except (KeyError, TypeError, IndexError):
                return False

        start = 0 if after is None else after
        for index, frame in self._log:
            if index >= start and predicate(frame):
                return frame
        if self._state is ConnectionState.CLOSED:
            raise ClientClosedError("the client is closed")
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        entry = (predicate, start, waiter)
        self._waiters.append(entry)
        try:
            return await self._within(waiter, timeout, f"no matching frame within {timeout} s")
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    async def request(
        self,
        frame_type: str,
        payload: dict[str, Any],
        id: str | None = None,
        *,
        timeout: float | None = None,
        trace_id: str | None = None,
    ) -> Frame:
        """Sends one frame as it is (with `traceId` when `trace_id` is given) and returns its one
        reply frame (`ack`, `error`, `pong`, `welcome`, `sync.response`, ...), whatever it says.
        Not retried."""
        timeout = self.request_timeout if timeout is None else timeout
        link = await self._wait_connected(timeout)
        return await self._request_on(link, frame_type, payload, id, timeout, trace_id)

    async def send_raw(self, text: str) -> None:
        """Sends `text` as one WebSocket message on the current connection, unchanged."""
        link = await self._wait_connected(self.request_timeout)
        try:
            await link.conn.send(text)
        except TransportClosed as exc:
            raise ClientClosedError(f"the connection is closed ({exc.code})") from exc
        self.sent.append(text)

    # --- the connection loop -----------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        auth_retried = False
        fell_back = False  # the protocol version changed since the last welcome
        while True:
            self._set_state(ConnectionState.RECONNECTING if self._was_connected else ConnectionState.CONNECTING)
            self._sequencer.begin_sync(list(self._sequencer.watermarks()))  # listen first, then sync
            try:
                link = await self._open()
            except _AuthRefused as refused:
                if not auth_retried:
                    auth_retried = True
                    continue  # at once, with a fresh token
                self._finish(refused.error)
                return
            except UpgradeRequiredError as exc:
                if not self._fall_back(exc):
                    self._finish(exc)
                    return
                if fell_back:  # servers disagreeing about versions (a mixed fleet): not in a tight loop
                    delay = self._backoff.delay(attempt)
                    attempt += 1
                    await self._clock.sleep(delay)
                fell_back = True
                continue  # at once, with the version the server listed
            except (TidingsError, TransportError, TransportClosed, OSError) as exc:
                delay = self._backoff.delay(attempt)
                attempt += 1
                logger.info("connecting failed (%s); next attempt in %.1f s", exc, delay)
                await self._clock.sleep(delay)
                continue
            attempt, auth_retried, fell_back = 0, False, False
            self._was_connected = True
            self._attach(link)
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            info = await asyncio.shield(link.closed)
            self._detach(link)
            if info.error is not None and info.error.code in FINAL_CODES:
                if self._fall_back(info.error):
                    fell_back = True
                    continue
                self._finish(info.error)
                return
            if info.error is not None and info.error.code == "UNAUTHORIZED":
                auth_retried = True
                logger.info("the server ended the session (UNAUTHORIZED); reconnecting with a fresh token")
                continue
            if info.by == "max_age":
                continue
            self._set_state(ConnectionState.RECONNECTING)
            delay = self._backoff.delay(attempt)
            attempt += 1
            logger.info("connection lost (%s %s); reconnecting in %.1f s", info.code, info.reason, delay)
            await self._clock.sleep(delay)

    async def _open(self) -> _Link:
        """Connects, then `hello` → `welcome`. Raises _AuthRefused for refused credentials."""
        try:
            token = await resolve_token(self._get_token)
        except HttpError as exc:
            if exc.status in (400, 401, 403):
                raise _AuthRefused(UnauthorizedError(f"get_token failed: {exc}")) from exc
            raise
        url, headers = self.url, dict(self.extra_headers)
        if self.token_in == "query":
            url += ("&" if "?" in url else "?") + "token=" + quote(token, safe="")
        else:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn = await self._transport.connect(url, headers, self.connect_timeout)
        except HandshakeError as exc:
            if exc.status in (401, 403) and not self.raw:  # a raw client reports the status as it is
                raise _AuthRefused(UnauthorizedError(str(exc), frame=None)) from exc
            raise
        now = self._clock.monotonic()
        link = _Link(conn=conn, opened_at=now, last_pong=now, closed=asyncio.get_running_loop().create_future())
        self._link_task(link, self._read(link))
        if not self.hello:
            return link
        try:
            reply = await self._request_on(
                link,
                "hello",
                {"protocolVersion": self._protocol_version, "client": self.client_name},
                None,
                self.connect_timeout,
            )
        except BaseException:
            self._end_link(link, CloseInfo(1000, "hello failed", "client"))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 3)
            raise
        error = _reply_error(reply)
        if error is not None:
            self._end_link(link, CloseInfo(1000, "hello refused", "client", error))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 3)
            raise error
        link.welcome = payload_of(reply)
        return link

    def _fall_back(self, error: TidingsError) -> bool:
        """After `UPGRADE_REQUIRED`: switches to the highest protocol version that both the
        client and the server (its `supportedVersions`) speak and returns True (reconnect with
        it). False, and nothing changes, when they have none in common, the frame lists none, or
        the best is the version just refused (the refusal is final then)."""
        if not isinstance(error, UpgradeRequiredError):
            return False
        common = set(PROTOCOL_VERSIONS) & set(error.supported_versions or ())
        if not common or max(common) == self._protocol_version:
            return False
        refused, self._protocol_version = self._protocol_version, max(common)
        logger.info(
            "the server does not speak protocol version %d (it speaks %s); reconnecting with version %d",
            refused,
            ", ".join(map(str, error.supported_versions or ())),
            self._protocol_version,
        )
        return True

    def _attach(self, link: _Link) -> None:
        self._link = link
        self.welcome = link.welcome
        self._set_state(ConnectionState.CONNECTED)
        if self.raw:
            return
        self._link_task(link, self._heartbeat(link))
        self._link_task(link, self._expire(link))
        self._connected.set()
        self._link_task(link, self._resume(link))

    def _detach(self, link: _Link) -> None:
        if self._link is link:
            self._link = None
        self._connected.clear()
        for timer in self._gap_timers.values():
            timer.cancel()
        self._gap_timers.clear()

    def _end_link(self, link: _Link, info: CloseInfo) -> None:
        """Marks a connection ended: its replies will not come, its timers stop."""
        if link.closed.done():
            return
        if info.error is None and link.error is not None:
            info = CloseInfo(info.code, info.reason, info.by, link.error)
        self.close_info = info
        link.closed.set_result(info)
        for frame_id, (future, owner) in list(self._pending.items()):
            if owner is link:
                del self._pending[frame_id]
                if not future.done():
                    future.set_exception(ClientClosedError("the connection closed before the reply"))
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current:
                task.cancel()
        if info.by != "server":
            self._spawn(self._close_quietly(link.conn))
        if self.raw:
            self._finish(info.error)

    async def _close_quietly(self, conn: Connection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(1000, ""), 3)

    def _finish(self, error: TidingsError | None) -> None:
        """The client is closed: for good (`error`), or by close()."""
        if self._state is ConnectionState.CLOSED:
            return
        if error is not None:
            self.closed_error = error
            logger.warning("client closed: %s", error)
        self._set_state(ConnectionState.CLOSED)
        self._closed.set()
        self._connected.clear()
        failure = error or ClientClosedError("the client is closed")
        if self._first is not None and not self._first.done():
            self._first.set_exception(failure)
            self._first.exception()  # retrieved: connect() may not be waiting any more
        _settle(self._results.values(), error=ClientClosedError("the client closed before the ack"))
        for marks in self._reads.values():
            _settle(marks.waiters, error=ClientClosedError("the client closed before the ack"))
        _settle([waiter for _, _, waiter in self._waiters], error=ClientClosedError("the client is closed"))
        current = asyncio.current_task()
        for task in list(self._tasks) + list(self._lane_tasks.values()):
            if task is not current and task is not self._run_task:
                task.cancel()
        self._deliveries.put_nowait(None)  # the dispatcher stops after what is queued

    async def _read(self, link: _Link) -> None:
        try:
            while True:
                self._receive(link, await link.conn.recv())
        except TransportClosed as closed:
            self._end_link(link, CloseInfo(closed.code, closed.reason, "server"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not leave a dead link looking alive
            logger.exception("reading the connection failed")
            self._end_link(link, CloseInfo(1006, str(exc), "server"))

    def _receive(self, link: _Link, text: str) -> None:
        frame = decode(text)
        if frame is None:
            logger.warning("ignored a server message that is not a JSON object: %.200s", text)
            return
        # A raw client sees the wire as it is; any other sees (and logs) version 1's frames.
        frame, notices = (frame, []) if self.raw else split_notices(frame)
        self._record(frame)
        self._handle(link, frame)
        for notice in notices:  # after their message, as version 1 posts them
            self._record(notice)
            self._deliver(notice)

    def _handle(self, link: _Link, frame: Frame) -> None:
        frame_type = frame.get("type")
        reference = ref_id(frame)
        if reference is not None:
            pending = self._pending.pop(reference, None)
            if pending is not None and not pending[0].done():
                pending[0].set_result(frame)
        if frame_type == "pong":
            link.last_pong = self._clock.monotonic()
        elif frame_type == "error":
            code = payload_of(frame).get("code")
            if code in CLOSING_CODES:
                link.error = error_from_payload(payload_of(frame), frame)
                if not self.raw:
                    self._link_task(link, self._close_after_grace(link))
        if not self.raw:
            if frame_type == "token.refresh":
                self._link_task(link, self._renew_token(link))
            elif frame_type == "chat.removed":
                chat_id = payload_of(frame).get("chatId")
                if isinstance(chat_id, str):
                    self._sequencer.forget(chat_id)
            elif frame_type == "chat.summary":
                self._link_task(link, self._catch_up(link, payload_of(frame)))
            if chat_event_position(frame) is not None:
                self._sequence(frame)
                return
        self._deliver(frame)

    async def _close_after_grace(self, link: _Link) -> None:
        """The server closes right after a closing error frame; if it does not, we do."""
        await self._clock.sleep(SERVER_CLOSE_GRACE_SECONDS)
        self._end_link(link, CloseInfo(1000, "closed after a closing error frame", "client"))

    async def _heartbeat(self, link: _Link) -> None:
        interval_ms = (link.welcome or {}).get("heartbeatIntervalMs")
        interval = interval_ms / 1000 if isinstance(interval_ms, int | float) and interval_ms > 0 else 30.0
        last_ping = self._clock.monotonic()
        while True:
            now = self._clock.monotonic()
            deadline = link.last_pong + self.heartbeat_timeout
            if now >= deadline:
                logger.info("no pong for %.0f s: reconnecting", self.heartbeat_timeout)
                self._end_link(link, CloseInfo(1000, "heartbeat timeout", "heartbeat"))
                return
            if now >= last_ping + interval:
                last_ping = now
                try:
                    await self._write(link, make_frame("ping", {}))
                except ClientClosedError:
                    return
            await self._clock.sleep(max(0.0, min(last_ping + interval, deadline) - self._clock.monotonic()))

    async def _expire(self, link: _Link) -> None:
        await self._clock.sleep(self.max_connection_age)
        logger.info("reconnecting before the gateway's maximum connection duration")
        self._end_link(link, CloseInfo(1000, "maximum connection age", "max_age"))

    async def _renew_token(self, link: _Link) -> None:
        try:
            token = await resolve_token(self._get_token)
            reply = await self._request_on(link, "auth.renew", {"token": token}, None, self.request_timeout)
        except Exception as exc:
            logger.warning("renewing the token failed: %s", exc)
            return
        error = _reply_error(reply)
        if error is not None:
            logger.warning("auth.renew refused: %s", error)

    async def _resume(self, link: _Link) -> None:
        """After every (re)connect: sync the tracked chats, then restore the session state."""
        chats = self._sequencer.watermarks()
        if chats:
            await self._sync(link, chats, raise_errors=False)
        try:
            if self._focus_set and self._focus is not None:
                await self._request_on(link, "chat.focus", {"chatId": self._focus}, None, self.request_timeout)
            if self._presence_status is not None and self._presence_status != "available":
                await self._request_on(
                    link, "presence.update", {"status": self._presence_status}, None, self.request_timeout
                )
            await self._send_subscriptions(link)
        except TidingsError as exc:
            logger.warning("restoring the session state failed: %s", exc)

    async def _send_subscriptions(self, link: _Link) -> None:
        ids = list(self._presence_subscriptions)
        for start in range(0, len(ids), MAX_USERS_PER_PRESENCE_FRAME):
            chunk = ids[start : start + MAX_USERS_PER_PRESENCE_FRAME]
            await self._request_on(link, "presence.subscribe", {"userIds": chunk}, None, self.request_timeout)

    async def _renew_presence(self) -> None:
        while True:
            await self._clock.sleep(self.presence_renew_interval)
            link = self._current_link()
            if link is not None and self._presence_subscriptions:
                try:
                    await self._send_subscriptions(link)
                except TidingsError as exc:
                    logger.warning("renewing presence subscriptions failed: %s", exc)

    # --- chat events -------------------------------------------------------------------------

    def _sequence(self, frame: Frame) -> None:
        for ready in self._sequencer.live(frame):
            self._deliver(ready)
        position = chat_event_position(frame)
        if position is not None:
            self._watch_gap(position[0])

    def _watch_gap(self, chat_id: str) -> None:
        if self._sequencer.has_gap(chat_id) and chat_id not in self._gap_timers and self._current_link():
            self._gap_timers[chat_id] = self._spawn(self._fill_gap(chat_id))

    async def _fill_gap(self, chat_id: str) -> None:
        try:
            await self._clock.sleep(self.gap_timeout)  # the missing frame may just be late
            for ready in self._sequencer.skip_holes(chat_id):  # what sync did not return is a hole
                self._deliver(ready)
            link = self._current_link()
            last_seq = self._sequencer.watermarks().get(chat_id)
            if link is None or last_seq is None or not self._sequencer.has_gap(chat_id):
                return
            logger.info("gap in chat %s after seq %d: syncing", chat_id, last_seq)
            await self._sync(link, {chat_id: last_seq}, raise_errors=False, single=True)
        finally:
            if self._gap_timers.get(chat_id) is asyncio.current_task():
                del self._gap_timers[chat_id]
        self._watch_gap(chat_id)  # frames past another gap may still be waiting

    async def _catch_up(self, link: _Link, summary: dict[str, Any]) -> None:
        """After a `chat.summary`: syncs a tracked chat up to its `lastSeq`, unless a sync or a
        gap's timer is on it already (an untracked chat is fetched when the app opens it)."""
        chat_id, last_seq = summary.get("chatId"), summary.get("lastSeq")
        if not isinstance(chat_id, str) or not isinstance(last_seq, int):
            return
        known = self._sequencer.watermarks().get(chat_id)
        if known is None or known >= last_seq or self._sequencer.is_syncing(chat_id) or chat_id in self._gap_timers:
            return
        logger.info("chat %s summarised up to seq %d: syncing from %d", chat_id, last_seq, known)
        await self._sync(link, {chat_id: known}, raise_errors=False, single=True)

    async def _sync(self, link: _Link, chats: dict[str, Any], *, raise_errors: bool, single: bool = False) -> None:
        """Syncs `chats` (chatId → lastKnownSeq or cursor) until none has more, delivering the
        events through the sequencer."""
        self._sequencer.begin_sync(list(chats))
        todo = dict(chats)
        try:
            while todo:
                batch = dict(islice(todo.items(), MAX_CHATS_PER_SYNC))
                for chat_id in batch:
                    del todo[chat_id]
                if single and len(batch) == 1:
                    ((chat_id, position),) = batch.items()
                    key = "cursor" if isinstance(position, str) else "lastKnownSeq"
                    payload: dict[str, Any] = {"chatId": chat_id, key: position}
                else:
                    payload = {"chats": batch}
                reply = await self._request_on(link, "sync.request", payload, None, self.request_timeout)
                error = _reply_error(reply)
                if error is not None:
                    raise error
                body = payload_of(reply)
                entries = body["chats"] if isinstance(body.get("chats"), list) else [body]
                for entry in entries:
                    if isinstance(entry, dict):
                        follow_up = await self._apply_sync_entry(entry)
                        if follow_up is not None:
                            todo[entry["chatId"]] = follow_up
                for badge in body.get("badges") or []:
                    self._deliver(make_frame("notification.badge", badge))
                for presence in body.get("presence") or []:
                    self._deliver(make_frame("presence.changed", presence))
        except (TidingsError, asyncio.CancelledError) as exc:
            for chat_id in list(chats) + list(todo):
                if self._sequencer.is_syncing(chat_id):
                    for ready in self._sequencer.end_sync(chat_id):
                        self._deliver(ready)
            if isinstance(exc, asyncio.CancelledError):
                raise
            logger.warning("sync failed: %s", exc)
            if raise_errors:
                raise

    async def _apply_sync_entry(self, entry: dict[str, Any]) -> int | str | None:
        """Applies one chat's sync result; returns what to ask next for it (a cursor, or 0
        after a reset), or None when it is done."""
        chat_id = entry["chatId"]
        previous = self._sequencer.watermarks().get(chat_id)
        outcome = self._sequencer.apply_sync(entry)
        for ready in outcome.deliver:
            self._deliver(ready)
        self._watch_gap(chat_id)
        if outcome.removed is not None:
            self._emit("reset", {"chatId": chat_id, "reason": "forbidden", "error": outcome.removed})
            return None
        if outcome.reset:
            logger.warning("chat %s: the server's headSeq went back from %s to %s", chat_id, previous, outcome.head_seq)
            reset = {"chatId": chat_id, "reason": "headSeqBehind", "headSeq": outcome.head_seq, "previousSeq": previous}
            self._emit("reset", reset)
            return 0
        if outcome.too_large:
            await self._refetch(chat_id, outcome.head_seq or 0)
            return None
        if outcome.cursor is None:
            synced = {
                "chatId": chat_id,
                "headSeq": outcome.head_seq,
                "readWatermarks": entry.get("readWatermarks") or {},
            }
            if isinstance(entry.get("readSummary"), dict):  # a big chat: the watermarks are a part
                synced["readSummary"] = entry["readSummary"]
            self._emit("synced", synced)
        return outcome.cursor

    async def _refetch(self, chat_id: str, head_seq: int) -> None:
        """A chat more than 500 events behind: its newest messages come from REST instead."""
        payload: dict[str, Any] = {"chatId": chat_id, "reason": "tooLarge", "headSeq": head_seq, "messages": None}
        message_ids: list[str] = []
        if self._rest is not None:
            try:
                page = await self._rest.messages(chat_id, limit=REFETCH_LIMIT)
                messages = list(reversed(page.get("messages") or []))
                payload["messages"] = messages
                message_ids = [m["messageId"] for m in messages if isinstance(m, dict) and "messageId" in m]
            except (TidingsError, OSError) as exc:
                logger.warning("refetching chat %s over REST failed: %s", chat_id, exc)
                payload["error"] = {"code": getattr(exc, "code", "ERROR"), "message": str(exc)}
        self._emit("reset", payload)
        for ready in self._sequencer.reset_to(chat_id, head_seq, message_ids):
            self._deliver(ready)

    # --- the outbox --------------------------------------------------------------------------

    async def _mutation(
        self, frame_type: str, payload: dict[str, Any], lane: str, frame_id: str | None, trace_id: str | None = None
    ) -> dict[str, Any]:
        if self.raw:
            return await self._request_ok(frame_type, payload, frame_id, trace_id)
        self._check_open()
        entry = OutboxEntry(frame_id or new_id(), frame_type, payload, lane, self._clock.time(), trace_id)
        size = len(encode(make_frame(frame_type, payload, entry.id, trace_id)).encode())
        if size > MAX_FRAME_BYTES:  # the server would refuse it on every retry: not worth keeping
            raise FrameTooLargeError(f"the frame is {size} bytes; the server takes at most {MAX_FRAME_BYTES}")
        result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._store.add(entry)
        self._enqueue(entry, result)
        return await result

    def _enqueue(self, entry: OutboxEntry, result: asyncio.Future[dict[str, Any]] | None) -> None:
        if result is not None:
            self._results[entry.id] = result
            self._emit("outbox", {"action": "queued", "entry": entry})
        self._lanes.setdefault(entry.lane, deque()).append(entry)
        if entry.lane not in self._lane_tasks:
            self._lane_tasks[entry.lane] = asyncio.create_task(self._drain_lane(entry.lane))

    async def _drain_lane(self, lane: str) -> None:
        """Sends one lane's entries one at a time: the next only after the previous one's ack."""
        queue = self._lanes[lane]
        try:
            while queue:
                entry = queue[0]
                try:
                    ack: dict[str, Any] | None = await self._mutate(entry.id, entry.type, entry.payload, entry.trace_id)
                    error: TidingsError | None = None
                except ClientClosedError:
                    return  # stays in the store for the next start
                except TidingsError as exc:
                    ack, error = None, exc
                self._store.remove(entry.id)
                queue.popleft()
                if ack is not None:
                    self._own_event(entry, ack)
                    self._emit("outbox", {"action": "acked", "entry": entry, "ack": ack})
                else:
                    self._emit("outbox", {"action": "failed", "entry": entry, "error": error})
                result = self._results.pop(entry.id, None)
                if result is not None and not result.done():
                    if error is not None:
                        result.set_exception(error)
                    else:
                        result.set_result(ack or {})
                elif error is not None:
                    logger.warning("a pending %s (id %s) failed: %s", entry.type, entry.id, error)
        finally:
            if not queue:
                self._lanes.pop(lane, None)
            self._lane_tasks.pop(lane, None)

    async def _mutate(
        self, frame_id: str, frame_type: str, payload: dict[str, Any], trace_id: str | None = None
    ) -> dict[str, Any]:
        """Sends a mutation until it is acked: same id (and trace id) on every attempt."""
        transient_failures = 0
        while True:
            link = await self._wait_connected(None)
            try:
                reply = await self._request_on(link, frame_type, payload, frame_id, self.ack_timeout, trace_id)
            except RequestTimeoutError:
                continue  # no ack in time: again, same id
            except ClientClosedError:
                if self._state is ConnectionState.CLOSED:
                    raise
                continue  # the connection went: again, same id, on the next one
            error = _reply_error(reply)
            if error is None:
                return payload_of(reply)
            if isinstance(error, RateLimitedError):
                wait = (error.retry_after_ms or 1000) / 1000
                if wait <= self.max_rate_limit_wait:
                    await self._clock.sleep(wait)
                    continue
            elif error.code in TRANSIENT_CODES and transient_failures < self.max_transient_retries:
                await self._clock.sleep(self._backoff.delay(transient_failures))
                transient_failures += 1
                continue
            raise error

    def _own_event(self, entry: OutboxEntry, ack: dict[str, Any]) -> None:
        """Our own acked change is a chat event like anyone's: feed it to the sequencer (the
        echo the server may also send is then a duplicate), so handlers see it in order."""
        seq = ack.get("seq")
        chat_id = ack.get("chatId")
        frame: Frame | None = None
        if entry.type == "message.send":
            message = ack.get("message")
            if isinstance(message, dict):
                payload = {"chatId": message.get("chatId"), "seq": message.get("seq"), "message": message}
                frame = make_frame("message.new", payload)
        elif isinstance(seq, int) and isinstance(chat_id, str):
            if entry.type == "message.edit":
                frame = make_frame("message.updated", {"chatId": chat_id, "seq": seq, "message": ack.get("message")})
            elif entry.type == "message.delete":
                frame = make_frame(
                    "message.deleted", {"chatId": chat_id, "seq": seq, "messageId": ack.get("messageId")}
                )
            elif entry.type == "message.react":
                fields = {"messageId": ack.get("messageId"), "reactions": ack.get("reactions")}
                frame = make_frame("message.reaction", {"chatId": chat_id, "seq": seq, **fields})
        if frame is not None and chat_event_position(frame) is not None:
            self._sequence(frame)

    async def _send_read_marks(self, chat_id: str, marks: _ReadMarks) -> None:
        try:
            while marks.message_id is not None:
                if marks.last_sent is not None:
                    await self._clock.sleep(marks.last_sent + self.read_interval - self._clock.monotonic())
                message_id, waiters = marks.message_id, marks.waiters
                marks.message_id, marks.waiters = None, []
                marks.last_sent = self._clock.monotonic()
                try:
                    ack = await self._mutate(new_id(), "read.mark", {"chatId": chat_id, "messageId": message_id})
                except TidingsError as exc:
                    _settle(waiters, error=exc)
                    continue
                _settle(waiters, ack)
        finally:
            marks.task = None

    async def _flush_read_marks(self) -> None:
        """Sends, once and without waiting for their interval, the read marks not yet sent."""
        link = self._current_link()
        if link is None:
            return
        for chat_id, marks in self._reads.items():
            if marks.message_id is None:
                continue
            message_id, waiters = marks.message_id, marks.waiters
            marks.message_id, marks.waiters = None, []
            payload = {"chatId": chat_id, "messageId": message_id}
            try:
                reply = await self._request_on(link, "read.mark", payload, new_id(), self.ack_timeout)
            except TidingsError as exc:
                _settle(waiters, error=exc)
                continue
            error = _reply_error(reply)
            if error is None:
                _settle(waiters, payload_of(reply))
            else:
                _settle(waiters, error=error)

    # --- plumbing ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is ConnectionState.CLOSED:
            raise ClientClosedError("the client is closed")
        if not self._started:
            raise ClientClosedError("call connect() first")

    def _current_link(self) -> _Link | None:
        link = self._link
        if link is None or link.closed.done():
            return None
        if not self.raw and not self._connected.is_set():
            return None
        return link

    async def _wait_connected(self, timeout: float | None) -> _Link:
        """The current connection, once there is one (a raw client does not wait)."""
        while True:
            self._check_open()
            link = self._current_link()
            if link is not None:
                return link
            if self.raw:
                raise ClientClosedError("not connected")
            connected = asyncio.ensure_future(self._connected.wait())
            closed = asyncio.ensure_future(self._closed.wait())
            try:
                await self._within(
                    asyncio.wait({connected, closed}, return_when=asyncio.FIRST_COMPLETED), timeout, "not connected"
                )
            finally:
                connected.cancel()
                closed.cancel()

    async def _request_ok(
        self, frame_type: str, payload: dict[str, Any], frame_id: str | None = None, trace_id: str | None = None
    ) -> dict[str, Any]:
        reply = await self.request(frame_type, payload, frame_id, trace_id=trace_id)
        error = _reply_error(reply)
        if error is not None:
            raise error
        return payload_of(reply)

    async def _request_on(
        self,
        link: _Link,
        frame_type: str,
        payload: dict[str, Any],
        frame_id: str | None,
        timeout: float,
        trace_id: str | None = None,
    ) -> Frame:
        frame = make_frame(frame_type, payload, frame_id, trace_id)
        reply: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        previous = self._pending.get(frame["id"])
        if previous is not None and not previous[0].done():
            previous[0].cancel()
        self._pending[frame["id"]] = (reply, link)
        try:
            await self._write(link, frame)
            return await self._within(reply, timeout, f"no reply to {frame_type} within {timeout} s")
        finally:
            current = self._pending.get(frame["id"])
            if current is not None and current[0] is reply:
                del self._pending[frame["id"]]

    async def _write(self, link: _Link, frame: Frame) -> None:
        if link.closed.done():
            raise ClientClosedError("the connection is closed")
        text = encode(frame)
        try:
            await link.conn.send(text)
        except TransportClosed as exc:
            raise ClientClosedError(f"the connection is closed ({exc.code})") from exc
        self.sent.append(text)

    async def _within(self, awaitable: Awaitable[T], timeout: float | None, message: str) -> T:
        """Awaits with a timeout on the client's clock (so tests can drive it)."""
        task = asyncio.ensure_future(awaitable)
        if timeout is None:
            return await task
        timer = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            timer.cancel()
        if not task.done():
            task.cancel()
            raise RequestTimeoutError(message)
        return task.result()

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _link_task(self, link: _Link, coroutine: Awaitable[Any]) -> None:
        task = self._spawn(coroutine)
        link.tasks.add(task)
        task.add_done_callback(link.tasks.discard)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, TidingsError | TransportClosed):
                logger.error("background task failed", exc_info=exc)

    def _set_state(self, state: ConnectionState) -> None:
        previous, self._state = self._state, state
        if previous is state:
            return
        for handler in list(self._state_handlers):
            try:
                result = handler(state, previous)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                logger.exception("a state handler failed")

    def _record(self, frame: Frame) -> None:
        index = self._received
        self._received += 1
        self._log.append((index, frame))
        for predicate, start, waiter in list(self._waiters):
            if not waiter.done() and index >= start and predicate(frame):
                waiter.set_result(frame)

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        """One of the client's own events (`reset`, `synced`, `outbox`), for its handlers only."""
        if self._handlers.get(event_type):
            self._deliveries.put_nowait({"type": event_type, "id": new_id(), "payload": payload, "client": True})

    def _deliver(self, frame: Frame) -> None:
        frame_type = frame.get("type")
        if self._handlers.get(frame_type if isinstance(frame_type, str) else "") or self._handlers.get("*"):
            self._deliveries.put_nowait(frame)

    async def _dispatch_loop(self) -> None:
        while (frame := await self._deliveries.get()) is not None:
            frame_type = frame.get("type")
            handlers = list(self._handlers.get(frame_type if isinstance(frame_type, str) else "", ()))
            if not frame.get("client"):
                handlers += self._handlers.get("*", ())
            for handler in handlers:
                try:
                    result = handler(frame)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("a handler for %s failed", frame_type)


def _settle(waiters: Iterable[asyncio.Future[Any]], result: Any = None, *, error: BaseException | None = None) -> None:
    """Resolves every waiter not resolved yet with `result`, or fails it with `error`."""
    for waiter in list(waiters):
        if waiter.done():
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result)


def _reply_error(reply: Frame) -> TidingsError | None:
    """The error a reply frame reports (an `ack` with status error, or an `error`), else None."""
    payload = payload_of(reply)
    if reply.get("type") == "error":
        return error_from_payload(payload, reply)
    if reply.get("type") == "ack" and payload.get("status") != "ok":
        return error_from_payload(payload.get("error"), reply)
    return None
