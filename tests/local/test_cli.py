"""The `tidings` command: `token` output, and `dev` startup, readiness and clean shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tidings.app import APPLICATION
from tidings.sessions.tokens import verify_token
from tidings_local.cli import main
from tidings_local.keys import DEVELOPMENT_KEY, dev_signing_key


def test_token_prints_a_jwt_signed_with_the_local_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "alice", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    identity = verify_token(token, DEVELOPMENT_KEY)
    assert identity.user_id == "alice"
    assert 55 <= identity.expires_at - time.time() <= 60


def test_the_signing_key_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_JWT_SECRET", "another-local-key-that-is-32-bytes-long")
    assert dev_signing_key() == "another-local-key-that-is-32-bytes-long"


ALLOW = """
def handler(event, context):
    return {"principalId": "someone", "context": {"userId": "someone"}, "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]}}
"""
OK = "def handler(event, context):\n    return {'statusCode': 200}\n"


def stub_functions(root: Path) -> Path:
    """A trivial handler for every function the real declaration names."""
    for function in APPLICATION.functions:
        path = root / function.domain / f"{function.module}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ALLOW if function == APPLICATION.authorizer.function else OK)
    return root


async def test_dev_starts_announces_readiness_and_exits_cleanly_on_sigint(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings_local.cli",
        "dev",
        "--port",
        "0",
        "--demo",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TIDINGS_FUNCTIONS_DIR": str(stub_functions(tmp_path))},
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert process.stderr is not None
    try:
        banner = []
        while not (ready := re.search(r"Tidings is ready on (http://127\.0\.0\.1:\d+)", "".join(banner))):
            line = await asyncio.wait_for(process.stderr.readline(), 90)  # a cold start on a loaded machine
            assert line, "".join(banner)
            banner.append(line.decode())
        url = ready.group(1)
        assert f"ws://{url.removeprefix('http://')}/ws" in "".join(banner)
        assert "dm-alice-bob" in "".join(banner)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as response:
                assert response.status == 200
            ws = await http.ws_connect(f"{url.replace('http', 'ws')}/ws?token=anything")
            # Ctrl-C: the terminal signals the whole foreground process group, the runtime's
            # Lambda worker template included, not only `tidings dev`.
            os.killpg(process.pid, signal.SIGINT)
            message = await ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1001
        assert await asyncio.wait_for(process.wait(), 5) == 0
        after = (await process.stderr.read()).decode()
        assert "Traceback" not in after, after
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_vapid_keys_prints_a_secret_value_the_worker_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    from tidings.notifications.vapid import VapidConfig

    assert main(["vapid-keys", "--subject", "mailto:ops@example.com"]) == 0
    out, err = capsys.readouterr()
    config = VapidConfig.from_secret(out)
    assert config is not None and config.subject == "mailto:ops@example.com"
    assert config.public_key in err
    assert main(["vapid-keys", "--subject", "ops@example.com"]) == 2


def test_presence_flags_reach_the_functions_environment() -> None:
    from tidings_local.cli import _function_environment, _parser

    args = _parser().parse_args(["dev", "--presence-idle-seconds", "2", "--presence-update-interval", "0.5"])
    assert _function_environment(args) == {"PRESENCE_IDLE_SECONDS": "2.0", "PRESENCE_UPDATE_INTERVAL_SECONDS": "0.5"}
    assert _function_environment(_parser().parse_args(["dev"])) == {}, "unset flags keep the settings' defaults"


def test_a_non_positive_presence_duration_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dev", "--presence-idle-seconds", "0"])
    assert "must be a positive number of seconds" in capsys.readouterr().err


def test_push_retry_and_fault_flags_reach_the_runtime() -> None:
    from tidings_local.cli import _function_environment, _parser

    args = _parser().parse_args(
        ["dev", "--push-retry-base-seconds", "1", "--faults", "search:down", "--faults", "push:down,push:503"]
    )
    assert _function_environment(args) == {"PUSH_RETRY_BASE_SECONDS": "1.0"}
    assert args.faults == ["search:down", "push:down,push:503"]


def test_a_bad_fault_spec_stops_dev_with_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--port", "0", "--faults", "dynamodb:slow"]) == 1
    err = capsys.readouterr().err
    assert "tidings dev: FaultSpecError: 'dynamodb:slow': dynamodb has no error 'slow'" in err
    assert "Traceback" not in err


def test_dev_help_documents_the_fault_grammar(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dev", "--help"])
    out = capsys.readouterr().out
    for text in ("RULE = TARGET:ERROR[:KEY=VALUE...]", "dynamodb:throttle|throttling|500", "POST /_local/faults"):
        assert text in out


def test_identity_providers_flag_reaches_the_functions_environment(tmp_path: Path) -> None:
    from tidings_local.cli import _function_environment, _parser

    config = tmp_path / "providers.json"
    config.write_text(json.dumps([{"issuer": "https://idp", "audience": "app", "jwksUrl": "http://127.0.0.1:9/jwks"}]))
    environment = _function_environment(_parser().parse_args(["dev", "--identity-providers", str(config)]))
    [provider] = json.loads(environment["IDENTITY_PROVIDERS"])
    assert provider == {
        "issuer": "https://idp",
        "audience": "app",
        "jwksUrl": "http://127.0.0.1:9/jwks",
        "userIdClaim": "sub",
        "algorithms": ["RS256"],
        "justInTimeProvisioning": False,
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        ("[{", "Invalid JSON"),
        ('[{"issuer": "https://idp", "audience": "a", "jwksUrl": "http://idp.example.com/j"}]', "[0].jwksUrl"),
    ],
)
def test_a_bad_identity_providers_file_is_refused_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, problem: str
) -> None:
    config = tmp_path / "providers.json"
    if content is not None:
        config.write_text(content)
    with pytest.raises(SystemExit):
        main(["dev", "--identity-providers", str(config)])
    assert problem in capsys.readouterr().err


def test_cors_origins_are_validated_and_default_to_any() -> None:
    from tidings_local.cli import _parser

    assert _parser().parse_args(["dev"]).cors_origin is None
    args = _parser().parse_args(["dev", "--cors-origin", "https://app.example.com/", "--cors-origin", "http://x:3000"])
    assert args.cors_origin == ["https://app.example.com", "http://x:3000"]
    with pytest.raises(SystemExit):
        _parser().parse_args(["dev", "--cors-origin", "app.example.com/path"])
