"""The `tidings` command: `tidings dev` runs the local runtime, `tidings token` prints a JWT.

    tidings dev [--demo] [--seed FILE] [--host 127.0.0.1] [--port 8080] [--idle-timeout 600] [--max-duration 7200]
                [--presence-idle-seconds 300] [--presence-update-interval 10]
                [--push-retry-base-seconds 30] [--retention-days 0] [--faults SPEC ...]
    tidings token USER [--ttl 900]
    tidings session USER [--url http://127.0.0.1:8080]
    tidings reindex [--url http://127.0.0.1:8080]
    tidings chat USER [--url http://127.0.0.1:8080] [--chat CHAT] [--token JWT --ws-url URL --api-url URL]
    tidings admin users put|get USER | session USER | export USER | erase USER [--url URL --profile P --region R]
    tidings vapid-keys --subject mailto:ops@example.com

`tidings dev` prints a short banner to stderr, then `Tidings is ready on http://HOST:PORT`
once `/healthz` answers 200, and exits 0 on Ctrl+C or SIGTERM. `tidings token` prints the JWT
as its last line of stdout, signed with the same local key the runtime uses (`keys.py`).
`tidings session` asks a running `tidings dev` for a sign-in with a refresh token (refresh
tokens live in the runtime's tables, so only the runtime can issue one) and prints it as JSON.
`tidings reindex` asks a running `tidings dev` to rebuild its search index from its message
store (the data lives in that process), drawing a progress bar on stderr.

`tidings chat USER` is a small terminal chat client on the Python SDK (`chat_client.py`).

`tidings dev --faults SPEC` breaks the runtime on purpose (DynamoDB throttles and 5xx,
@connections errors, stream consumers failing on a record, search or the push service down):
see `FAULTS_HELP` below and `tidings_local/faults.py`.

`tidings admin` calls the administration API, signed with SigV4 (`admin_cli.py`).

`tidings vapid-keys` prints a new Web Push VAPID key pair as the JSON value of the deployed
`PushVapidKey` secret, for `aws secretsmanager put-secret-value` (README, "Deploy").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from tidings.sessions.provider_settings import IdentityProvider, parse_providers, providers_variable
from tidings.sessions.tokens import (
    DEFAULT_TTL_SECONDS,
    MAX_TOKEN_LIFETIME_SECONDS,
    InvalidToken,
    issue_token,
    verify_token,
)
from tidings_infra.cors import CorsPolicy, cors_allowed_origins
from tidings_local import admin_cli, chat_client, log_format
from tidings_local.keys import ENV_VAR, dev_signing_key
from tidings_local.local_only import is_loopback_host

if TYPE_CHECKING:
    from tidings_local.seed import Seed

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_URL = chat_client.DEFAULT_URL


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the epilogs' layout and shows every real default as "(default: …)"; an option
    whose default is "unset" (None, False, []) says in its own help what unset means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []):
            return action.help
        return super()._get_help_string(action)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _retention_days(text: str) -> int:
    from tidings.chats.models import MAX_RETENTION_DAYS

    if not text.isdigit() or int(text) > MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"must be a whole number of days from 0 to {MAX_RETENTION_DAYS}, not {text}")
    return int(text)


def _ttl(text: str) -> int:
    """A token lifetime the server accepts: whole seconds, more than 0 (a token with `exp` at or
    before `iat` is expired when printed) and at most its longest lifetime."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, not {text} (the token would be expired)"
        )
    if value > MAX_TOKEN_LIFETIME_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_TOKEN_LIFETIME_SECONDS} seconds, not {text} (the server refuses longer-lived tokens)"
        )
    return value


