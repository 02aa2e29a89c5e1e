"""`tidings chat USER`: a small terminal chat client, built on the Python SDK (`tidings_client`).

For developers who want to try the protocol without writing code: it signs USER in on a running
`tidings dev` (`POST /_local/sessions`, refreshed with `TokenRefresher`), or connects anywhere
with `--token JWT --ws-url wss://… --api-url https://…`, and then shows what the protocol does:

- your chats with unread and mention counts (`GET /api/chats`, `notification.badge`); `/join`
  opens one: its last messages (`GET /api/chats/{chatId}/messages?limit=20`), then every event
  as it arrives, with sender names, edits, deletes and reactions;
- a line you type and Enter sends it; it shows as "sending…" until its ack (the SDK's outbox),
  then ✓, and ✓✓ with "seen by …" once another member's read watermark passes it
  (`read.receipt`, `sync.response.readWatermarks`, and their own later messages);
- "Alice is typing…" from `typing.indicator`; your keystrokes send `typing.start` (the SDK
  sends at most one per 3 s);
- the open chat's members with a presence marker, and a line whenever one changes;
- the messages you see are marked read (`read.mark`, coalesced by the SDK).

The screen (`chat_terminal.py`) is redrawn whole from this module's state on every change; the
SDK does the protocol's hard parts (reconnects, retries, ordering, gap-fill, token renewal).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Any

from tidings_client import (
    ConnectionState,
    Frame,
    HttpError,
    RateLimitedError,
    RequestTimeoutError,
    RestClient,
    TidingsClient,
    TidingsError,
    TokenRefresher,
    TokenSource,
    UnauthorizedError,
    __version__,
    derive_api_url,
)
from tidings_local.chat_terminal import (
    BOLD,
    DIM,
    REVERSE,
    KeyReader,
    LineEditor,
    Row,
    Terminal,
    display_width,
    fit,
    printable,
    wrap,
)

DEFAULT_URL = "http://127.0.0.1:8080"
HISTORY_LIMIT = 20  # messages loaded when a chat opens
CONNECT_TIMEOUT_SECONDS = 30.0
QUIT_GRACE_SECONDS = 5.0  # on /quit, how long messages not yet acked get to be stored
# The server ends typing 5 s after the last typing.start and says so; this only clears a
# typing line whose `active: false` never came (the connection dropped in between).
TYPING_EXPIRY_SECONDS = 8.0
MAX_NOTES = 200  # per view

PRESENCE_MARKERS = {"available": "●", "away": "◐", "brb": "◐", "dnd": "⊘", "in_a_meeting": "◆", "offline": "○"}
PRESENCE_WORDS = {
    "available": "online",
    "away": "away",
    "brb": "back soon (brb)",
    "dnd": "busy (do not disturb)",
    "in_a_meeting": "in a meeting",
    "offline": "offline",
}
UNKNOWN_MARKER = "·"
NEW_TOKEN = "get a new one (for tidings dev: leave out --token, or `tidings token USER`)"

# name → (arguments, what it does); /help is made from this table.
COMMANDS = {
    "chats": ("", "the list of your chats, with unread and mention counts"),
    "join": ("<chat>", "open a chat: its number in /chats, its id or its name (also /chat)"),
    "react": ("<emoji>", "react to the last message; the same again takes it back"),
    "edit": ("<text>", "replace the text of your last message"),
    "delete": ("", "delete your last message"),
    "search": ("<query>", "search messages, people and chats (from:bob in:general budget)"),
    "status": ("<status>", "set your presence: available, away, dnd, brb, in_a_meeting, offline"),
    "help": ("", "this list"),
    "quit": ("", "leave (also Ctrl+D on an empty line, or Ctrl+C)"),
}
ALIASES = {"chat": "join", "exit": "quit", "q": "quit", "?": "help"}


class StartupError(Exception):
    """Something that stops the client before its screen opens: one line on stderr, exit 1."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "A terminal chat client. Locally it signs USER in on a running tidings dev (make dev);"
        " for any other deployment pass --token, --ws-url and --api-url."
    )
    parser.epilog = "Inside: type and press Enter to send; /help lists the commands; /quit, Ctrl+D or Ctrl+C leave."
    parser.add_argument("user", help="who you are, e.g. alice (the demo users: alice, bob, carol, dave, erin)")
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="the running tidings dev to sign in to (default: %(default)s)"
    )
    parser.add_argument("--chat", metavar="CHAT", help="open this chat at once (its id, name or number in /chats)")
    parser.add_argument(
        "--token",
        metavar="JWT",
        help="an access token of USER's: connect with it instead of signing in (any deployment)",
    )
    parser.add_argument(
        "--ws-url", metavar="URL", help="the WebSocket API, wss://… (default: ws:// of --url, path /ws)"
    )
    parser.add_argument(
        "--api-url",
        metavar="URL",
        help="the HTTP API, https://… (default: derived from a --ws-url ending in /ws, else --url)",
    )


