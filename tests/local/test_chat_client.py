"""`tidings chat`, driven in a pseudo-terminal against a real `tidings dev --demo`.

The client runs as a subprocess with a pty as its terminal, exactly as in a developer's shell;
the tests type keys into it and read what it draws. The other people in the chat are SDK
clients. Every wait is for something to show (or arrive), with a generous timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import socket
import struct
import subprocess
import termios
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import TIDINGS, Server, start_server, stop_server
from tidings_client import TidingsClient
from tidings_local.chat_client import typing_line
from tidings_local.chat_terminal import KeyReader, LineEditor, display_width, printable, wrap

TIMEOUT = 60.0  # only bounds a failure; on a loaded 2-core machine things can take a while
FRAME = re.compile(rb"\x1b\[\?25l(.*?)\x1b\[\?25h", re.DOTALL)  # one whole screen per draw
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class PtyChat:
    """`tidings chat ARGS` in a pseudo-terminal of `rows` by `columns`: `type` keys into it,
    `expect` what it draws."""

    def __init__(self, process: asyncio.subprocess.Process, master: int, slave: int, mode: list[Any]) -> None:
        self.process = process
        self.master = master
        self.slave = slave  # kept open: the test reads the terminal's mode after the client exits
        self.initial_mode = mode
        self.output = bytearray()
        self._scanned = 0  # frames before this offset were already matched against
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._read)

    @classmethod
    async def start(cls, *args: str, rows: int = 30, columns: int = 110) -> PtyChat:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        mode = termios.tcgetattr(slave)
        process = await asyncio.create_subprocess_exec(
            str(TIDINGS), "chat", *args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        return cls(process, master, slave, mode)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self.output.extend(data)
        self._changed.set()

    @staticmethod
    def plain(raw: bytes) -> str:
        """What a screen says: escape sequences become line breaks."""
        return ESCAPE.sub("\n", raw.decode(errors="replace"))

    def screens(self, after: int = 0) -> list[str]:
        return [self.plain(m.group(1)) for m in FRAME.finditer(self.output, after)]

    def mark(self) -> int:
        """A position in the output: `expect(..., after=mark)` looks only at screens drawn later."""
        return len(self.output)

    async def expect(self, pattern: str, *, after: int | None = None, timeout: float = TIMEOUT) -> str:
        """Waits for a screen (drawn after `after`, default: any not yet matched) showing `pattern`
        (a regular expression); returns that screen."""
        start = self._scanned if after is None else after
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for match in FRAME.finditer(self.output, start):
                screen = self.plain(match.group(1))
                if re.search(pattern, screen):
                    self._scanned = match.end()
                    return screen
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.process.returncode is not None:
                last = self.screens()[-1:] or [self.plain(bytes(self.output[-3000:]))]
                raise AssertionError(f"the terminal never showed {pattern!r}; it shows:\n{last[0]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))

    async def output_text(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Waits for `pattern` anywhere in the output (also outside screens: stderr)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not re.search(pattern, text := self.plain(bytes(self.output))):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"the terminal never showed {pattern!r}; it shows:\n{text[-3000:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
        return text

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def wait_exit(self, timeout: float = TIMEOUT) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    def terminal_mode(self) -> list[Any]:
        return termios.tcgetattr(self.slave)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture(scope="module")
def dev() -> Iterator[Server]:
    process, server, _ = start_server(log_name="tidings-chat")
    yield server
    stop_server(process)


@pytest.fixture
async def chat_client(dev: Server) -> AsyncIterator[Any]:
    """Starts `tidings chat` in a pty against the module's runtime; killed after the test if
    it is still running."""
    started: list[PtyChat] = []

    async def start(user: str, *args: str) -> PtyChat:
        terminal = await PtyChat.start(user, "--url", dev.base_url, *args)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        await terminal.close()


@pytest.fixture
async def sdk(dev: Server) -> AsyncIterator[Any]:
    """SDK clients for the other people in the chat, closed after the test."""
    clients: list[TidingsClient] = []

    async def connect(user: str, **options: Any) -> TidingsClient:
        client = TidingsClient(dev.ws_url, dev.token(user), **options)
        await client.connect(timeout=TIMEOUT)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


def unique(word: str) -> str:
    """A word no other test (or earlier run against the same chat) has written."""
    return f"{word}-{uuid.uuid4().hex[:8]}"


async def local_call(server: Server, method: str, path: str, body: Any = None) -> Any:
    """One of the runtime's local-only endpoints (`/_local/...`): the decoded answer."""
    request = urllib.request.Request(
        server.base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )

    def call() -> Any:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    return await asyncio.to_thread(call)


