"""`tidings admin ...`: the administration API from a terminal, SigV4-signed with botocore.

    tidings admin users put USER --display-name NAME [--email E] [--avatar-url https://…]
    tidings admin users get USER
    tidings admin session USER [--ttl SECONDS]
    tidings admin export USER
    tidings admin erase USER [--wait [--timeout SECONDS]]
    tidings admin chats create --type group|channel|dm [--name NAME] --member USER... [--admin USER...]
                               [--chat-id ID] [--description TEXT] [--visibility public|private]
    tidings admin chats update CHAT [--name NAME] [--description TEXT] [--archived true|false]
    tidings admin members add CHAT USER [--role member|admin]
    tidings admin members remove CHAT USER

Against `tidings dev` (the default URL, or any loopback `--url` without `--profile`) calls are
signed with the runtime's development credentials. Against a deployed stack (`--url` the
stack's `HttpApiUrl` output) they are signed with the credentials of a boto3 Session
(`--profile`, `--region`; the region defaults to the profile's, else the URL's), which need
the `AdminInvokePolicy` the stack outputs. The result is printed as JSON on stdout; a failure
is one line on stderr that says what went wrong, and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.credentials import Credentials, ReadOnlyCredentials

from tidings_local import sigv4
from tidings_local.local_only import is_loopback_host

COMMAND = "tidings admin"
_REGION_IN_URL = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


# `erase --wait` asks whether the user is gone this often, and gives up after this long.
ERASURE_POLL_SECONDS = 1.0
ERASURE_WAIT_SECONDS = 120.0


class AdminCallFailed(Exception):
    """What to tell the operator, in one line; `status`: the HTTP status that said it, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def add_arguments(admin: argparse.ArgumentParser, default_url: str, formatter: type[argparse.HelpFormatter]) -> None:
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "--url", default=default_url, help="tidings dev's URL, or the deployed stack's HttpApiUrl output"
    )
    target.add_argument("--profile", help="the AWS profile whose credentials sign the calls (a deployed stack)")
    target.add_argument("--region", help="the stack's region (default: the profile's, else the URL's)")

    commands = admin.add_subparsers(dest="admin_command", required=True)
    users = commands.add_parser("users", help="create, update or read a user", formatter_class=formatter)
    user_commands = users.add_subparsers(dest="users_command", required=True)
    put = user_commands.add_parser(
        "put", parents=[target], help="create or update USER (PUT /admin/users/USER)", formatter_class=formatter
    )
    put.add_argument("user", help="the user id")
    put.add_argument("--display-name", required=True, help="the name other users see")
    put.add_argument("--email", help="the user's email address (left out: cleared)")
    put.add_argument("--avatar-url", help="an https:// URL of the user's picture (left out: cleared)")
    get = user_commands.add_parser(
        "get", parents=[target], help="print USER (GET /admin/users/USER)", formatter_class=formatter
    )
    get.add_argument("user", help="the user id")

    session = commands.add_parser(
        "session",
        parents=[target],
        help="sign USER in: prints {token, refreshToken, expiresAt} (POST /admin/sessions)",
        formatter_class=formatter,
    )
    session.add_argument("user", help="the user id")
    session.add_argument("--ttl", type=int, metavar="SECONDS", help="the access token's lifetime (default: 900)")

    export = commands.add_parser(
        "export",
        parents=[target],
        help="print everything stored about USER as JSON (GET /admin/users/USER/export)",
        formatter_class=formatter,
    )
    export.add_argument("user", help="the user id")

    erase = commands.add_parser(
        "erase",
        parents=[target],
        help="erase USER and everything they left: messages, memberships, sessions, push, presence, the profile"
        " (DELETE /admin/users/USER; it completes in the background)",
        formatter_class=formatter,
    )
    erase.add_argument("user", help="the user id")
    erase.add_argument("--wait", action="store_true", help="wait until the erasure is complete, showing progress")
    erase.add_argument(
        "--timeout",
        type=float,
        default=ERASURE_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"how long --wait waits (default: {ERASURE_WAIT_SECONDS:.0f})",
    )

    _add_chat_commands(commands, target, formatter)