def run(args: argparse.Namespace) -> int:
    """`tidings chat`: the exit status."""
    try:
        return asyncio.run(_main(args))
    except StartupError as exc:
        print(f"tidings chat: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C while signing in, before the screen took the keys
        return 130


# --- starting ----------------------------------------------------------------------------------


def endpoints(args: argparse.Namespace) -> tuple[str, str, str]:
    """(the sign-in base URL, the WebSocket URL, the HTTP API URL) from the flags."""
    base = args.url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise StartupError(f"--url must be http(s)://HOST:PORT, not {args.url!r}")
    ws_url = args.ws_url or "ws" + base.removeprefix("http") + "/ws"
    if not ws_url.startswith(("ws://", "wss://")):
        raise StartupError(f"--ws-url must be ws(s)://…, not {ws_url!r}")
    api_url = args.api_url or (derive_api_url(ws_url) if args.ws_url else base)
    if api_url is None:
        raise StartupError(f"pass --api-url (the HTTP API's https:// URL): it cannot be derived from {ws_url}")
    if not api_url.startswith(("http://", "https://")):
        raise StartupError(f"--api-url must be http(s)://…, not {api_url!r}")
    return base, ws_url, api_url.rstrip("/")


async def sign_in(user_id: str, base_url: str, api_url: str) -> TokenSource:
    """A local sign-in (`POST /_local/sessions`) whose tokens refresh on their own."""
    try:
        session = await RestClient(base_url).request("POST", "/_local/sessions", {"userId": user_id}, auth=False)
    except HttpError as exc:
        if exc.status == 404:
            raise StartupError(
                f"{base_url} is not a tidings dev (it has no /_local/sessions); for a deployment, "
                "pass --token JWT --ws-url wss://… --api-url https://…"
            ) from None
        raise StartupError(f"tidings dev at {base_url} refused to sign {user_id!r} in: {exc.message}") from None
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise StartupError(
            f"cannot reach tidings dev at {base_url} ({reason}): is it running? start it with `make dev`"
        ) from None
    if not isinstance(session, dict) or not isinstance(session.get("refreshToken"), str):
        raise StartupError(f"{base_url} answered the sign-in with something that is not a session")
    return TokenRefresher.from_session(RestClient(api_url), session)


async def load_chats(api_url: str, get_token: TokenSource) -> list[dict[str, Any]]:
    try:
        return await RestClient(api_url, get_token).chats()
    except HttpError as exc:
        if exc.status in (401, 403):
            raise StartupError(f"{api_url} refused the token ({exc.message}); {NEW_TOKEN}") from None
        raise StartupError(f"GET {api_url}/api/chats failed: {exc}") from None
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise StartupError(f"cannot reach the HTTP API at {api_url} ({reason}); check --api-url") from None


async def _main(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise StartupError("it is interactive: run it in a terminal (stdin and stdout must be a TTY)")
    base_url, ws_url, api_url = endpoints(args)
    get_token: TokenSource = args.token or await sign_in(args.user, base_url, api_url)
    chats = await load_chats(api_url, get_token)
    client = TidingsClient(ws_url, get_token, api_url=api_url, client_name=f"tidings-chat/{__version__}")
    app = ChatApp(client, args.user, chats)  # listens before connecting: no frame is missed
    initial = None
    if args.chat:
        initial = app.find_chat(args.chat)
        if initial is None:
            ids = ", ".join(app.chats) or "none"
            raise StartupError(f"{args.user} has no chat {args.chat!r} (their chats: {ids})")
    try:
        try:
            await client.connect(timeout=CONNECT_TIMEOUT_SECONDS)
        except UnauthorizedError as exc:
            raise StartupError(f"{ws_url} refused the token ({exc.message}); {NEW_TOKEN}") from None
        except RequestTimeoutError:
            raise StartupError(f"could not connect to {ws_url} within {CONNECT_TIMEOUT_SECONDS:.0f} s") from None
        except TidingsError as exc:
            raise StartupError(f"{ws_url} refused the connection: {exc}") from None
        if client.user_id != args.user:
            raise StartupError(f"the token signs in {client.user_id!r}, not {args.user!r}")
        for chat in chats:  # events after headSeq arrive in order, and are synced after a reconnect
            if chat["chatId"] not in client.watermarks():
                client.track(chat["chatId"], int(chat.get("headSeq") or 0))
        with Terminal() as terminal:
            unsent = await app.run(terminal, initial)
    finally:
        await client.close()
    for entry in unsent:
        content = entry.payload.get("content")
        what = f"message {content!r}" if entry.type == "message.send" else entry.type
        print(f"tidings chat: not sent before leaving: {what}", file=sys.stderr)
    return 0


# --- what the screen shows ---------------------------------------------------------------------


@dataclass
class Note:
    """A line of the client's own in a view (a presence change, an error, search results):
    placed after the messages up to `after_seq`."""

    after_seq: int
    order: int
    text: str
    style: str = DIM
    key: str | None = None  # a later note with the same key replaces it (grouped toasts)


@dataclass
class Chat:
    chat_id: str
    name: str | None
    type: str
    members: dict[str, str]  # userId → display name
    head_seq: int = 0  # the latest event seq seen: notes are placed after it
    unread: int = 0
    mentions: int = 0
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # messageId → message as it is now
    read_seqs: dict[str, int] = field(default_factory=dict)  # userId → read watermark
    typing: dict[str, asyncio.TimerHandle] = field(default_factory=dict)  # userId → when to stop showing it
    history_loaded: bool = False

    @classmethod
    def from_api(cls, chat: dict[str, Any], me: str) -> Chat:
        members = {m["userId"]: printable(m.get("displayName") or m["userId"]) for m in chat.get("members") or []}
        return cls(
            chat_id=chat["chatId"],
            name=printable(chat["name"]) if chat.get("name") else None,
            type=chat.get("type") or "group",
            members=members,
            head_seq=int(chat.get("headSeq") or 0),
            unread=int(chat.get("unreadCount") or 0),
            mentions=int(chat.get("mentionCount") or 0),
            read_seqs={me: int(chat.get("lastReadSeq") or 0)},
        )

    def title(self, me: str) -> str:
        if self.name:
            return f"#{self.name}" if self.type == "channel" else self.name
        others = [name for user_id, name in self.members.items() if user_id != me]
        return ", ".join(others) or self.chat_id

    def stop_typing(self, user_id: str) -> None:
        timer = self.typing.pop(user_id, None)
        if timer is not None:
            timer.cancel()

    def newest(self, sender: str | None = None) -> dict[str, Any] | None:
        """The newest message that is not deleted (of `sender`, when given)."""
        candidates = [
            m
            for m in self.messages.values()
            if not m.get("deleted") and (sender is None or m.get("senderId") == sender)
        ]
        return max(candidates, key=lambda m: m["seq"], default=None)


def typing_line(names: list[str]) -> str:
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return "Several people are typing…"


def _newer(incoming: dict[str, Any], known: dict[str, Any]) -> bool:
    """Whether a message from the REST history is a later state than the one already known
    (events are applied in seq order, so they always win; a page read over REST may be older)."""
    if known.get("deleted"):
        return False
    if incoming.get("deleted"):
        return True
    return str(incoming.get("editedAt") or "") > str(known.get("editedAt") or "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _clock(timestamp: Any) -> str:
    try:
        return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).astimezone().strftime("%H:%M")
    except ValueError:
        return "--:--"


class _NoteHandler(logging.Handler):
    """Log records (the SDK's warnings) as notes: stderr would tear the screen apart."""

    def __init__(self, note: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._note = note

    def emit(self, record: logging.LogRecord) -> None:
        self._note(f"{record.levelname.lower()}: {record.getMessage()}")


class ChatApp:
    def __init__(self, client: TidingsClient, me: str, chats: list[dict[str, Any]]) -> None:
        self.client = client
        self.me = me
        self.chats = {chat["chatId"]: Chat.from_api(chat, me) for chat in chats}
        self.names = {user_id: name for chat in self.chats.values() for user_id, name in chat.members.items()}
        self.presence: dict[str, str] = {}
        self.current: Chat | None = None
        self.notes: dict[str | None, list[Note]] = {}  # per chat id, None for the chat list
        self.sending: dict[str, dict[str, Any]] = {}  # outbox entry id → message.send payload
        self.editor = LineEditor()
        self.keys = KeyReader()
        self.terminal: Terminal | None = None
        self._order = count()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._quit = asyncio.Event()
        self._leave_now = asyncio.Event()
        self._outbox_changed = asyncio.Event()
        self._redraw_scheduled = False
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "message.new": self._on_message,
            "message.updated": self._on_updated,
            "message.deleted": self._on_deleted,
            "message.reaction": self._on_reaction,
            "read.receipt": self._on_receipt,
            "synced": self._on_synced,
            "typing.indicator": self._on_typing,
            "presence.changed": self._on_presence,
            "notification.badge": self._on_badge,
            "notification.toast": self._on_toast,
            "reset": self._on_reset,
            "outbox": self._on_outbox,
        }
        for frame_type, handler in handlers.items():
            client.on(frame_type, self._then_redraw(handler))
        client.on_state(self._on_state)

    @property
    def my_name(self) -> str:
        return self.names.get(self.me, self.me)

    def find_chat(self, text: str) -> Chat | None:
        """By number in the chat list, id, or name (case ignored)."""
        chats = list(self.chats.values())
        if text.isdigit() and 1 <= int(text) <= len(chats):
            return chats[int(text) - 1]
        if text in self.chats:
            return self.chats[text]
        wanted = text.lower().lstrip("#")
        return next((c for c in chats if wanted in (c.title(self.me).lower().lstrip("#"), c.chat_id.lower())), None)

    # --- running -------------------------------------------------------------------------------

    async def run(self, terminal: Terminal, initial: Chat | None) -> list[Any]:
        """Shows the chat until /quit; returns the mutations that were still not acked."""
        loop = asyncio.get_running_loop()
        self.terminal = terminal
        log_handler = _NoteHandler(self.note)
        root = logging.getLogger()
        root.addHandler(log_handler)
        loop.set_exception_handler(lambda _, context: self.note(f"error: {context.get('message')}"))
        loop.add_reader(terminal.fd, self._on_keys)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._quit.set)
        loop.add_signal_handler(signal.SIGWINCH, self.redraw)
        try:
            self.note(f"Signed in as {self.my_name}. /join <chat> opens a chat, /help lists the commands.")
            self._spawn(self._sync_receipts())
            if initial is not None:
                self._spawn(self.open_chat(initial))
            self.redraw()
            await self._quit.wait()
            if self.client.pending_outbox():
                self.note("sending what is not stored yet before leaving… (Ctrl+C again: leave now)")
                self.redraw()
                await self._wait_for_outbox()
            return self.client.pending_outbox()
        finally:
            loop.remove_reader(terminal.fd)
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH):
                loop.remove_signal_handler(sig)
            root.removeHandler(log_handler)
            loop.set_exception_handler(None)
            for task in self._tasks:
                task.cancel()
            self.terminal = None

    async def _wait_for_outbox(self) -> None:
        deadline = asyncio.get_running_loop().time() + QUIT_GRACE_SECONDS
        while self.client.pending_outbox() and not self._leave_now.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._outbox_changed.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in (self._outbox_changed, self._leave_now)]
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.note(f"error: {exc}" if isinstance(exc, TidingsError) else f"error: {type(exc).__name__}: {exc}")

    async def _sync_receipts(self) -> None:
        """One sync of every chat for everyone's read watermarks (the ✓✓ of older messages)."""
        try:
            await self.client.sync()
        except TidingsError as exc:
            self.note(f"could not load read receipts: {exc}")

    # --- keys --------------------------------------------------------------------------------

    def _on_keys(self) -> None:
        assert self.terminal is not None
        try:
            data = self.terminal.read()
        except OSError:
            data = b""
        if not data:  # the terminal is gone
            asyncio.get_running_loop().remove_reader(self.terminal.fd)
            self._quit.set()
            return
        for key in self.keys.feed(data):
            before = self.editor.text
            action = self.editor.press(key)
            if action == "submit":
                self._submit(self.editor.submitted)
            elif action in ("eof", "interrupt"):
                if self._quit.is_set():
                    self._leave_now.set()
                self._quit.set()
            elif action is None:
                self._typing_changed(before, self.editor.text)
        self.redraw()

    def _typing_changed(self, before: str, after: str) -> None:
        chat = self.current
        if chat is None or before == after:
            return

        def is_message(text: str) -> bool:
            return bool(text.strip()) and not text.startswith("/")

        if is_message(after):
            self._spawn(self.client.typing(chat.chat_id))
        elif is_message(before):
            self._spawn(self.client.stop_typing(chat.chat_id))

    def _submit(self, line: str) -> None:
        if not line.strip():
            return
        if line.startswith("/") and not line.startswith("//"):
            name, _, argument = line[1:].partition(" ")
            name = ALIASES.get(name.lower(), name.lower())
            if name not in COMMANDS:
                self.note(f"unknown command /{name}: /help lists the commands")
                return
            self._spawn(getattr(self, f"_command_{name}")(argument.strip()))
            return
        if self.current is None:
            self.note("open a chat first: /join <chat> (/chats lists yours)")
            return
        self._spawn(self._send(self.current, line.removeprefix("/")))

    async def _send(self, chat: Chat, text: str) -> None:
        try:
            await self.client.send(chat.chat_id, text)
        except TidingsError as exc:
            self.note(f"not sent: {exc} (Up brings the line back to send it again)", chat)

    # --- commands ------------------------------------------------------------------------------

    async def _command_help(self, _: str) -> None:
        lines = ["Type a message and press Enter to send it (start it with // to send a leading /)."]
        lines += [f"  /{name} {args}".ljust(20) + about for name, (args, about) in COMMANDS.items()]
        shown = ("available", "away", "dnd", "in_a_meeting", "offline")
        lines.append("Presence: " + "  ".join(f"{PRESENCE_MARKERS[s]} {PRESENCE_WORDS[s]}" for s in shown))
        lines.append("Your messages: sending… until stored, ✓ stored, ✓✓ seen.")
        self.note("\n".join(lines))

    async def _command_chats(self, _: str) -> None:
        await self.open_chat(None)

    async def _command_join(self, argument: str) -> None:
        chat = self.find_chat(argument) if argument else None
        if chat is None:
            self.note(f"no chat {argument!r}: /chats lists yours" if argument else "which chat? /join <chat>")
            return
        await self.open_chat(chat)

    async def _command_react(self, emoji: str) -> None:
        if not emoji:
            self.note("which emoji? /react 👍")
        elif message := self._last_message("react to"):
            mine = self.me in ((message.get("reactions") or {}).get(emoji) or [])
            await self.client.react(message["messageId"], emoji, "remove" if mine else "add")

    async def _command_edit(self, text: str) -> None:
        if not text:
            self.note("the new text? /edit <text>")
        elif message := self._last_message("edit", self.me):
            await self.client.edit(message["messageId"], text)

    async def _command_delete(self, _: str) -> None:
        if message := self._last_message("delete", self.me):
            await self.client.delete(message["messageId"])

    def _last_message(self, verb: str, sender: str | None = None) -> dict[str, Any] | None:
        """The open chat's newest message (of `sender`), or None with a note saying why."""
        if self.current is None:
            self.note(f"open a chat first: there is nothing to {verb} here")
            return None
        message = self.current.newest(sender)
        if message is None:
            self.note(f"no {'message of yours' if sender else 'message'} to {verb} in this chat")
        return message

    async def _command_search(self, query: str) -> None:
        if not query:
            self.note("search for what? /search <query>")
            return
        found = await self.client.search(query, limit=10)
        results = found.get("results") or []
        lines = [
            f"search {query!r}: {_count(int(found.get('total') or len(results)), 'result')}"
            if results
            else f"search {query!r}: no results"
        ]
        for result in results:
            kind = result.get("type")
            item = result.get(kind) if isinstance(kind, str) else None
            if not isinstance(item, dict):
                continue
            if kind == "message":
                chat = self.chats.get(item.get("chatId", ""))
                where = chat.title(self.me) if chat else item.get("chatId")
                lines.append(f"  [{where}] {item.get('senderName')}: {item.get('content')}")
            elif kind == "person":
                lines.append(f"  person: {item.get('displayName')} ({item.get('userId')})")
            elif kind == "channel":
                lines.append(f"  chat: {item.get('name')} ({item.get('channelId')})")
            elif kind == "file":
                lines.append(f"  file: {item.get('name')} in {item.get('chatId')}")
        self.note("\n".join(lines))

    async def _command_status(self, status: str) -> None:
        if status not in PRESENCE_WORDS:
            self.note(f"/status {' | '.join(PRESENCE_WORDS)}")
            return
        ack = await self.client.set_presence(status)
        later = " (in a few seconds: one change per 10 s takes effect)" if ack and ack.get("coalesced") else ""
        self.note(f"your status: {PRESENCE_WORDS[status]}{later}")

    async def _command_quit(self, _: str) -> None:
        self._quit.set()

    # --- chats ---------------------------------------------------------------------------------

    async def open_chat(self, chat: Chat | None) -> None:
        """Shows `chat`, or the chat list (None)."""
        previous, self.current = self.current, chat
        if previous is chat:
            return
        if previous is not None and self.editor.text.strip() and not self.editor.text.startswith("/"):
            self._spawn(self.client.stop_typing(previous.chat_id))
        self.redraw()
        try:
            # This connection shows the chat: its messages raise no badge or toast here. The
            # chat list shows none, so the chat left counts unread messages again.
            await self.client.focus(chat.chat_id if chat else None)
        except TidingsError as exc:
            self.note(f"could not focus the chat: {exc}", chat)
        self._spawn(self._follow_presence(chat, previous))
        if chat is not None:
            await self._load_history(chat)

    async def _load_history(self, chat: Chat) -> None:
        """The chat's last messages, once (again after a reconnect if it failed)."""
        if not chat.history_loaded:
            try:
                page = await self.client.rest.messages(chat.chat_id, limit=HISTORY_LIMIT)
            except (TidingsError, OSError) as exc:
                self.note(f"could not load the history: {exc}", chat)
            else:
                for message in page.get("messages") or []:
                    known = chat.messages.get(message["messageId"])
                    if known is None or _newer(message, known):
                        chat.messages[message["messageId"]] = message
                chat.history_loaded = True
        self._mark_read(chat)
        self.redraw()

    async def _follow_presence(self, chat: Chat | None, previous: Chat | None) -> None:
        """Subscribes to the shown chat's members (and drops those of the chat left)."""
        wanted = set(chat.members) - {self.me} if chat else set()
        gone = (set(previous.members) - {self.me} - wanted) if previous else set()
        try:
            if gone:
                await self.client.unsubscribe_presence(sorted(gone))
            while wanted and self.current is chat:
                try:
                    await self.client.subscribe_presence(sorted(wanted))
                    return
                except RateLimitedError as exc:  # 5 subscribes per 10 s: chats switched quickly
                    await asyncio.sleep((exc.retry_after_ms or 1000) / 1000)
        except TidingsError as exc:
            self.note(f"presence unavailable: {exc}", chat)

    def _mark_read(self, chat: Chat) -> None:
        """Marks the open chat read up to its newest message (the SDK sends one per second)."""
        if chat is not self.current:
            return
        newest = chat.newest()
        if newest is None or newest.get("senderId") == self.me:  # sending is reading
            return
        if newest["seq"] <= chat.read_seqs.get(self.me, 0):
            return
        chat.read_seqs[self.me] = newest["seq"]
        self._spawn(self.client.mark_read(chat.chat_id, newest["messageId"]))

    # --- frames --------------------------------------------------------------------------------

    def _then_redraw(self, handler: Callable[[dict[str, Any]], None]) -> Callable[[Frame], None]:
        """A frame handler that hands `handler` the payload, then redraws."""

        def handle(frame: Frame) -> None:
            handler(frame.get("payload") or {})
            self.redraw()

        return handle

    def _chat(self, payload: dict[str, Any]) -> Chat | None:
        """The chat a frame is about; a chat event also moves its `head_seq`."""
        chat_id, seq = payload.get("chatId"), payload.get("seq")
        chat = self.chats.get(chat_id) if isinstance(chat_id, str) else None
        if chat is not None and isinstance(seq, int):
            chat.head_seq = max(chat.head_seq, seq)
        return chat

    def _on_message(self, payload: dict[str, Any]) -> None:
        chat, message = self._chat(payload), payload.get("message")
        if chat is None or not isinstance(message, dict) or "messageId" not in message:
            return
        chat.messages[message["messageId"]] = message
        sender = message.get("senderId")
        if isinstance(sender, str):
            if sender not in self.names and message.get("senderName"):
                self.names[sender] = printable(message["senderName"])
            chat.read_seqs[sender] = max(chat.read_seqs.get(sender, 0), message["seq"])  # sending is reading
            chat.stop_typing(sender)
        self._mark_read(chat)

    def _on_updated(self, payload: dict[str, Any]) -> None:
        chat, message = self._chat(payload), payload.get("message")
        if chat is not None and isinstance(message, dict) and "messageId" in message:
            chat.messages[message["messageId"]] = message

    def _on_deleted(self, payload: dict[str, Any]) -> None:
        chat = self._chat(payload)
        message = chat.messages.get(payload.get("messageId", "")) if chat else None
        if message is not None:
            message.update(deleted=True, content=None, attachments=[], reactions={})

    def _on_reaction(self, payload: dict[str, Any]) -> None:
        chat = self._chat(payload)
        message = chat.messages.get(payload.get("messageId", "")) if chat else None
        if message is not None:
            message["reactions"] = payload.get("reactions") or {}

    def _on_receipt(self, payload: dict[str, Any]) -> None:
        chat, user_id, seq = self._chat(payload), payload.get("userId"), payload.get("seq")
        if chat is not None and isinstance(user_id, str) and isinstance(seq, int):
            chat.read_seqs[user_id] = max(chat.read_seqs.get(user_id, 0), seq)

    def _on_synced(self, payload: dict[str, Any]) -> None:
        chat = self._chat(payload)
        if chat is None:
            return
        for user_id, seq in (payload.get("readWatermarks") or {}).items():
            if isinstance(seq, int):
                chat.read_seqs[user_id] = max(chat.read_seqs.get(user_id, 0), seq)

    def _on_typing(self, payload: dict[str, Any]) -> None:
        chat, user_id = self._chat(payload), payload.get("userId")
        if chat is None or not isinstance(user_id, str) or user_id == self.me:
            return
        chat.stop_typing(user_id)
        if payload.get("active"):
            if payload.get("displayName"):
                self.names.setdefault(user_id, printable(payload["displayName"]))

            def expire() -> None:
                chat.typing.pop(user_id, None)
                self.redraw()

            chat.typing[user_id] = asyncio.get_running_loop().call_later(TYPING_EXPIRY_SECONDS, expire)

    def _on_presence(self, payload: dict[str, Any]) -> None:
        user_id, status = payload.get("userId"), payload.get("status")
        if not isinstance(user_id, str) or not isinstance(status, str):
            return
        previous, self.presence[user_id] = self.presence.get(user_id), status
        chat = self.current
        if previous is not None and previous != status and chat is not None and user_id in chat.members:
            marker = PRESENCE_MARKERS.get(status, UNKNOWN_MARKER)
            self.note(f"{marker} {self.names.get(user_id, user_id)} is {PRESENCE_WORDS.get(status, status)}", chat)

    def _on_badge(self, payload: dict[str, Any]) -> None:
        chat = self._chat(payload)
        if chat is not None:
            chat.unread = int(payload.get("unreadCount") or 0)
            chat.mentions = int(payload.get("mentionCount") or 0)

    def _on_toast(self, payload: dict[str, Any]) -> None:
        if self.current is not None and payload.get("chatId") == self.current.chat_id:
            return
        self.note(f"🔔 {payload.get('title')}: {payload.get('body')}", style="", key=f"toast:{payload.get('id')}")

    def _on_reset(self, payload: dict[str, Any]) -> None:
        chat = self._chat(payload)
        if chat is None:
            return
        reason = payload.get("reason")
        if reason == "forbidden":  # removed from the chat
            del self.chats[chat.chat_id]
            if self.current is chat:
                self.current = None
            self.note(f"you are no longer a member of {chat.title(self.me)}")
            return
        messages = payload.get("messages") if reason == "tooLarge" else None
        chat.messages = {m["messageId"]: m for m in messages or [] if isinstance(m, dict) and "messageId" in m}

    def _on_outbox(self, payload: dict[str, Any]) -> None:
        entry = payload.get("entry")
        if entry is None or entry.type != "message.send":
            return
        if payload.get("action") == "queued":
            self.sending[entry.id] = entry.payload
        else:
            self.sending.pop(entry.id, None)
        self._outbox_changed.set()

    def _on_state(self, state: ConnectionState, previous: ConnectionState) -> None:
        if state is ConnectionState.RECONNECTING and previous is ConnectionState.CONNECTED:
            for chat in self.chats.values():
                for user_id in list(chat.typing):
                    chat.stop_typing(user_id)
            self.note("connection lost: reconnecting… (what you send now goes out once connected)")
        elif state is ConnectionState.CONNECTED and previous is ConnectionState.RECONNECTING:
            self.note("connected again")
            if self.current is not None:
                self._spawn(self._load_history(self.current))
        elif state is ConnectionState.CLOSED and self.client.closed_error is not None:
            self.note(f"disconnected for good: {self.client.closed_error}. /quit, then start tidings chat again")
        self.redraw()

    # --- drawing -------------------------------------------------------------------------------

    def note(self, text: str, chat: Chat | None = None, *, style: str = DIM, key: str | None = None) -> None:
        """A line of the client's own, in `chat`'s view (default: the one shown now). It may
        quote the server (an error message, search results): `printable` makes that inert."""
        text = printable(text)
        view = chat or self.current
        notes = self.notes.setdefault(view.chat_id if view else None, [])
        after = max([view.head_seq, *(m["seq"] for m in view.messages.values())]) if view else 0
        if key is not None:
            notes[:] = [n for n in notes if n.key != key]
        notes.append(Note(after, next(self._order), text, style, key))
        del notes[:-MAX_NOTES]
        self.redraw()

    def redraw(self) -> None:
        """Draws the screen soon: a burst of frames is drawn once."""
        if self.terminal is None or self._redraw_scheduled:
            return
        self._redraw_scheduled = True
        asyncio.get_running_loop().call_soon(self._draw)

    def _draw(self) -> None:
        self._redraw_scheduled = False
        if self.terminal is None:
            return
        width, height = self.terminal.size()
        body_height = height - 4
        body = self._body(width, body_height)
        body = [("", "")] * (body_height - len(body)) + body[-body_height:]
        prompt = f"{self.current.title(self.me)} › " if self.current else "› "
        prompt = prompt if display_width(prompt) < width // 2 else "› "
        shown, column = self.editor.view(width - display_width(prompt))
        rows = [(REVERSE, self._header(width)), *body, (DIM, self._unread_line(width)), (DIM, self._status_line())]
        rows.append(("", prompt + shown))
        self.terminal.draw(rows, (height - 1, display_width(prompt) + column))

    def _header(self, width: int) -> str:
        state = self.client.state
        right = f"{self.my_name} · {'connected' if state is ConnectionState.CONNECTED else state.value}"
        chat = self.current
        if chat is None:
            left = "tidings chat · your chats"
        else:
            members = "  ".join(
                f"{PRESENCE_MARKERS.get(self.presence.get(u, ''), UNKNOWN_MARKER)} {name}"
                for u, name in chat.members.items()
                if u != self.me
            )
            left = f"{chat.title(self.me)} ({printable(chat.chat_id)}) · {members}"
        space = width - display_width(right) - 2
        return f" {fit(left, space)} {right}" if space > 10 else f" {left}"

    def _unread_line(self, width: int) -> str:
        elsewhere = [
            f"{c.title(self.me)} {c.unread}" + (f" ({c.mentions} @)" if c.mentions else "")
            for c in self.chats.values()
            if c is not self.current and (c.unread or c.mentions)
        ]
        line = f"── unread: {', '.join(elsewhere)} " if elsewhere else ""
        return line + "─" * (width - display_width(line))

    def _status_line(self) -> str:
        chat = self.current
        if chat is not None and chat.typing:
            return typing_line([self.names.get(u, u) for u in chat.typing])
        if self.client.state is ConnectionState.RECONNECTING:
            return "reconnecting…"
        return "Enter sends · /help lists the commands" if chat else "/join <chat> opens a chat · /help"

    def _chat_list(self) -> list[str]:
        if not self.chats:
            return [f"{self.me} is in no chat here (the demo users are alice, bob, carol, dave and erin)"]
        lines = ["Your chats (/join <number or id>):"]
        for number, chat in enumerate(self.chats.values(), 1):
            counts = f"{chat.unread} unread" if chat.unread else ""
            if chat.mentions:
                counts += f", {_count(chat.mentions, 'mention')}"
            lines.append(f"  {number}. {fit(chat.title(self.me), 24)} {fit(printable(chat.chat_id), 24)} {counts}")
        return lines

    def _body(self, width: int, height: int) -> list[Row]:
        """The rows between the header and the prompt (at most `height` of them are shown)."""
        chat = self.current
        rows: list[Row] = []
        if chat is None:  # the chat list from the top, then as many of the latest notes as fit
            rows = [("", line) for line in self._chat_list()] + [("", "")]
            notes = [(n.style, line) for n in self.notes.get(None, []) for line in wrap(n.text, width, 2)]
            return rows + notes[len(notes) - max(height - len(rows), 0) :]
        seen_line_seq = self._last_seen_own_seq(chat)
        items: list[tuple[tuple[int, int, int], dict[str, Any] | Note]] = [
            ((m["seq"], 0, 0), m) for m in chat.messages.values()
        ]
        items += [((n.after_seq, 1, n.order), n) for n in self.notes.get(chat.chat_id, [])]
        for _, item in sorted(items, key=lambda pair: pair[0]):
            if isinstance(item, Note):
                rows += [(item.style, line) for line in wrap(item.text, width, 2)]
            else:
                rows += self._message_rows(chat, item, width, item["seq"] == seen_line_seq)
        for payload in self.sending.values():
            if payload.get("chatId") == chat.chat_id:
                text = f"--:-- {self.my_name}: {printable(str(payload.get('content')))}  (sending…)"
                rows += [(DIM, line) for line in wrap(text, width, 6)]
        return rows

    def _seen_by(self, chat: Chat, seq: int) -> list[str]:
        return [name for u, name in chat.members.items() if u != self.me and chat.read_seqs.get(u, 0) >= seq]

    def _last_seen_own_seq(self, chat: Chat) -> int | None:
        own = [m["seq"] for m in chat.messages.values() if m.get("senderId") == self.me and not m.get("deleted")]
        seen = [seq for seq in own if self._seen_by(chat, seq)]
        return max(seen, default=None)

    def _message_rows(self, chat: Chat, message: dict[str, Any], width: int, seen_line: bool) -> list[Row]:
        sender = message.get("senderId") or "?"
        name = self.names.get(sender) or printable(str(message.get("senderName") or sender))
        head = f"{_clock(message.get('createdAt'))} {name}: "
        if message.get("deleted"):
            return [(DIM, f"{head}message deleted")]
        text = printable(str(message.get("content") or ""))
        for attachment in message.get("attachments") or []:
            text += f" [attachment: {printable(str(attachment.get('name')))}]"
        if message.get("editedAt"):
            text += " (edited)"
        if sender == self.me:
            text += " ✓✓" if self._seen_by(chat, message["seq"]) else " ✓"
        mentions = message.get("mentions") or []
        style = BOLD if sender != self.me and ({self.me, "@channel", "@here"} & set(mentions)) else ""
        rows = [(style, line) for line in wrap(head + text, width, 6)]
        reactions = message.get("reactions") or {}
        if reactions:
            shown = [
                f"{printable(emoji)} {', '.join(self.names.get(u, u) for u in users)}"
                for emoji, users in reactions.items()
            ]
            rows += [("", line) for line in wrap("      " + "   ".join(shown), width, 6)]
        if seen_line:
            rows.append((DIM, "      seen by " + ", ".join(self._seen_by(chat, message["seq"]))))
        return rows