async def poll(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = TIMEOUT) -> None:
    """Asks again every half second until `condition()` holds (for state nothing announces)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.5)


def new_message(text: str) -> Any:
    return lambda frame: frame["payload"]["message"]["content"] == text


# --- in a pseudo-terminal, against tidings dev -------------------------------------------------


@pytest.mark.e2e
async def test_a_conversation_between_the_terminal_and_bob(chat_client: Any, sdk: Any) -> None:
    alice = await chat_client("alice", "--chat", "dm-alice-bob")
    # Subscribed to bob's presence: the header shows his status (offline: he is not connected).
    await alice.expect(r"Bob \(dm-alice-bob\) · ○ Bob")

    bob = await sdk("bob")
    await alice.expect(r"● Bob is online")

    # A line typed and Enter: delivered to bob, shown as stored (one tick) in the terminal.
    hello = unique("hello")
    alice.type(f"{hello}\r")
    delivered = await bob.wait_for("message.new", new_message(hello), timeout=TIMEOUT)
    await alice.expect(rf"Alice: {hello} ✓(?!✓)")

    # bob reads it: a read.receipt, and the terminal says so.
    await bob.mark_read("dm-alice-bob", delivered["payload"]["message"]["messageId"])
    await alice.expect(rf"Alice: {hello} ✓✓\s+seen by Bob")

    await bob.typing("dm-alice-bob")
    await alice.expect("Bob is typing…")

    # bob's message appears, the typing line goes, and the terminal marks it read.
    reply = unique("hi-alice")
    mark = bob.mark()
    stored = await bob.send("dm-alice-bob", reply)
    screen = await alice.expect(rf"Bob: {reply}")
    assert "Bob is typing…" not in screen  # the server ends typing before the message
    await bob.wait_for("read.receipt", lambda f: f["payload"]["messageId"] == stored["messageId"], after=mark)

    # Keystrokes in the terminal are typing for bob; clearing the line stops it.
    mark = bob.mark()
    alice.type("x")
    await bob.wait_for("typing.indicator", lambda f: f["payload"]["userId"] == "alice" and f["payload"]["active"])
    alice.type("\x15")  # Ctrl+U
    await bob.wait_for("typing.indicator", lambda f: not f["payload"]["active"], after=mark)

    # /react on the last message (bob's), /edit and /delete of alice's last one.
    alice.type("/react 👍\r")
    reaction = await bob.wait_for("message.reaction", lambda f: f["payload"]["messageId"] == stored["messageId"])
    assert reaction["payload"]["reactions"] == {"👍": ["alice"]}
    await alice.expect(r"👍 Alice")
    edited = unique("edited")
    alice.type(f"/edit {edited}\r")
    await bob.wait_for("message.updated", lambda f: f["payload"]["message"]["content"] == edited)
    await alice.expect(rf"Alice: {edited} \(edited\) ✓✓")
    alice.type("/delete\r")
    await bob.wait_for(
        "message.deleted", lambda f: f["payload"]["messageId"] == delivered["payload"]["message"]["messageId"]
    )
    await alice.expect(r"Alice: message deleted")

    # A message of several lines keeps its lines, under the sender's name.
    await bob.send("dm-alice-bob", "two\nlines")
    await alice.expect(r"Bob: two\n+ {6}lines\n")

    # Text from others cannot drive the terminal: an escape sequence in a message is shown, inert.
    mark = alice.mark()
    await bob.send("dm-alice-bob", "evil\x1b[2J\x1b]0;pwned\x07end")
    await alice.expect("evil\ufffd\\[2J\ufffd\\]0;pwned\ufffdend", after=mark)
    assert b"\x1b[2J" not in alice.output[mark:] and b"\x1b]0;" not in alice.output[mark:]

    await bob.close()
    await alice.expect(r"○ Bob is offline")

    alice.type("/quit\r")
    assert await alice.wait_exit() == 0
    assert alice.terminal_mode() == alice.initial_mode  # echo and line editing are back
    assert alice.output.endswith(b"\x1b[?1049l\x1b[?25h")  # the main screen, with a cursor


@pytest.mark.e2e
async def test_chat_list_history_and_several_people_typing(chat_client: Any, sdk: Any, dev: Server) -> None:
    # typing_interval=0: every typing() call sends typing.start (the test's typists keep typing)
    bob, carol, dave = [await sdk(user, typing_interval=0) for user in ("bob", "carol", "dave")]
    first, second = unique("first"), unique("second")
    kept = await bob.send("project-x", first)
    gone = await bob.send("project-x", f"@alice {second}")

    # The chat list, with the counts kept while alice was away.
    alice = await chat_client("alice")
    await alice.expect(r"\d\. Project X +project-x +\d+ unread, \d+ mention")
    alice.type("/join nope\r")
    await alice.expect(r"no chat 'nope': /chats lists yours")

    # Entering a chat shows its recent history; marking it read clears its count.
    alice.type("/join project-x\r")
    await alice.expect(rf"Bob: {first}.*\s+.*Bob: @alice {second}")
    await bob.edit(kept["messageId"], f"{first} again")
    await alice.expect(rf"Bob: {first} again \(edited\)")
    await bob.delete(gone["messageId"])
    await alice.expect(r"Bob: message deleted")

    # A message elsewhere counts as unread elsewhere.
    await carol.send("general", unique("meanwhile"))
    await alice.expect(r"── unread: #general 1")
    alice.type("/chats\r")
    await alice.expect(r"\d\. Project X +project-x *\n")  # read: no count left

    # Several people typing, however many there are.
    alice.type("/join general\r")
    await alice.expect(r"#general \(general\)")
    typists = {"Bob": bob, "Carol": carol, "Dave": dave}
    for shown, expected in [(1, "Bob is typing…"), (2, "Bob and Carol are typing…"), (3, "Several people are typing…")]:
        keep_typing = asyncio.create_task(_keep_typing(list(typists.values())[:shown]))
        try:
            await alice.expect(expected)
        finally:
            keep_typing.cancel()

    # Search. The index catches up within seconds: ask again until it has the edit.
    found = ""

    async def searched() -> bool:
        nonlocal found
        mark = alice.mark()
        alice.type(f"/search {first}\r")
        found = await alice.expect(rf"search '{first}': (\d+ results?|no results)", after=mark)
        return "no results" not in found

    await poll(searched, "the search never found the message")
    assert re.search(rf"\[Project X\] Bob: {first} again", found), found

    alice.type("\x04")  # Ctrl+D
    assert await alice.wait_exit() == 0


async def _keep_typing(clients: list[TidingsClient]) -> None:
    """Typists who keep typing (the server ends a typing indicator 5 s after the last start)."""
    while True:
        for client in clients:
            await client.typing("general")
        await asyncio.sleep(1)  # a typist's pace, not a wait for anything


@pytest.mark.e2e
async def test_a_message_is_shown_as_sending_until_it_is_stored(chat_client: Any, sdk: Any, dev: Server) -> None:
    bob = await sdk("bob")
    alice = await chat_client("alice", "--chat", "dm-alice-bob")
    await alice.expect(r"Enter sends")
    rule = "dynamodb:throttle:function=MessageSend"  # every send fails (UNAVAILABLE); the SDK retries
    await local_call(dev, "POST", "/_local/faults", {"faults": rule})
    text = unique("patience")
    try:
        alice.type(f"{text}\r")
        await alice.expect(rf"Alice: {text}  \(sending…\)")

        async def refused() -> bool:
            stats = await local_call(dev, "GET", "/_local/stats")
            return bool(stats["faults"].get(rule))

        await poll(refused, "the fault never fired")
        mark = alice.mark()
        alice.type(" ")  # redraws the screen: after a refused attempt, the message is still pending
        screen = await alice.expect(r"\nBob ›", after=mark)
        assert re.search(rf"Alice: {text}  \(sending…\)", screen), screen
        assert not [f for f in bob.of_type("message.new") if new_message(text)(f)]
    finally:
        await local_call(dev, "DELETE", "/_local/faults")
    await bob.wait_for("message.new", new_message(text), timeout=TIMEOUT)  # the SDK's retry stored it
    screen = await alice.expect(rf"Alice: {text} ✓")
    assert "sending…" not in screen
    alice.type("\x7f/quit\r")
    assert await alice.wait_exit() == 0


@pytest.mark.e2e
@pytest.mark.parametrize("key", ["\x03", "\x04"], ids=["ctrl-c", "ctrl-d"])
async def test_ctrl_c_and_ctrl_d_leave_and_restore_the_terminal(chat_client: Any, key: str) -> None:
    alice = await chat_client("alice")
    await alice.expect(r"Your chats")
    alice.type("half a line")
    await alice.expect(r"\n› half a line\n+$")
    if key == "\x04":  # Ctrl+D leaves on an empty line only; on a line it deletes forward
        alice.type("\x01\x04")  # Ctrl+A, Ctrl+D
        await alice.expect(r"\n› alf a line\n+$")
        alice.type("\x05\x15")  # Ctrl+E, Ctrl+U: the line before the cursor goes
        await alice.expect(r"\n›\n+$")
    alice.type(key)
    assert await alice.wait_exit() == 0
    assert alice.terminal_mode() == alice.initial_mode
    assert alice.output.endswith(b"\x1b[?1049l\x1b[?25h")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--url", "http://127.0.0.1:{closed}"],
            r"cannot reach tidings dev at http://127\.0\.0\.1:\d+ .*start it with `make dev`",
        ),
        (
            ["--url", "{url}", "--chat", "nope"],
            r"alice has no chat 'nope' \(their chats: dm-alice-bob, general, project-x\)",
        ),
        (["--url", "{url}", "--token", "not-a-jwt"], r"refused the token \(.*malformed.*\); get a new one"),
        (["--url", "{url}/elsewhere"], r"is not a tidings dev .*pass --token JWT --ws-url"),
    ],
    ids=["not-running", "unknown-chat", "refused-token", "not-tidings-dev"],
)
async def test_startup_errors_say_what_went_wrong_and_what_to_do(args: list[str], says: str, dev: Server) -> None:
    argv = [a.format(closed=_closed_port(), url=dev.base_url) for a in args]
    terminal = await PtyChat.start("alice", *argv)
    try:
        assert await terminal.wait_exit() == 1
        text = await terminal.output_text(r"tidings chat: .*\n")
        assert re.search(says, text), text
        assert terminal.terminal_mode() == terminal.initial_mode
    finally:
        await terminal.close()


def test_without_a_terminal_it_says_it_needs_one() -> None:
    result = subprocess.run(
        [str(TIDINGS), "chat", "alice"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 1
    assert "run it in a terminal" in result.stderr


def test_help_shows_the_command_and_its_default_url() -> None:
    top = subprocess.run([str(TIDINGS), "--help"], capture_output=True, text=True, timeout=TIMEOUT).stdout
    assert re.search(r"chat +chat in the terminal as USER", top)
    own = subprocess.run([str(TIDINGS), "chat", "--help"], capture_output=True, text=True, timeout=TIMEOUT).stdout
    assert "(default: http://127.0.0.1:8080)" in " ".join(own.split())


# --- the pieces, without a terminal ------------------------------------------------------------


def test_typing_line_names_one_or_two_people_and_counts_more() -> None:
    assert typing_line([]) == ""
    assert typing_line(["Alice"]) == "Alice is typing…"
    assert typing_line(["Alice", "Bob"]) == "Alice and Bob are typing…"
    assert typing_line(["Alice", "Bob", "Carol"]) == "Several people are typing…"


def test_printable_neutralises_control_and_bidi_characters() -> None:
    assert printable("a\x1b[31mb\x07c\u202ed\te\r\nf") == "a\ufffd[31mb\ufffdc\ufffdd    e\ufffd\nf"
    assert printable("👩‍💻 ok") == "👩‍💻 ok"  # a joined emoji keeps its joiner


def test_wrap_counts_wide_characters_as_two_cells() -> None:
    lines = wrap("12:00 Bob: " + "👍" * 10, 20, indent=6)
    assert all(display_width(line) <= 20 for line in lines)
    assert "".join(lines).count("👍") == 10
    assert wrap("one two three", 9) == ["one two", "three"]
    assert wrap("12:00 Bob: a\nb", 20, indent=6) == ["12:00 Bob: a", "      b"]


def test_key_reader_joins_split_characters_and_escape_sequences() -> None:
    reader = KeyReader()
    snowman = "☃".encode()
    assert reader.feed(b"a" + snowman[:1]) == ["a"]
    assert reader.feed(snowman[1:] + b"\x1b[") == ["☃"]
    assert reader.feed(b"D\x1b[3~\x1bOH\x1b[1;5C\r") == ["left", "delete", "home", "\r"]


def test_line_editor_edits_recalls_and_reports_enter_and_eof() -> None:
    editor = LineEditor()
    for key in "helo":
        editor.press(key)
    for key in ["left", "l", "end", "!"]:
        editor.press(key)
    assert (editor.text, editor.cursor) == ("hello!", 6)
    assert editor.press("\r") == "submit" and editor.submitted == "hello!" and editor.text == ""
    assert editor.press("up") is None and editor.text == "hello!"
    assert editor.press("\x17") is None and editor.text == ""  # Ctrl+W: the word before the cursor
    assert editor.press("\x04") == "eof"
    editor.press("x")
    assert editor.press("\x04") is None and editor.text == "x"  # Ctrl+D on a line: not the end
    assert editor.press("\x03") == "interrupt"