def _add_chat_commands(commands: Any, target: argparse.ArgumentParser, formatter: type[argparse.HelpFormatter]) -> None:
    chats = commands.add_parser("chats", help="create or change a chat, as the platform", formatter_class=formatter)
    chat_commands = chats.add_subparsers(dest="chats_command", required=True)
    create = chat_commands.add_parser(
        "create", parents=[target], help="create a chat (POST /admin/chats)", formatter_class=formatter
    )
    create.add_argument("--type", required=True, choices=("group", "channel", "dm"), help="the chat's type")
    create.add_argument("--name", help="the chat's name (a group's or a channel's)")
    create.add_argument(
        "--member", action="append", default=[], metavar="USER", help="a member (repeat; a DM: the two users)"
    )
    create.add_argument("--admin", action="append", default=[], metavar="USER", help="an admin (repeat)")
    create.add_argument("--chat-id", help="the chat's id (default: a new one; taken: refused)")
    create.add_argument("--description", help="the chat's description")
    create.add_argument("--visibility", choices=("public", "private"), help="a channel's (default: public)")
    update = chat_commands.add_parser(
        "update", parents=[target], help="change CHAT (PATCH /admin/chats/CHAT)", formatter_class=formatter
    )
    update.add_argument("chat", help="the chat id")
    update.add_argument("--name", help="the new name")
    update.add_argument("--description", help="the new description")
    update.add_argument("--archived", choices=("true", "false"), help="archive the chat, or open it again")

    members = commands.add_parser("members", help="add or remove a chat's members", formatter_class=formatter)
    member_commands = members.add_subparsers(dest="members_command", required=True)
    add = member_commands.add_parser(
        "add",
        parents=[target],
        help="add USER to CHAT, or set their role (PUT /admin/chats/CHAT/members/USER)",
        formatter_class=formatter,
    )
    add.add_argument("chat", help="the chat id")
    add.add_argument("user", help="the user id")
    add.add_argument("--role", choices=("member", "admin"), help="their role (default: member when added)")
    remove = member_commands.add_parser(
        "remove",
        parents=[target],
        help="remove USER from CHAT, the last admin too (DELETE /admin/chats/CHAT/members/USER)",
        formatter_class=formatter,
    )
    remove.add_argument("chat", help="the chat id")
    remove.add_argument("user", help="the user id")


