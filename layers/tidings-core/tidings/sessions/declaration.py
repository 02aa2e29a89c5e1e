"""The sessions' part of the application (docs/protocol.md, "Connecting" and "Sessions"): the
`$connect` authorizer, connect and disconnect, the session frames, token timers and the auth
REST API."""

from __future__ import annotations

from tidings.chats.models import MEMBERS, USERS
from tidings.kernel.declaration import (
    Authorizer,
    Feature,
    Function,
    HttpRoute,
    MockRoute,
    Queue,
    QueueSubscription,
    Route,
    Secret,
)
from tidings.kernel.environment import FeatureSettings
from tidings.presence.declaration import (
    PRESENCE_RECORDING,
    PRESENCE_RECORDING_QUEUES,
    PRESENCE_RECORDING_SETTINGS,
)
from tidings.sessions.models import CONNECTION_RECORDS, REFRESH_TOKENS
from tidings.sessions.provider_settings import IdentityProviderSettings


class ProtocolSettings(FeatureSettings, prefix="PROTOCOL_"):
    """`PROTOCOL_UPGRADE_URL`: where a client that speaks no supported protocol version is sent
    (`UPGRADE_REQUIRED`)."""

    upgrade_url: str = "https://github.com/tidings/tidings/blob/main/docs/protocol.md#versions"


# What every function that verifies access tokens reads besides the signing key: the
# deployment's identity providers (`tidings.sessions.compose.token_verifier`).
TOKEN_VERIFICATION_SETTINGS: tuple[type[FeatureSettings], ...] = (IdentityProviderSettings,)

JWT_SIGNING_KEY = Secret("JwtSigningKey", "HS256 key that signs Tidings access tokens")
# Token timers (token.refresh, then the close at expiry); a timer further out than SQS's
# 15-minute delay re-enqueues itself. Also the closes that met a connection inside its handshake.
TOKEN_TIMERS = Queue("TokenTimers", visibility_timeout_seconds=30, dead_letter_after=5, carries_frames=True)

AUTHORIZER = Function(
    "Authorizer",
    "sessions",
    "authorizer.handler",
    "Verifies the JWT on $connect; creates a provider's new user (just-in-time provisioning)",
    tables=((USERS, "read_write"),),  # revokedBefore; users provisioned just in time
    secrets=(JWT_SIGNING_KEY,),
    settings=TOKEN_VERIFICATION_SETTINGS,
)
CONNECT = Function(
    "Connect",
    "sessions",
    "connect.handler",
    "Stores a new connection, arms its token timer, closes the user's oldest beyond 5; presence",
    tables=(*CONNECTION_RECORDS, (USERS, "read"), *PRESENCE_RECORDING),  # Users: revokedBefore
    send_queues=(TOKEN_TIMERS, *PRESENCE_RECORDING_QUEUES),
    settings=PRESENCE_RECORDING_SETTINGS,
    manages_connections=True,
)
DISCONNECT = Function(
    "Disconnect",
    "sessions",
    "disconnect.handler",
    "Removes a closed connection; offline after the last",
    tables=(*CONNECTION_RECORDS, *PRESENCE_RECORDING),
    settings=PRESENCE_RECORDING_SETTINGS,
)
DEFAULT = Function(
    "Default",
    "sessions",
    "default_route.handler",
    "Answers frames no route matched (BAD_FRAME, UNKNOWN_TYPE), and ping where no mock route does",
    memory_mb=256,
)
SESSION = Function(
    "Session",
    "sessions",
    "session_frames.handler",
    "hello, auth.renew, chat.focus",
    tables=(*CONNECTION_RECORDS, (MEMBERS, "read"), (USERS, "read"), *PRESENCE_RECORDING),
    secrets=(JWT_SIGNING_KEY,),
    send_queues=(TOKEN_TIMERS, *PRESENCE_RECORDING_QUEUES),
    settings=(*PRESENCE_RECORDING_SETTINGS, ProtocolSettings, *TOKEN_VERIFICATION_SETTINGS),
    manages_connections=True,  # UPGRADE_REQUIRED closes the connection
)
SESSION_TIMERS = Function(
    "SessionTimers",
    "sessions",
    "token_timers.handler",
    "Token timers: token.refresh before the token expires, the close when it has",
    tables=CONNECTION_RECORDS,
    send_queues=(TOKEN_TIMERS,),
    manages_connections=True,
)
AUTH_API = Function(
    "AuthApi",
    "sessions",
    "auth_api.handler",
    "POST /api/auth/refresh and POST /api/auth/revoke",
    tables=((USERS, "read_write"), (REFRESH_TOKENS, "read_write"), *CONNECTION_RECORDS),
    secrets=(JWT_SIGNING_KEY,),
    settings=TOKEN_VERIFICATION_SETTINGS,
    send_queues=(TOKEN_TIMERS,),  # a connection revoked inside its handshake is closed a moment later
    manages_connections=True,  # revoke closes the user's connections
    timeout_seconds=30,
)

FEATURE = Feature(
    "sessions",
    functions=(AUTHORIZER, CONNECT, DISCONNECT, DEFAULT, SESSION, SESSION_TIMERS, AUTH_API),
    authorizer=Authorizer(AUTHORIZER),
    routes=(
        Route("$connect", CONNECT, two_way=False),
        Route("$disconnect", DISCONNECT, two_way=False),
        Route("$default", DEFAULT),
        Route("hello", SESSION),
        Route("auth.renew", SESSION),
        Route("chat.focus", SESSION),
    ),
    # API Gateway answers ping itself: a heartbeat every 30 s per connection costs no Lambda
    # invocation (docs/protocol.md, "Heartbeat"). Where no mock runs, $default answers it.
    mock_routes=(MockRoute("ping", "pong"),),
    http_routes=(
        HttpRoute("POST", "/api/auth/refresh", AUTH_API),
        HttpRoute("POST", "/api/auth/revoke", AUTH_API),
    ),
    queue_subscriptions=(QueueSubscription(TOKEN_TIMERS, SESSION_TIMERS, batch_size=10),),
)