def _user_id(text: str) -> str:
    """A user id the server accepts in a token's `sub`: not blank, without surrounding
    whitespace (a quoting slip, never a user), and small enough that its token is accepted."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a user id cannot be empty or blank")
    if text != text.strip():
        raise argparse.ArgumentTypeError(f"a user id cannot begin or end with whitespace: {text!r}")
    key = dev_signing_key()
    try:  # the server's own check, on a token for this id
        verify_token(issue_token(text, key, DEFAULT_TTL_SECONDS), key)
    except InvalidToken as exc:
        raise argparse.ArgumentTypeError(f"the server would refuse a token for this user id: {exc}") from None
    return text


def _function_environment(args: argparse.Namespace) -> dict[str, str]:
    """The flags that reach the functions as environment variables (the features' settings)."""
    environment = {}
    if args.presence_idle_seconds is not None:
        environment["PRESENCE_IDLE_SECONDS"] = str(args.presence_idle_seconds)
    if args.presence_update_interval is not None:
        environment["PRESENCE_UPDATE_INTERVAL_SECONDS"] = str(args.presence_update_interval)
    if args.push_retry_base_seconds is not None:
        environment["PUSH_RETRY_BASE_SECONDS"] = str(args.push_retry_base_seconds)
    if args.identity_providers is not None:
        environment["IDENTITY_PROVIDERS"] = providers_variable(args.identity_providers)
    if args.retention_days is not None:
        environment["RETENTION_DAYS"] = str(args.retention_days)
    return environment


def _cors_origin(text: str) -> str:
    try:
        return cors_allowed_origins([text])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _identity_providers(path: str) -> list[IdentityProvider]:
    """The `--identity-providers` file: the same JSON list as the CDK context value."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_providers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{path}: {exc}") from None


FAULTS_HELP = """\
fault injection (--faults SPEC, repeatable; or at run time: POST /_local/faults {"faults": SPEC},
DELETE /_local/faults to clear, GET to list; GET /_local/stats counts what fired):
  SPEC  = RULE[,RULE...]     RULE = TARGET:ERROR[:KEY=VALUE...]     VALUE = ITEM[+ITEM...]
  dynamodb:throttle|throttling|500   ProvisionedThroughputExceededException, ThrottlingException,
                                     InternalServerError; keys op, table, function, applied=true
                                     (the call takes effect, then the error answers)
  connections:500|429                the @connections API fails; keys op, user, connection
  stream:error|crash                 a consumer fails on a record (crash: the whole invocation);
                                     keys function (required), record=N (the Nth record), chat
  search:down                        the embedded search engine fails
  push:down|500..599                 the Web Push service is unreachable or answers that status
  every rule: p=PROBABILITY (default 1), count=N (fail N calls, then stop)
  e.g. --faults dynamodb:throttle:function=MessageSend:p=0.3 --faults stream:error:function=Delivery:record=1
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidings", description="Tidings local tools", formatter_class=_HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser(
        "dev",
        help="run the whole backend locally (API Gateway, Lambda, DynamoDB on moto)",
        description="Runs the whole backend in this process. By default its state (tables, queues, the search\n"
        "index) is in memory and is lost when it stops; with --data DIR it is kept in DIR across restarts.",
        epilog=FAULTS_HELP,
        formatter_class=_HelpFormatter,
    )
    dev.add_argument("--demo", action="store_true", help="load the demo users and chats (a built-in seed file)")
    dev.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="FILE",
        help="load users, chats and members from a JSON or YAML file shaped like the administration API's bodies"
        ' ({"users": [{userId, displayName, ...}], "chats": [{chatId, type, name, members, admins}]}; repeatable,'
        " after --demo's)",
    )
    dev.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="the address to listen on; any other than loopback exposes the runtime to the network (a warning"
        " says so, and the local-only endpoints refuse other hosts unless --allow-remote-local-endpoints)",
    )
    dev.add_argument("--port", type=int, default=DEFAULT_PORT, help="the port to listen on; 0 picks a free port")
    dev.add_argument(
        "--allow-remote-local-endpoints",
        action="store_true",
        help="let other hosts use the unauthenticated local-only endpoints (/@connections, /_local/...:"
        " sign-in for any user, faults, stats, reindex); by default they answer 403 to any peer but this host",
    )
    dev.add_argument(
        "--log-format",
        choices=log_format.FORMATS,
        default="auto",
        help="text: one short human line per log record (coloured unless NO_COLOR is set); json: one"
        " Powertools JSON object per line, as on Lambda; auto: text on a terminal, else json",
    )
    dev.add_argument(
        "--idle-timeout",
        type=_positive,
        default=600,
        metavar="SECONDS",
        help="close a connection that sent no frame for this long (API Gateway: 10 minutes)",
    )
    dev.add_argument(
        "--max-duration",
        type=_positive,
        default=7200,
        metavar="SECONDS",
        help="close a connection open for this long (API Gateway: 2 hours)",
    )
    dev.add_argument(
        "--presence-idle-seconds",
        type=_positive,
        metavar="SECONDS",
        help="a user without activity frames for this long is away (default: 300)",
    )
    dev.add_argument(
        "--presence-update-interval",
        type=_positive,
        metavar="SECONDS",
        help="presence.update takes effect at most once per this many seconds per user (default: 10)",
    )

    dev.add_argument(
        "--push-retry-base-seconds",
        type=_positive,
        metavar="SECONDS",
        help="the first push retry's delay, doubling for each later one (default: 30)",
    )
    dev.add_argument(
        "--retention-days",
        type=_retention_days,
        metavar="DAYS",
        help="days a message is kept in a chat that sets no retentionDays of its own; the hourly sweep"
        " deletes older ones (default: 0, forever; the CDK context tidings:retentionDays)",
    )
    dev.add_argument(
        "--cors-origin",
        action="append",
        type=_cors_origin,
        metavar="ORIGIN",
        help="an origin browsers may call the HTTP API from (repeatable; https://host[:port]); default: any"
        " origin (*), as the stack's default (the CDK context tidings:corsAllowedOrigins)",
    )
    dev.add_argument(
        "--identity-providers",
        type=_identity_providers,
        metavar="FILE",
        help="accept the access tokens of these OpenID Connect providers beside Tidings' own: a JSON list of"
        " {issuer, audience, jwksUrl, userIdClaim, algorithms, justInTimeProvisioning}, as the CDK context"
        " tidings:identityProviders takes (README, 'Configure your identity provider')",
    )
    dev.add_argument(
        "--faults",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject faults from the start (repeatable; grammar below)",
    )

    token = commands.add_parser(
        "token", help="print a JWT for USER signed with the local key", formatter_class=_HelpFormatter
    )
    token.add_argument("user", type=_user_id, help="the user id (the token's sub)")
    token.add_argument(
        "--ttl",
        type=_ttl,
        default=DEFAULT_TTL_SECONDS,
        metavar="SECONDS",
        help=f"how long the token lives, 1 to {MAX_TOKEN_LIFETIME_SECONDS} seconds",
    )

    session = commands.add_parser(
        "session",
        help="sign USER in on a running tidings dev: prints {token, refreshToken, expiresAt}",
        formatter_class=_HelpFormatter,
    )
    session.add_argument("user", type=_user_id, help="the user id to sign in")
    session.add_argument("--url", default=DEFAULT_URL, help="the runtime's base URL")
    dev.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="keep the state (tables, queues, the search index, the local keys) in DIR across restarts,"
        " saved within seconds of each write and when it stops; --demo and --seed load only into an empty DIR"
        " (default: in memory, nothing survives a restart)",
    )
    dev.add_argument(
        "--search-db",
        metavar="PATH",
        help="the embedded search engine's SQLite file (default: DIR/search.db with --data, else a fresh one"
        " in a temporary directory)",
    )

    reindex = commands.add_parser(
        "reindex",
        help="rebuild the search index of a running tidings dev from its message store",
        formatter_class=_HelpFormatter,
    )
    reindex.add_argument("--url", default=DEFAULT_URL, help="the runtime's base URL")

    chat = commands.add_parser(
        "chat",
        help="chat in the terminal as USER (messages, typing, receipts, presence) on tidings dev or AWS",
        formatter_class=_HelpFormatter,
    )
    chat_client.add_arguments(chat)

    admin = commands.add_parser(
        "admin",
        help="the administration API (users, sessions, export, erasure, chats), SigV4-signed, on tidings dev or AWS",
        description=admin_cli.__doc__.split("\n\n", 1)[1] if admin_cli.__doc__ else None,
        formatter_class=_HelpFormatter,
    )
    admin_cli.add_arguments(admin, DEFAULT_URL, _HelpFormatter)

    vapid = commands.add_parser(
        "vapid-keys", help="print a new VAPID key pair as the value of the PushVapidKey secret (for AWS)"
    )
    vapid.add_argument(
        "--subject", required=True, help="how push services can reach the operator: mailto:… or https://…"
    )
    return parser


