"""The application, declared once.

Both `infra/` (CDK) and `tidings_local` (`tidings dev`) are built from `APPLICATION`. To add a
route: write the handler under `functions/<domain>/`, declare its `Function` and `Route` here,
and both runtimes pick it up.
"""

from __future__ import annotations

from tidings.declaration import (
    Application,
    Authorizer,
    Function,
    Queue,
    Route,
    Secret,
    StreamSubscription,
    Table,
)
from tidings.storage.models import (
    ChatModel,
    ConnectionModel,
    EphemeralModel,
    IdempotencyModel,
    MemberModel,
    MessageModel,
    UserModel,
)

# --- tables -------------------------------------------------------------------------------

CONNECTIONS = Table("Connections", ConnectionModel, "CONNECTIONS_TABLE", ttl_attribute="expiresAt")
USERS = Table("Users", UserModel, "USERS_TABLE")
CHATS = Table("Chats", ChatModel, "CHATS_TABLE")
MEMBERS = Table("Members", MemberModel, "MEMBERS_TABLE")
# NEW_AND_OLD_IMAGES so later consumers (search, notify) see what an edit or delete replaced.
MESSAGES = Table("Messages", MessageModel, "MESSAGES_TABLE", stream="NEW_AND_OLD_IMAGES")
IDEMPOTENCY = Table("Idempotency", IdempotencyModel, "IDEMPOTENCY_TABLE", ttl_attribute="expiresAt")
EPHEMERAL = Table("Ephemeral", EphemeralModel, "EPHEMERAL_TABLE", ttl_attribute="expiresAt")

# --- secrets and queues -------------------------------------------------------------------

JWT_SIGNING_KEY = Secret("JwtSigningKey", "JWT_SECRET_ARN", "HS256 key that signs Tidings access tokens")

FANOUT_FAILURES = Queue("FanoutFailures", "FANOUT_FAILURES_QUEUE_URL")

# --- functions ----------------------------------------------------------------------------

AUTHORIZER = Function(
    "Authorizer",
    "connect",
    "authorizer.handler",
    "Verifies the JWT on $connect",
    secrets=(JWT_SIGNING_KEY,),
)
CONNECT = Function("Connect", "connect", "connect.handler", "Stores a new connection", tables=((CONNECTIONS, "write"),))
DISCONNECT = Function(
    "Disconnect",
    "connect",
    "disconnect.handler",
    "Removes a closed connection",
    tables=((CONNECTIONS, "write"),),
)
DEFAULT = Function(
    "Default",
    "connect",
    "default.handler",
    "Answers ping and frames no route matched (BAD_FRAME, UNKNOWN_TYPE)",
    memory_mb=256,
)
MESSAGE_SEND = Function(
    "MessageSend",
    "message",
    "send.handler",
    "message.send: authorize, allocate seq, write idempotently, ack",
    tables=(
        (MEMBERS, "read"),
        (USERS, "read"),
        (CHATS, "read_write"),
        (MESSAGES, "read_write"),
        (IDEMPOTENCY, "read_write"),
        (EPHEMERAL, "read_write"),
    ),
)
MESSAGE_EVENTS = Function(
    "MessageEvents",
    "message",
    "events.handler",
    "message.edit, message.delete, message.react: each change a chat event with its own seq",
    tables=(
        (MEMBERS, "read"),
        (USERS, "read"),
        (CHATS, "read_write"),
        (MESSAGES, "read_write"),
        (IDEMPOTENCY, "read_write"),
        (EPHEMERAL, "read_write"),
    ),
)
FANOUT = Function(
    "Fanout",
    "message",
    "fanout.handler",
    "Delivers chat events from the Messages stream to every member's connections",
    tables=((MEMBERS, "read"), (MESSAGES, "read"), (CONNECTIONS, "read_write")),
    manages_connections=True,
    timeout_seconds=30,
)

APPLICATION = Application(
    name="Tidings",
    tables=(CONNECTIONS, USERS, CHATS, MEMBERS, MESSAGES, IDEMPOTENCY, EPHEMERAL),
    functions=(AUTHORIZER, CONNECT, DISCONNECT, DEFAULT, MESSAGE_SEND, MESSAGE_EVENTS, FANOUT),
    authorizer=Authorizer(AUTHORIZER),
    routes=(
        Route("$connect", CONNECT, two_way=False),
        Route("$disconnect", DISCONNECT, two_way=False),
        Route("$default", DEFAULT),
        Route("ping", DEFAULT),
        Route("message.send", MESSAGE_SEND),
        Route("message.edit", MESSAGE_EVENTS),
        Route("message.delete", MESSAGE_EVENTS),
        Route("message.react", MESSAGE_EVENTS),
    ),
    stream_subscriptions=(
        StreamSubscription(
            MESSAGES,
            FANOUT,
            on_failure=FANOUT_FAILURES,
            batch_size=100,
            max_batching_window_seconds=0,
            retry_attempts=3,
            event_names=("INSERT",),
        ),
    ),
    queues=(FANOUT_FAILURES,),
    secrets=(JWT_SIGNING_KEY,),
)
