"""pytest fixtures for testing an integration against Tidings, without AWS.

Installing the dev package (`tidings-dev`) registers this module as a pytest plugin (the
`pytest11` entry point), so a project's tests get these fixtures with no import:

- `tidings`: a `tidings dev` subprocess on a free port, started once per session, seeded with
  the `tidings_seed` fixture (override it: a seed file's path, or the same shape as a dict; the
  default is the built-in demo) and started with the `tidings_faults` fixture's fault specs.
- `tidings_factory`: `tidings_factory(seed=..., faults=[...], args=[...])` starts another one
  for one test (stopped after it), for a test that needs its own state or faults.
- `tidings_admin`: the administration API of `tidings`, SigV4-signed as `tidings admin` signs.
- `tidings_connect` (needs pytest-asyncio): `await tidings_connect("alice")` is an SDK client of
  that user (`tidings_client.TidingsClient`), connected; every one is closed after the test.
  `await client.wait_for("message.new", lambda frame: ...)` waits for a frame.
- `tidings_in_process`: the runtime in this process, on a thread of its own, so that code under
  `moto.mock_aws()` sees the tables Tidings writes (see `start_in_process`).

The runtime is the real `tidings dev`, as a developer runs it: every function in its own worker
processes, the gateway on real sockets. Starting one costs seconds of CPU, so prefer the
session's `tidings` and fresh ids per test (a chat of its own) to a runtime per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tidings_local import admin_cli

if TYPE_CHECKING:
    from tidings_client import TidingsClient
    from tidings_local.runtime import LocalRuntime

STARTUP_TIMEOUT_SECONDS = 180  # only bounds a failure: a loaded 2-core CI machine starting moto can be slow
STOP_TIMEOUT_SECONDS = 15
# The bound of a failure, not a goal: a loaded machine runs every function and moto next to the tests.
WAIT_SECONDS = 60.0

Seed = Path | str | Mapping[str, Any] | None  # a seed file, or its content; None: no seed


def tidings_executable() -> str:
    """The `tidings` command of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("tidings")
    if beside.exists():
        return str(beside)
    found = shutil.which("tidings")
    if found is None:
        raise RuntimeError("no 'tidings' command: install the dev package (pip install tidings-dev)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS, message: str = "") -> None:
    """Waits until `condition()` holds; the timeout only bounds a failure."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(message or "condition not met in time")
        await asyncio.sleep(0.05)


class Faults:
    """The runtime's fault injection while it runs (`/_local/faults`): rules in the `--faults`
    grammar of `tidings dev --help`, e.g. `dynamodb:throttle:function=MessageSend:count=2`."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/_local/faults"

    def add(self, *specs: str) -> list[dict[str, Any]]:
        """Adds the rules to the active ones; returns what was added (a bad spec: ValueError)."""
        return list(self._call("POST", {"faults": list(specs)})["added"])

    def active(self) -> list[dict[str, Any]]:
        """The active rules, each with how often it fired."""
        return list(self._call("GET")["faults"])

    def clear(self) -> None:
        self._call("DELETE")

    def _call(self, method: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._url, data=data, method=method)  # noqa: S310  (our own http URL)
        try:
            with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:  # noqa: S310
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            raise ValueError(json.load(exc).get("error", {}).get("message", exc.reason)) from None


class Admin:
    """The administration API (`/admin/...`), signed with the runtime's development credentials,
    exactly as `tidings admin` signs; a refusal raises `AdminCallFailed` with the API's message."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return admin_cli.call(method, self.base_url, path, body)

    def put_user(self, user_id: str, display_name: str, **profile: str) -> dict[str, Any]:
        """Creates or updates a user (`email`, `avatarUrl` in `profile`)."""
        return self.call("PUT", _user_path(user_id), {"displayName": display_name, **profile})

    def get_user(self, user_id: str) -> dict[str, Any]:
        return self.call("GET", _user_path(user_id))

    def export(self, user_id: str) -> dict[str, Any]:
        return self.call("GET", f"{_user_path(user_id)}/export")

    def session(self, user_id: str, ttl_seconds: int | None = None) -> dict[str, Any]:
        """Signs the user in: `{token, refreshToken, expiresAt}`."""
        request: dict[str, Any] = {"userId": user_id}
        if ttl_seconds is not None:
            request["ttlSeconds"] = ttl_seconds
        return self.call("POST", "/admin/sessions", request)


def _user_path(user_id: str) -> str:
    return f"/admin/users/{quote(user_id, safe='')}"


@dataclass
class Tidings:
    """A running Tidings: its URLs, its administration API, its faults, and SDK clients."""

    base_url: str
    ws_url: str
    log_path: Path | None = None  # the subprocess's log (None: in process)
    process: subprocess.Popen[bytes] | None = None
    admin: Admin = field(init=False)
    faults: Faults = field(init=False)

    def __post_init__(self) -> None:
        self.admin = Admin(self.base_url)
        self.faults = Faults(self.base_url)

    def token(self, user_id: str, ttl_seconds: int | None = None) -> str:
        """An access token of the user, from `POST /admin/sessions`."""
        return str(self.admin.session(user_id, ttl_seconds)["token"])

    def client(self, user_id: str, **options: Any) -> TidingsClient:
        """An SDK client of the user, not connected; waits default to `WAIT_SECONDS`."""
        from tidings_client import TidingsClient

        for timeout in ("wait_timeout", "request_timeout", "connect_timeout"):
            options.setdefault(timeout, WAIT_SECONDS)
        return TidingsClient(self.ws_url, self.token(user_id), **options)

    def log(self) -> str:
        return "" if self.log_path is None else self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """Stops the subprocess (SIGTERM, as Ctrl-C would); its exit status."""
        if self.process is None:
            return 0
        return stop_tidings(self.process)


def start_tidings(
    *args: str,
    seed: Seed = None,
    demo: bool = False,
    faults: Sequence[str] = (),
    log_name: str = "tidings-dev",
) -> Tidings:
    """Starts `tidings dev` on a free port of 127.0.0.1 and waits until it is healthy.

    `args` are more `tidings dev` options; `seed` a seed file (or its content as a dict), `demo`
    the built-in seed, `faults` fault specs active from the start. The log is kept in
    `$TMPDIR/{log_name}-{port}.log`; a runtime that does not start raises with its tail."""
    port = free_port()
    directory = Path(os.environ.get("TMPDIR", tempfile.gettempdir()))
    log_path = directory / f"{log_name}-{port}.log"
    options = [*(["--demo"] if demo else []), *(f"--faults={spec}" for spec in faults)]
    if seed is not None:
        options += ["--seed", str(_seed_file(seed, directory / f"{log_name}-{port}-seed.json"))]
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603  (our own command, no shell)
            [tidings_executable(), "dev", "--host", "127.0.0.1", "--port", str(port), *options, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
    except Exception as exc:
        process.kill()
        process.wait()
        raise RuntimeError(f"tidings dev did not start ({exc}); its log:\n{log_path.read_text()[-4000:]}") from None
    return Tidings(base_url=base, ws_url=f"ws://127.0.0.1:{port}/ws", log_path=log_path, process=process)


def stop_tidings(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, and its exit status; one that does not stop in time is killed (and raises)."""
    process.terminate()
    try:
        return process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def _seed_file(seed: Path | str | Mapping[str, Any], path: Path) -> Path:
    if isinstance(seed, Mapping):
        path.write_text(json.dumps(seed))
        return path
    return Path(seed)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tidings dev exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310  (http, loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"tidings dev was not healthy within {STARTUP_TIMEOUT_SECONDS}s")


@contextlib.contextmanager
def start_in_process(*, seed: Seed = None, demo: bool = False, faults: Sequence[str] = ()) -> Iterator[Tidings]:
    """The runtime in this process (`LocalRuntime`, on a thread running its own event loop).

    Started inside an active `moto.mock_aws()`, it provisions its tables in that mock's
    backends (moto counts nested starts and resets its data only when the outermost one starts
    or stops), so the code under test and Tidings see one DynamoDB: boto3 in the test reads
    what Tidings wrote. Tidings' tables stay in the mock after it stops, until the mock stops.
    Start it inside the mock and stop it first (a `with` inside the `with mock_aws()`). Only one
    can run per process (moto's backends are global)."""
    from tidings_local.runtime import LocalRuntime
    from tidings_local.seed import DEMO_SEED, load_seeds

    with tempfile.TemporaryDirectory(prefix="tidings-seed-") as directory:
        files = [DEMO_SEED] if demo else []
        if seed is not None:
            files.append(_seed_file(seed, Path(directory) / "seed.json"))
        runtime = LocalRuntime(port=0, seed=load_seeds(files) if files else None, faults=faults)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tidings-runtime", daemon=True)
    thread.start()

    def run(coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(STARTUP_TIMEOUT_SECONDS)

    try:
        run(runtime.start())
        try:
            yield _in_process(runtime)
        finally:
            run(runtime.stop())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_SECONDS)
        loop.close()


def _in_process(runtime: LocalRuntime) -> Tidings:
    return Tidings(base_url=runtime.url, ws_url=runtime.ws_url)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tidings_seed() -> Seed:
    """What `tidings` is seeded with: override it with a seed file's path or a dict shaped like
    one (`{"users": [...], "chats": [...]}`). The default, None, loads the built-in demo
    (alice, bob, carol, dave, erin; chats dm-alice-bob, project-x, general)."""
    return None


@pytest.fixture(scope="session")
def tidings_faults() -> Sequence[str]:
    """Fault specs `tidings` starts with (override it); none by default."""
    return ()


@pytest.fixture(scope="session")
def tidings(tidings_seed: Seed, tidings_faults: Sequence[str]) -> Iterator[Tidings]:
    """`tidings dev` for the whole session, seeded with `tidings_seed`."""
    running = start_tidings(seed=tidings_seed, demo=tidings_seed is None, faults=tidings_faults)
    yield running
    running.stop()


@pytest.fixture
def tidings_factory() -> Iterator[Callable[..., Tidings]]:
    """Starts runtimes of this test's own (`start_tidings`' arguments); they stop after it."""
    started: list[Tidings] = []

    def start(*args: str, **options: Any) -> Tidings:
        started.append(start_tidings(*args, **options))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def tidings_admin(tidings: Tidings) -> Admin:
    """The session runtime's administration API, signed."""
    return tidings.admin


@pytest.fixture
def tidings_in_process(tidings_seed: Seed, tidings_faults: Sequence[str]) -> Iterator[Tidings]:
    """A runtime in this process for one test (`start_in_process`): request it after the
    fixture that starts your `mock_aws()`, so that it starts inside that mock and stops first."""
    with start_in_process(seed=tidings_seed, demo=tidings_seed is None, faults=tidings_faults) as running:
        yield running


try:
    import pytest_asyncio
except ImportError:  # the async fixtures need pytest-asyncio; the others work without it
    pass
else:
    from collections.abc import AsyncIterator, Awaitable

    @pytest_asyncio.fixture
    async def tidings_connect(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Awaitable[TidingsClient]]]:
        """`await tidings_connect(user_id, **TidingsClient options)`: a connected SDK client of
        the user (after its `welcome`) on the session's `tidings`, or on another runtime with
        `on=` (one of `tidings_factory` or `tidings_in_process`); all are closed after the test."""
        clients: list[TidingsClient] = []

        async def connect(user_id: str, *, on: Tidings | None = None, **options: Any) -> TidingsClient:
            client = (on or request.getfixturevalue("tidings")).client(user_id, **options)
            clients.append(client)
            await client.connect()
            return client

        yield connect
        for client in clients:
            await client.close()