def _reindex(base_url: str) -> int:
    """Streams the runtime's progress lines (NDJSON) into a progress bar on stderr."""
    if not base_url.startswith(("http://", "https://")):
        print(f"tidings reindex: --url must be http(s)://HOST:PORT, not {base_url!r}", file=sys.stderr)
        return 2
    request = urllib.request.Request(f"{base_url.rstrip('/')}/_local/reindex", data=b"{}", method="POST")  # noqa: S310
    last: dict = {}
    try:
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
            for line in response:
                last = json.loads(line)
                if "error" in last:
                    print(f"\ntidings reindex: {last['error']['message']}", file=sys.stderr)
                    return 1
                print(f"\r{_progress_bar(last)}", end="", file=sys.stderr, flush=True)
    except OSError as exc:
        print(
            f"tidings reindex: cannot reach tidings dev at {base_url} ({exc}); start it with 'make dev'",
            file=sys.stderr,
        )
        return 1
    print(file=sys.stderr)
    print(f"Reindexed {last.get('messages', 0)} messages from {last.get('chatsTotal', 0)} chats", file=sys.stderr)
    return 0


def _progress_bar(progress: dict, width: int = 30) -> str:
    done, total = int(progress.get("chatsDone", 0)), int(progress.get("chatsTotal", 0))
    filled = width if total == 0 else width * done // total
    bar = "#" * filled + "." * (width - filled)
    return f"Reindexing [{bar}] {done}/{total} chats, {progress.get('messages', 0)} messages"


