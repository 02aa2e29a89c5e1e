"""`tidings admin`: calls signed with botocore that the local gateway's IAM check accepts, and
failures told in one line (unreachable, refused signature, a stack's region)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tidings_local import admin_cli
from tidings_local.cli import main
from tidings_local.runtime import LocalRuntime


async def test_a_call_is_signed_with_the_development_credentials_and_let_through(runtime: LocalRuntime) -> None:
    answer = await asyncio.to_thread(admin_cli.call, "PUT", runtime.url, "/admin/things/t-1", {"name": "x"})
    assert answer["iam"]["accessKey"] == "tidings-local"
    assert answer["body"] == '{"name": "x"}'


async def test_a_call_signed_with_a_profiles_credentials_is_refused_with_the_gateways_reason(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """--profile signs with a boto3 Session's credentials even against tidings dev, which knows
    only its development key: refused as API Gateway refuses an unknown one."""
    credentials = tmp_path / "credentials"
    credentials.write_text("[platform]\naws_access_key_id = AKIAPLATFORM00000000\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(admin_cli.AdminCallFailed) as failed:
        await asyncio.to_thread(
            admin_cli.call, "PUT", runtime.url, "/admin/things/t-1", {}, profile="platform", region="us-east-1"
        )
    assert "refused the call's signature" in str(failed.value)
    assert "The security token included in the request is invalid. (HTTP 403)" in str(failed.value)


def test_an_unreachable_runtime_is_one_line_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "users", "get", "alice", "--url", "http://127.0.0.1:1"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("tidings admin: cannot reach http://127.0.0.1:1") and "Traceback" not in error


def test_a_bad_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "export", "alice", "--url", "127.0.0.1:8080"]) == 1
    assert "--url must be http(s)://" in capsys.readouterr().err


def test_a_deployed_stack_is_signed_with_a_boto3_session_in_the_urls_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLATFORM00000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "platform-secret")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    credentials, region = admin_cli._signer(
        "abc123.execute-api.eu-west-1.amazonaws.com", "https://abc123.execute-api.eu-west-1.amazonaws.com/", None, None
    )
    assert (credentials.access_key, region) == ("AKIAPLATFORM00000000", "eu-west-1")
    assert admin_cli._signer("127.0.0.1", "http://127.0.0.1:8080", None, None)[0].access_key == "tidings-local"


@pytest.mark.parametrize(
    ("argv", "request_made"),
    [
        (
            [
                "chats",
                "create",
                "--type",
                "group",
                "--name",
                "Ops",
                "--member",
                "sam",
                "--member",
                "pat@p:1",
                "--admin",
                "ann",
                "--chat-id",
                "ops",
                "--visibility",
                "private",
                "--description",
                "on-call",
            ],
            (
                "POST",
                "/admin/chats",
                {
                    "type": "group",
                    "chatId": "ops",
                    "name": "Ops",
                    "members": ["sam", "pat@p:1"],
                    "admins": ["ann"],
                    "description": "on-call",
                    "visibility": "private",
                },
            ),
        ),
        (
            ["chats", "create", "--type", "dm", "--member", "sam", "--member", "ann"],
            ("POST", "/admin/chats", {"type": "dm", "members": ["sam", "ann"]}),
        ),
        (
            ["chats", "update", "team:1", "--name", "Team", "--archived", "false"],
            ("PATCH", "/admin/chats/team%3A1", {"name": "Team", "archived": False}),
        ),
        (["chats", "update", "ops", "--archived", "true"], ("PATCH", "/admin/chats/ops", {"archived": True})),
        (["members", "add", "ops", "pat@p"], ("PUT", "/admin/chats/ops/members/pat%40p", {})),
        (
            ["members", "add", "ops", "sam", "--role", "admin"],
            ("PUT", "/admin/chats/ops/members/sam", {"role": "admin"}),
        ),
        (["members", "remove", "ops", "sam"], ("DELETE", "/admin/chats/ops/members/sam", None)),
        (["erase", "pat@p:1"], ("DELETE", "/admin/users/pat%40p%3A1", None)),
    ],
)
def test_the_chat_and_member_commands_make_the_documented_calls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], request_made: tuple
) -> None:
    made = []

    def call(method, base_url, path, body=None, **_signing):
        made.append((method, path, body))
        return {} if method == "DELETE" else {"ok": True}

    monkeypatch.setattr(admin_cli, "call", call)
    assert main(["admin", *argv]) == 0
    assert made == [request_made]
    printed = capsys.readouterr().out
    assert printed == ("" if request_made[0] == "DELETE" else '{\n  "ok": true\n}\n')  # a removal prints nothing


def test_a_bad_archived_flag_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["admin", "chats", "update", "ops", "--archived", "yes"])
    assert exited.value.code == 2
    assert "--archived: invalid choice: 'yes'" in capsys.readouterr().err


class FakeErasure:
    """The administration API as `erase --wait` sees it: the DELETE's 202, then the user until
    `gone_after` reads, then 404."""

    def __init__(self, gone_after: int | None) -> None:
        self.gone_after = gone_after
        self.made: list[tuple[str, str]] = []

    def call(self, method, base_url, path, body=None, **_signing):
        self.made.append((method, path))
        if method == "DELETE":
            return {"userId": "alice", "erasure": "started"}
        reads = sum(1 for made, _ in self.made if made == "GET")
        if self.gone_after is not None and reads > self.gone_after:
            raise admin_cli.AdminCallFailed("No user 'alice'; create it with PUT /admin/users/alice (HTTP 404)", 404)
        return {"user": {"userId": "alice", "displayName": "Alice"}, "erasure": "running"}


def test_erase_wait_polls_the_user_until_it_is_gone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeErasure(gone_after=2)
    monkeypatch.setattr(admin_cli, "call", api.call)
    monkeypatch.setattr(admin_cli, "ERASURE_POLL_SECONDS", 0)
    assert main(["admin", "erase", "alice", "--wait"]) == 0
    assert api.made == [("DELETE", "/admin/users/alice")] + [("GET", "/admin/users/alice")] * 3
    out, err = capsys.readouterr()
    assert json.loads(out) == {"userId": "alice", "erasure": "started"}
    lines = err.splitlines()
    assert lines[:2] == ["erasing alice... (0 s)"] * 2 and lines[2].startswith("alice erased (")


def test_erase_wait_gives_up_after_its_timeout_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(admin_cli, "call", FakeErasure(gone_after=None).call)
    monkeypatch.setattr(admin_cli, "ERASURE_POLL_SECONDS", 0.01)
    assert main(["admin", "erase", "alice", "--wait", "--timeout", "0.05"]) == 1
    err = capsys.readouterr().err
    assert "tidings admin: alice is still being erased after 0 s" in err and "Traceback" not in err


def test_erase_of_an_unknown_user_is_one_line_and_no_wait(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made = []

    def call(method, base_url, path, body=None, **_signing):
        made.append(method)
        raise admin_cli.AdminCallFailed("No user 'zed' (HTTP 404)", 404)

    monkeypatch.setattr(admin_cli, "call", call)
    assert main(["admin", "erase", "zed", "--wait"]) == 1
    assert made == ["DELETE"]
    assert capsys.readouterr().err == "tidings admin: No user 'zed' (HTTP 404)\n"


async def test_an_http_refusal_carries_its_status(runtime: LocalRuntime) -> None:
    with pytest.raises(admin_cli.AdminCallFailed) as failed:
        await asyncio.to_thread(admin_cli.call, "GET", runtime.url, "/admin/nothing-here")
    assert failed.value.status == 404