def request_of(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """The call a command makes: its method, path and body."""
    if args.admin_command == "chats":
        return _chat_request(args)
    if args.admin_command == "members":
        path = f"/admin/chats/{quote(args.chat, safe='')}/members/{quote(args.user, safe='')}"
        if args.members_command == "remove":
            return "DELETE", path, None
        return "PUT", path, {} if args.role is None else {"role": args.role}
    user_path = f"/admin/users/{quote(args.user, safe='')}"
    if args.admin_command == "users" and args.users_command == "put":
        profile = {"displayName": args.display_name, "email": args.email, "avatarUrl": args.avatar_url}
        method, path, body = "PUT", user_path, {k: v for k, v in profile.items() if v is not None}
    elif args.admin_command == "users":
        method, path, body = "GET", user_path, None
    elif args.admin_command == "erase":
        method, path, body = "DELETE", user_path, None
    elif args.admin_command == "session":
        request: dict[str, Any] = {"userId": args.user}
        if args.ttl is not None:
            request["ttlSeconds"] = args.ttl
        method, path, body = "POST", "/admin/sessions", request
    else:
        method, path, body = "GET", f"{user_path}/export", None
    return method, path, body


def _chat_request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    if args.chats_command == "create":
        fields = {
            "type": args.type,
            "chatId": args.chat_id,
            "name": args.name,
            "members": args.member,
            "admins": args.admin or None,
            "description": args.description,
            "visibility": args.visibility,
        }
        return "POST", "/admin/chats", {k: v for k, v in fields.items() if v is not None}
    archived = None if args.archived is None else args.archived == "true"
    fields = {"name": args.name, "description": args.description, "archived": archived}
    return "PATCH", f"/admin/chats/{quote(args.chat, safe='')}", {k: v for k, v in fields.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    """The command's JSON on stdout (nothing for a removal), or one line on stderr and 1."""
    method, path, body = request_of(args)
    try:
        result = call(method, args.url, path, body, profile=args.profile, region=args.region)
        if result:
            print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
        if args.admin_command == "erase" and args.wait:
            _wait_until_erased(args, path)
    except AdminCallFailed as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 1
    return 0


def _wait_until_erased(args: argparse.Namespace, user_path: str) -> None:
    """Polls `GET /admin/users/USER` until it answers 404 (the erasure is complete), with a
    progress line on stderr; AdminCallFailed when it takes longer than `--timeout`."""
    started = time.monotonic()
    while True:
        try:
            call("GET", args.url, user_path, profile=args.profile, region=args.region)
        except AdminCallFailed as exc:
            if exc.status != 404:
                raise
            print(f"{args.user} erased ({time.monotonic() - started:.0f} s)", file=sys.stderr)
            return
        waited = time.monotonic() - started
        if waited >= args.timeout:
            raise AdminCallFailed(
                f"{args.user} is still being erased after {waited:.0f} s; it goes on in the background"
                f" ('{COMMAND} erase {args.user} --wait' waits again)"
            )
        print(f"erasing {args.user}... ({waited:.0f} s)", file=sys.stderr, flush=True)
        time.sleep(ERASURE_POLL_SECONDS)


def call(
    method: str,
    base_url: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    profile: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """One signed call of the administration API; its JSON answer, or `AdminCallFailed`."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdminCallFailed(f"--url must be http(s)://HOST[:PORT], not {base_url!r}")
    url = f"{base_url.rstrip('/')}{path}"
    data = b"" if body is None else json.dumps(body).encode()
    credentials, signing_region = _signer(parts.hostname, base_url, profile, region)
    headers = sigv4.sign(
        method, url, data, {"Content-Type": "application/json"}, credentials=credentials, region=signing_region
    )
    request = urllib.request.Request(url, data=data or None, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  (the scheme is checked)
            answer = response.read()
        return dict(json.loads(answer)) if answer else {}  # a 204 (a removal) has no body
    except urllib.error.HTTPError as exc:
        raise AdminCallFailed(_refusal(exc, path), exc.code) from None
    except ValueError:
        raise AdminCallFailed(f"{base_url} answered with something other than JSON; is it Tidings?") from None
    except OSError as exc:
        hint = "; start it with 'make dev'" if is_loopback_host(parts.hostname) else ""
        raise AdminCallFailed(f"cannot reach {base_url} ({getattr(exc, 'reason', exc)}){hint}") from None


def _signer(
    host: str, base_url: str, profile: str | None, region: str | None
) -> tuple[Credentials | ReadOnlyCredentials, str]:
    if profile is None and is_loopback_host(host):
        return Credentials(sigv4.DEV_ACCESS_KEY, sigv4.DEV_SECRET_KEY), region or sigv4.DEV_REGION
    import boto3
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        raise AdminCallFailed(f"cannot load AWS credentials: {exc}") from None
    if credentials is None:
        raise AdminCallFailed("no AWS credentials found: pass --profile, or set AWS_PROFILE or AWS_ACCESS_KEY_ID")
    in_url = _REGION_IN_URL.search(base_url)
    signing_region = session.region_name or (in_url.group(1) if in_url else None)
    if signing_region is None:
        raise AdminCallFailed("cannot tell the stack's region: pass --region")
    return credentials.get_frozen_credentials(), signing_region


def _refusal(error: urllib.error.HTTPError, path: str) -> str:
    """What the API said: API Gateway's `{"message"}` or Tidings' `{"error": {"message"}}`."""
    try:
        answer = json.load(error)
    except (ValueError, OSError):
        answer = {}
    message = answer.get("message") if isinstance(answer, dict) else None
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        message = answer["error"].get("message")
    if error.code == 403:
        return (
            f"the API refused the call's signature or permission: {message or 'Forbidden'} (HTTP 403); check the"
            " credentials (--profile) and that they are allowed the stack's AdminInvokePolicy"
        )
    if error.code == 404 and message is None:
        return f"no such route {path} (HTTP 404); is --url the stack's HttpApiUrl?"
    return f"{message or error.reason} (HTTP {error.code})"