def _vapid_keys(subject: str) -> int:
    """The secret's value on stdout (the private key: pipe it, don't paste it into a ticket);
    the public key, which browsers subscribe with, on stderr for reference."""
    from tidings.notifications.vapid import VapidConfig

    if not subject.startswith(("mailto:", "https://")):
        print("tidings vapid-keys: --subject must be a mailto: or https: URL (RFC 8292)", file=sys.stderr)
        return 2
    config = VapidConfig.generate(subject)
    print(config.to_secret())
    print(f"public key (served by GET /api/push/vapid-public-key): {config.public_key}", file=sys.stderr)
    return 0


def _session(user_id: str, base_url: str) -> int:
    if not base_url.startswith(("http://", "https://")):
        print(f"tidings session: --url must be http(s)://HOST:PORT, not {base_url!r}", file=sys.stderr)
        return 2
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
        f"{base_url.rstrip('/')}/_local/sessions",
        data=json.dumps({"userId": user_id}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            session = json.load(response)
    except urllib.error.HTTPError as exc:  # it answered: say what it said, not "cannot reach"
        print(f"tidings session: {base_url} refused the sign-in: {_error_message(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"tidings session: cannot reach tidings dev at {base_url} ({exc}); start it with 'make dev'",
            file=sys.stderr,
        )
        return 1
    except ValueError:
        print(
            f"tidings session: {base_url} answered with something other than JSON; is it tidings dev?", file=sys.stderr
        )
        return 1
    return _print_result("tidings session", json.dumps(session, indent=2))


def _error_message(error: urllib.error.HTTPError) -> str:
    """The runtime's JSON error message (`{"error": {"message"}}`), else the HTTP status."""
    try:
        body = json.load(error)
        return f"{body['error']['message']} (HTTP {error.code})"
    except (ValueError, KeyError, TypeError, OSError):
        return f"HTTP {error.code} {error.reason}"


def _print_result(command: str, text: str) -> int:
    """Prints the command's result on stdout; a failure to write it (a full disk, a closed
    pipe) is reported as what it is, and exits 1."""
    try:
        print(text)
        sys.stdout.flush()
    except OSError as exc:
        # Point stdout at /dev/null so the interpreter's own flush at exit does not fail again
        # with a traceback-like "Exception ignored" (the recipe of Python's signal docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        print(f"{command}: cannot write to stdout: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _banner(
    url: str, http_routes: list[str], seed: Seed | None, data_dir: Path | None = None, restored: bool = False
) -> str:
    """`seed`: what was loaded (none when the state came from --data); `data_dir`: --data,
    `restored`: its state was loaded."""
    key_source = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else f"the development key (set {ENV_VAR} to change it)"
    # The exact commands for this runtime: without --url they would reach port 8080, which may
    # be another runtime (or anything else listening there).
    url_flag = "" if url == DEFAULT_URL else f" --url {url}"
    lines = [
        "Tidings local runtime (API Gateway WebSocket + Lambda + DynamoDB Streams, on moto)",
        f"  WebSocket: {url.replace('http://', 'ws://', 1)}/ws",
        f"  health:    {url}/healthz",
    ]
    if http_routes:
        lines.append(f"  HTTP API:  {url} + {', '.join(http_routes)}")
    lines += [
        "  token:     .venv/bin/tidings token alice",
        f"             or .venv/bin/tidings session alice{url_flag}   (with a refresh token)",
        "             then connect with ?token=<jwt> or an 'Authorization: Bearer <jwt>' header",
        f"  chat:      .venv/bin/tidings chat alice{url_flag}",
        f"  signing key: {key_source}",
        "  state:     in memory: every table, queue and message is lost when tidings dev stops"
        if data_dir is None
        else f"  state:     kept in {data_dir} ({'restored from it' if restored else 'empty: a fresh start'})",
    ]
    lines.append("  admin:     .venv/bin/tidings admin users put zoe --display-name Zoe" + url_flag)
    if seed is not None:
        from tidings_local.seed import describe

        lines += [f"Seeded from {', '.join(Path(source).name for source in seed.sources)}:", describe(seed)]
    return "\n".join(lines)


