"""`tidings admin ...`: the administration API from a terminal, SigV4-signed with botocore.

    tidings admin users put USER --display-name NAME [--email E] [--avatar-url https://…]
    tidings admin users get USER
    tidings admin session USER [--ttl SECONDS]
    tidings admin export USER

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
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.credentials import Credentials, ReadOnlyCredentials

from tidings_local import sigv4
from tidings_local.local_only import is_loopback_host

COMMAND = "tidings admin"
_REGION_IN_URL = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


class AdminCallFailed(Exception):
    """What to tell the operator, in one line."""


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


def run(args: argparse.Namespace) -> int:
    """The command's JSON on stdout, or one line on stderr and 1."""
    user_path = f"/admin/users/{quote(args.user, safe='')}"
    if args.admin_command == "users" and args.users_command == "put":
        profile = {"displayName": args.display_name, "email": args.email, "avatarUrl": args.avatar_url}
        method, path, body = "PUT", user_path, {k: v for k, v in profile.items() if v is not None}
    elif args.admin_command == "users":
        method, path, body = "GET", user_path, None
    elif args.admin_command == "session":
        request: dict[str, Any] = {"userId": args.user}
        if args.ttl is not None:
            request["ttlSeconds"] = args.ttl
        method, path, body = "POST", "/admin/sessions", request
    else:
        method, path, body = "GET", f"{user_path}/export", None
    try:
        result = call(method, args.url, path, body, profile=args.profile, region=args.region)
    except AdminCallFailed as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


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
        raise AdminCallFailed(_refusal(exc, path)) from None
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
