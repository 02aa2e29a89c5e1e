"""The CLI's edges: exact commands in the banner, honest errors, refused arguments, documented
defaults, and a warning for a bind beyond loopback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.local.test_cli import stub_functions
from tidings_local.cli import _banner, _exposure_warning, _parser, main

# --- the banner -----------------------------------------------------------------------------


def test_the_banner_names_the_runtime_in_every_command_when_it_is_not_on_the_default_url() -> None:
    banner = _banner("http://127.0.0.1:9123", [], seed=None)
    assert "tidings session alice --url http://127.0.0.1:9123" in banner
    assert "tidings chat alice --url http://127.0.0.1:9123" in banner
    # `tidings token` signs locally and needs no URL.
    assert re.search(r"tidings token alice\s*$", banner, re.MULTILINE)


def test_the_banner_keeps_the_commands_short_on_the_default_url() -> None:
    banner = _banner("http://127.0.0.1:8080", [], seed=None)
    assert "tidings session alice " in banner and "--url" not in banner


def test_the_banner_says_the_state_is_in_memory() -> None:
    assert "lost when tidings dev stops" in _banner("http://127.0.0.1:8080", [], seed=None)


# --- tidings token: user ids and TTLs the server would refuse --------------------------------


@pytest.mark.parametrize("user", ["", "   ", "\t"])
def test_token_refuses_a_blank_user_id(user: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["token", user])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert "argument user: a user id cannot be empty or blank" in err
    assert out == "", "no token is printed"


def test_token_refuses_a_user_id_with_surrounding_whitespace(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["token", " alice"])
    assert exit_.value.code == 2
    assert "cannot begin or end with whitespace" in capsys.readouterr().err


def test_token_refuses_a_user_id_whose_token_the_server_would_refuse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["token", "a" * 9000])
    assert exit_.value.code == 2
    assert "the server would refuse a token for this user id: the token is larger than" in capsys.readouterr().err


@pytest.mark.parametrize("ttl", ["0", "-5", "86401", "1.5", "soon"])
def test_token_refuses_a_ttl_the_server_would_not_accept(ttl: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["token", "alice", "--ttl", ttl])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert "argument --ttl:" in err
    assert out == ""


def test_session_refuses_a_blank_user_id_before_asking_the_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["session", "", "--url", "http://127.0.0.1:9"])
    assert exit_.value.code == 2
    assert "cannot reach" not in capsys.readouterr().err


# --- --help shows every default ---------------------------------------------------------------


def _help(*command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


def test_dev_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("dev", capsys=capsys)
    for default in (
        "(default: 127.0.0.1)",
        "(default: 8080)",
        "(default: 600)",
        "(default: 7200)",
        "(default: auto)",
        "(default: 300)",
        "(default: 10)",
        "(default: 30)",
    ):
        assert default in text, default
    assert "--allow-remote-local-endpoints" in text
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text


def test_the_fault_grammar_keeps_its_layout_in_dev_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dev", "--help"])
    assert "\n  SPEC  = RULE[,RULE...]     RULE = TARGET:ERROR[:KEY=VALUE...]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "default"),
    [
        (("token",), "(default: 900)"),
        (("session",), "(default: http://127.0.0.1:8080)"),
        (("reindex",), "(default: http://127.0.0.1:8080)"),
        (("chat",), "(default: http://127.0.0.1:8080)"),
    ],
)
def test_every_command_shows_its_defaults(
    command: tuple[str, ...], default: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert default in _help(*command, capsys=capsys)


# --- a bind beyond loopback --------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1"])
def test_a_loopback_bind_warns_of_nothing(host: str) -> None:
    assert _exposure_warning(host, allow_remote_local_endpoints=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.5", "devbox.example.com"])
def test_any_other_bind_warns_that_the_local_endpoints_are_unauthenticated(host: str) -> None:
    warning = _exposure_warning(host, allow_remote_local_endpoints=False)
    assert warning is not None
    assert "unauthenticated" in warning and "/@connections" in warning and "/_local/" in warning
    assert "403" in warning and "--allow-remote-local-endpoints" in warning
    allowed = _exposure_warning(host, allow_remote_local_endpoints=True)
    assert allowed is not None and "403" not in allowed and "sign in as any user" in allowed


def test_the_remote_flag_is_off_by_default() -> None:
    assert _parser().parse_args(["dev"]).allow_remote_local_endpoints is False
    assert _parser().parse_args(["dev", "--allow-remote-local-endpoints"]).allow_remote_local_endpoints is True


# --- tidings session: a local write error is no network error -------------------------------


@pytest.fixture
async def sign_in_server() -> AsyncIterator[str]:
    """A stand-in for tidings dev's `/_local/sessions`: answers alice, refuses anyone else."""

    async def sessions(request: web.Request) -> web.Response:
        body = await request.json()
        if body["userId"] != "alice":
            return web.json_response({"error": {"code": "BAD_FRAME", "message": "no such user"}}, status=400)
        return web.json_response({"token": "t" * 200, "refreshToken": "r" * 64, "expiresAt": "2030-01-01T00:00:00Z"})

    app = web.Application()
    app.router.add_post("/_local/sessions", sessions)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _session(url: str, user: str, stdout: int) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings_local.cli",
        "session",
        user,
        "--url",
        url,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, err.decode()