def _load_seeds(demo: bool, files: list[str]) -> Seed | None:
    if not demo and not files:
        return None
    from tidings_local.seed import DEMO_SEED, load_seeds

    return load_seeds([*([DEMO_SEED] if demo else []), *files])


def _exposure_warning(host: str, allow_remote_local_endpoints: bool) -> str | None:
    """The warning for a bind beyond loopback, or None."""
    if is_loopback_host(host):
        return None
    shown = host or "''"
    exposed = f"warning: --host {shown} listens beyond this machine: anyone who can reach it can connect."
    if allow_remote_local_endpoints:
        return (
            f"{exposed} --allow-remote-local-endpoints lets them use the unauthenticated local-only endpoints"
            " too: /@connections (post to or close any connection) and /_local/* (sign in as any user, faults,"
            " stats, reindex)."
        )
    return (
        f"{exposed} The unauthenticated local-only endpoints (/@connections, /_local/*: sign-in as any user,"
        " faults, stats, reindex) answer 403 to other hosts (--allow-remote-local-endpoints to allow them)."
    )


async def _serve(args: argparse.Namespace) -> bool:
    """Runs until SIGINT/SIGTERM. True if handlers were still running when it stopped."""
    from tidings_local.runtime import LocalRuntime

    runtime = LocalRuntime(
        args.host,
        args.port,
        demo=args.demo,
        seed=args.loaded_seed,
        idle_timeout=args.idle_timeout,
        max_duration=args.max_duration,
        search_db_path=args.search_db,
        data_dir=args.data,
        environment=_function_environment(args),
        faults=args.faults,
        allow_remote_local_endpoints=args.allow_remote_local_endpoints,
        cors=CorsPolicy(allow_origins=tuple(cors_allowed_origins(args.cors_origin))),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    try:
        routes = [f"{r.method} {r.path}" for r in runtime.application.http_routes]
        restored = runtime.restored_state
        seeded = None if restored else args.loaded_seed
        print(_banner(runtime.url, routes, seeded, args.data, restored), file=sys.stderr)
        if (warning := _exposure_warning(args.host, args.allow_remote_local_endpoints)) is not None:
            print(warning, file=sys.stderr)
        print(f"Tidings is ready on {runtime.url}", file=sys.stderr, flush=True)
        await stop.wait()
        print("Shutting down", file=sys.stderr, flush=True)
    finally:
        await runtime.stop()
    return runtime.lambdas.in_flight > 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "token":
        return _print_result("tidings token", issue_token(args.user, dev_signing_key(), args.ttl))
    if args.command == "session":
        return _session(args.user, args.url)
    if args.command == "reindex":
        return _reindex(args.url)
    if args.command == "chat":
        return chat_client.run(args)
    if args.command == "admin":
        return admin_cli.run(args)
    if args.command == "vapid-keys":
        return _vapid_keys(args.subject)
    try:  # a bad seed file fails here, before anything starts, naming the file, entry and field
        args.loaded_seed = _load_seeds(args.demo, args.seed)
    except ValueError as exc:
        print(f"tidings dev: --seed: {exc}", file=sys.stderr)
        return 2
    restore_stdout = log_format.install(args.log_format)
    try:
        handlers_running = asyncio.run(_serve(args))
    except Exception as exc:  # a startup failure: one clear line, not a traceback
        print(f"tidings dev: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        restore_stdout()
        # moto and botocore leave millions of objects behind; the interpreter's final garbage
        # collection over them would delay the exit by ~1.5 s. Everything is closed by now.
        gc.freeze()
    if handlers_running:
        # A handler thread still running (a stream consumer's batch behind a burst of messages)
        # would hold the interpreter's exit until it finishes, up to its function timeout. Its
        # state dies with the process anyway, as a Lambda container's does: exit now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