async def test_session_reports_a_full_disk_as_a_write_error(sign_in_server: str) -> None:
    with open("/dev/full", "wb") as full:
        status, err = await _session(sign_in_server, "alice", full.fileno())
    assert status == 1
    assert "tidings session: cannot write to stdout: No space left on device" in err
    assert "cannot reach" not in err
    assert "Exception ignored" not in err and "Traceback" not in err


async def test_session_reports_a_closed_pipe_as_a_write_error(sign_in_server: str) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: writing is EPIPE
    try:
        status, err = await _session(sign_in_server, "alice", write_end)
    finally:
        os.close(write_end)
    assert status == 1
    assert "tidings session: cannot write to stdout: Broken pipe" in err
    assert "cannot reach" not in err and "Exception ignored" not in err


async def test_session_says_what_the_runtime_answered_when_it_refuses(
    sign_in_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.get_running_loop().run_in_executor(
        None, main, ["session", "mallory", "--url", sign_in_server]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert f"{sign_in_server} refused the sign-in: no such user (HTTP 400)" in err
    assert "cannot reach" not in err


# --- tidings dev on another port, end to end ---------------------------------------------------


async def test_dev_on_a_free_port_prints_exact_commands_and_serves_its_local_endpoints_to_loopback(
    tmp_path: Path,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings_local.cli",
        "dev",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--log-format",
        "text",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TIDINGS_FUNCTIONS_DIR": str(stub_functions(tmp_path)), "NO_COLOR": ""},
    )
    assert process.stderr is not None and process.stdout is not None
    try:
        banner: list[str] = []
        while not (ready := re.search(r"Tidings is ready on (http://127\.0\.0\.1:(\d+))", "".join(banner))):
            line = await asyncio.wait_for(process.stderr.readline(), 90)  # a cold start on a loaded machine
            assert line, "".join(banner)
            banner.append(line.decode())
        url, port = ready.group(1), ready.group(2)
        text = "".join(banner)
        if port != "8080":
            assert f"tidings session alice --url {url}" in text
            assert f"tidings chat alice --url {url}" in text
        assert "warning:" not in text, "a loopback bind is not exposed"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/_local/stats") as response:
                assert response.status == 200, "this machine may use the local-only endpoints"
            async with http.get(f"{url}/@connections/nobody") as response:
                assert response.status == 410, "the management API answers this machine as AWS would"
        # --log-format text: the runtime's "runtime ready" record as one human line on stdout.
        while "runtime ready" not in (line := (await asyncio.wait_for(process.stdout.readline(), 30)).decode()):
            assert line, "stdout ended without the runtime's readiness record"
        assert re.match(r"\d\d:\d\d:\d\d\.\d{3} INFO  tidings-local · runtime ready  url=http", line), line
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
