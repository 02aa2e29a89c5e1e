"""The application, declared once.

Both `infra/` (CDK) and `tidings_local` (`tidings dev`) are built from `APPLICATION`. To add a
route: write the handler under `functions/<domain>/`, declare its `Function` and `Route` here,
and both runtimes pick it up.
"""

from __future__ import annotations

from tidings.declaration import (
    Access,
    Application,
    Authorizer,
    Function,
    HttpRoute,
    MockRoute,
    Queue,
    QueueSubscription,
    Route,
    SearchIndex,
    Secret,
    StreamSubscription,
    Table,
)
from tidings.storage.models import (
    AuditModel,
    ChatModel,
    ConnectionModel,
    EphemeralModel,
    IdempotencyModel,
    MemberModel,
    MessageModel,
    PresenceModel,
    PresenceSubscriptionModel,
    PushSubscriptionModel,
    RefreshTokenModel,
    UserConnectionsModel,
    UserModel,
)

# --- tables -------------------------------------------------------------------------------

CONNECTIONS = Table("Connections", ConnectionModel, "CONNECTIONS_TABLE", ttl_attribute="expiresAt")
# A user's live connections on one item (the connection limit, revoke, fan-out by user).
USER_CONNECTIONS = Table("UserConnections", UserConnectionsModel, "USER_CONNECTIONS_TABLE", ttl_attribute="expiresAt")
USERS = Table("Users", UserModel, "USERS_TABLE")
CHATS = Table("Chats", ChatModel, "CHATS_TABLE")
# The Members stream carries read watermark moves to the receipts consumer.
MEMBERS = Table("Members", MemberModel, "MEMBERS_TABLE", stream="NEW_AND_OLD_IMAGES")
# NEW_AND_OLD_IMAGES so later consumers (search, notify) see what an edit or delete replaced.
MESSAGES = Table("Messages", MessageModel, "MESSAGES_TABLE", stream="NEW_AND_OLD_IMAGES")
IDEMPOTENCY = Table("Idempotency", IdempotencyModel, "IDEMPOTENCY_TABLE", ttl_attribute="expiresAt")
EPHEMERAL = Table("Ephemeral", EphemeralModel, "EPHEMERAL_TABLE", ttl_attribute="expiresAt")
REFRESH_TOKENS = Table("RefreshTokens", RefreshTokenModel, "REFRESH_TOKENS_TABLE", ttl_attribute="expiresAt")
# Urgent messages, for abuse review (seed §3.7); each record expires after a year.
AUDIT = Table("Audit", AuditModel, "AUDIT_TABLE", ttl_attribute="expiresAt")
PUSH_SUBSCRIPTIONS = Table(
    "PushSubscriptions", PushSubscriptionModel, "PUSH_SUBSCRIPTIONS_TABLE", ttl_attribute="expiresAt"
)
# Presence: the stream carries status changes to the presence fan-out; subscriptions lapse by TTL
# (and a check at read time, since TTL deletion is lazy).
PRESENCE = Table("Presence", PresenceModel, "PRESENCE_TABLE", stream="NEW_AND_OLD_IMAGES")
PRESENCE_SUBSCRIPTIONS = Table(
    "PresenceSubscriptions", PresenceSubscriptionModel, "PRESENCE_SUBSCRIPTIONS_TABLE", ttl_attribute="expiresAt"
)

# --- secrets and queues -------------------------------------------------------------------

JWT_SIGNING_KEY = Secret("JwtSigningKey", "JWT_SECRET_ARN", "HS256 key that signs Tidings access tokens")

FANOUT_FAILURES = Queue("FanoutFailures", "FANOUT_FAILURES_QUEUE_URL")
RECEIPTS_FAILURES = Queue("ReceiptsFailures", "RECEIPTS_FAILURES_QUEUE_URL")
NOTIFY_FAILURES = Queue("NotifyFailures", "NOTIFY_FAILURES_QUEUE_URL")
SEARCH_INDEX_FAILURES = Queue("SearchIndexFailures", "SEARCH_INDEX_FAILURES_QUEUE_URL")
# Delivery retries (docs/architecture.md "Fan-out"): frames that some connections could not take
# (a 5xx or a throttle from the @connections API), each job due after its attempt's backoff. A
# connection that fails again is re-enqueued, so only a job the function cannot process at all is
# redelivered by SQS, and after 3 receives parked in the DLQ. Visibility is 6x the timeout.
DELIVERY_RETRIES = Queue(
    "DeliveryRetries",
    "DELIVERY_RETRIES_QUEUE_URL",
    delay_seconds=1,
    visibility_timeout_seconds=180,
    dead_letter_after=3,
)
# Typing expiry timers: each message carries its own delay (SQS allows up to 15 minutes).
TYPING_TIMERS = Queue("TypingTimers", "TYPING_TIMERS_QUEUE_URL", visibility_timeout_seconds=30, dead_letter_after=3)
# Token timers (token.refresh, then the close at expiry); a timer further out than SQS's
# 15-minute delay re-enqueues itself.
TOKEN_TIMERS = Queue("TokenTimers", "TOKEN_TIMERS_QUEUE_URL", visibility_timeout_seconds=30, dead_letter_after=5)
# Push (docs/architecture.md "Push"). Jobs from the Notify consumer, and the worker's own
# per-subscription retries (each with its backoff as DelaySeconds). Delivery failures are
# retried by re-enqueueing, so only a job the worker cannot process at all (a malformed body,
# storage down) is redelivered by SQS, and after 3 receives parked in the DLQ. Visibility is 6x
# the worker's timeout, as AWS advises for SQS event sources.
PUSH_JOBS = Queue("PushJobs", "PUSH_JOBS_QUEUE_URL", visibility_timeout_seconds=360, dead_letter_after=3)
# Placeholders ("{}") mean "not configured": that platform's subscriptions are skipped.
PUSH_VAPID = Secret(
    "PushVapidKey",
    "PUSH_VAPID_SECRET_ARN",
    'Web Push VAPID key pair: {"privateKey": base64url P-256 scalar, "subject": "mailto:..."}',
    placeholder="{}",
)
PUSH_FCM = Secret(
    "PushFcmServiceAccount",
    "PUSH_FCM_SECRET_ARN",
    "FCM HTTP v1: the Firebase service account JSON key",
    placeholder="{}",
)
PUSH_APNS = Secret(
    "PushApnsKey",
    "PUSH_APNS_SECRET_ARN",
    'APNs token auth: {"teamId", "keyId", "privateKey" (.p8 PEM), "bundleId", "sandbox"}',
    placeholder="{}",
)

PRESENCE_FAILURES = Queue("PresenceFailures", "PRESENCE_FAILURES_QUEUE_URL")
# Presence timers: each online period's idle check (re-arming itself) and coalesced updates.
PRESENCE_TIMERS = Queue(
    "PresenceTimers", "PRESENCE_TIMERS_QUEUE_URL", visibility_timeout_seconds=30, dead_letter_after=5
)

# Functions that serve activity frames (tidings.edge.activity) record activity in Presence; a
# user seen active while presence thought them gone starts an online period, hence the queue.
_PRESENCE_ACTIVITY: tuple[tuple[Table, Access], ...] = ((PRESENCE, "read_write"),)

# A connection's own record and its entry in its user's: whatever opens, closes, finds by user
# or forgets a connection (DynamoConnectionStore) writes both.
_CONNECTION_RECORDS: tuple[tuple[Table, Access], ...] = ((CONNECTIONS, "read_write"), (USER_CONNECTIONS, "read_write"))

# --- functions ----------------------------------------------------------------------------

AUTHORIZER = Function(
    "Authorizer",
    "connect",
    "authorizer.handler",
    "Verifies the JWT on $connect",
    tables=((USERS, "read"),),  # revokedBefore
    secrets=(JWT_SIGNING_KEY,),
)
CONNECT = Function(
    "Connect",
    "connect",
    "connect.handler",
    "Stores a new connection, arms its token timer, closes the user's oldest beyond 5; presence",
    tables=(*_CONNECTION_RECORDS, (USERS, "read"), (PRESENCE, "read_write")),  # Users: revokedBefore
    send_queues=(TOKEN_TIMERS, PRESENCE_TIMERS),
    manages_connections=True,
)
DISCONNECT = Function(
    "Disconnect",
    "connect",
    "disconnect.handler",
    "Removes a closed connection; offline after the last",
    tables=(*_CONNECTION_RECORDS, (PRESENCE, "read_write")),
)
DEFAULT = Function(
    "Default",
    "connect",
    "default.handler",
    "Answers frames no route matched (BAD_FRAME, UNKNOWN_TYPE), and ping where no mock route does",
    memory_mb=256,
)
SESSION = Function(
    "Session",
    "connect",
    "session.handler",
    "hello, auth.renew, chat.focus",
    tables=(*_CONNECTION_RECORDS, (MEMBERS, "read"), (USERS, "read"), *_PRESENCE_ACTIVITY),
    secrets=(JWT_SIGNING_KEY,),
    send_queues=(TOKEN_TIMERS, PRESENCE_TIMERS),
    manages_connections=True,  # UPGRADE_REQUIRED closes the connection
)
SESSION_TIMERS = Function(
    "SessionTimers",
    "connect",
    "timers.handler",
    "Token timers: token.refresh before the token expires, the close when it has",
    tables=_CONNECTION_RECORDS,
    send_queues=(TOKEN_TIMERS,),
    manages_connections=True,
)
AUTH_API = Function(
    "AuthApi",
    "connect",
    "auth_api.handler",
    "POST /api/auth/refresh and POST /api/auth/revoke",
    tables=((USERS, "read_write"), (REFRESH_TOKENS, "read_write"), *_CONNECTION_RECORDS),
    secrets=(JWT_SIGNING_KEY,),
    send_queues=(TOKEN_TIMERS,),  # a connection revoked inside its handshake is closed a moment later
    manages_connections=True,  # revoke closes the user's connections
    timeout_seconds=30,
)
MESSAGE_SEND = Function(
    "MessageSend",
    "message",
    "send.handler",
    "message.send: authorize, allocate seq, write idempotently, ack",
    tables=(
        (MEMBERS, "read_write"),  # the sender's read watermark moves to their message
        (USERS, "read"),
        (CHATS, "read_write"),
        (MESSAGES, "read_write"),
        (IDEMPOTENCY, "read_write"),
        (EPHEMERAL, "read_write"),
        (AUDIT, "write"),  # urgent messages
        *_PRESENCE_ACTIVITY,
    ),
    send_queues=(PRESENCE_TIMERS,),
)
MESSAGE_EVENTS = Function(
    "MessageEvents",
    "message",
    "message_events.handler",
    "message.edit, message.delete, message.react: each change a chat event with its own seq",
    tables=(
        (MEMBERS, "read"),
        (USERS, "read"),
        (CHATS, "read_write"),
        (MESSAGES, "read_write"),
        (IDEMPOTENCY, "read_write"),
        (EPHEMERAL, "read_write"),
        *_PRESENCE_ACTIVITY,
    ),
    send_queues=(PRESENCE_TIMERS,),
)
FANOUT = Function(
    "Fanout",
    "message",
    "fanout.handler",
    "Delivers chat events from the Messages stream to every member's connections",
    tables=(
        (MEMBERS, "read"),
        (MESSAGES, "read"),
        (USERS, "read"),
        (EPHEMERAL, "read_write"),  # sending a message ends the sender's typing
        *_CONNECTION_RECORDS,
    ),
    send_queues=(DELIVERY_RETRIES,),
    manages_connections=True,
    timeout_seconds=30,
)
DELIVERY_RETRY = Function(
    "DeliveryRetry",
    "message",
    "delivery_retry.handler",
    "Posts frames again to the connections that could not take them, with backoff; gives up after the last try",
    tables=_CONNECTION_RECORDS,
    send_queues=(DELIVERY_RETRIES,),
    manages_connections=True,
    timeout_seconds=30,
)
_TYPING_TABLES: tuple[tuple[Table, Access], ...] = (
    (MEMBERS, "read"),
    (USERS, "read"),
    (EPHEMERAL, "read_write"),
    *_CONNECTION_RECORDS,
)
TYPING = Function(
    "Typing",
    "message",
    "typing_frames.handler",
    "typing.start, typing.stop: forwarded to the other members, throttled, never stored durably",
    tables=_TYPING_TABLES + _PRESENCE_ACTIVITY,
    send_queues=(TYPING_TIMERS, PRESENCE_TIMERS),
    manages_connections=True,
)
TYPING_EXPIRY = Function(
    "TypingExpiry",
    "message",
    "typing_timers.handler",
    "Typing timers: reports a typer stopped 5 s after the last typing.start",
    tables=_TYPING_TABLES,
    send_queues=(TYPING_TIMERS,),
    manages_connections=True,
)
READ_MARK = Function(
    "ReadMark",
    "message",
    "read.handler",
    "read.mark: moves the reader's watermark forward",
    tables=((MEMBERS, "read_write"), (MESSAGES, "read"), *_PRESENCE_ACTIVITY),
    send_queues=(PRESENCE_TIMERS,),
)
RECEIPTS = Function(
    "Receipts",
    "message",
    "receipts.handler",
    "Members stream consumer: read.receipt to the other members (coalesced per batch), and the reader's badge",
    tables=((MEMBERS, "read_write"), (MESSAGES, "read"), (USERS, "read_write"), *_CONNECTION_RECORDS),
    send_queues=(DELIVERY_RETRIES,),
    manages_connections=True,
    timeout_seconds=30,
)
NOTIFY = Function(
    "Notify",
    "notify",
    "notify.handler",
    "Messages stream consumer: badges, toasts and push jobs per recipient (seed §3.2)",
    tables=(
        (MEMBERS, "read_write"),
        (MESSAGES, "read"),  # a delete recounts the badges that counted its message
        (USERS, "read_write"),  # badge totals, preferences
        (CHATS, "read"),
        *_CONNECTION_RECORDS,
        (EPHEMERAL, "read_write"),  # toast groups
        (PRESENCE, "read"),  # DND
    ),
    send_queues=(PUSH_JOBS, DELIVERY_RETRIES),
    manages_connections=True,
    timeout_seconds=30,
)
PREFS_API = Function(
    "PrefsApi",
    "notify",
    "prefs_api.handler",
    "GET/PUT /api/prefs: notification preferences",
    tables=((USERS, "read_write"),),
    secrets=(JWT_SIGNING_KEY,),
)
SYNC = Function(
    "Sync",
    "message",
    "sync.handler",
    "sync.request: replays the chat events a client missed (one chat or all), with badges and presence",
    tables=(
        (CHATS, "read"),
        (MEMBERS, "read"),
        (MESSAGES, "read"),
        (USERS, "read"),
        (PRESENCE, "read"),
        (PRESENCE_SUBSCRIPTIONS, "read"),
        (EPHEMERAL, "read_write"),  # rate limit
    ),
)
CHATS_API = Function(
    "ChatsApi",
    "message",
    "chats_api.handler",
    "GET /api/chats and GET /api/chats/{chatId}/messages",
    tables=((CHATS, "read"), (MEMBERS, "read"), (MESSAGES, "read"), (USERS, "read")),
    secrets=(JWT_SIGNING_KEY,),
)
PUSH_API = Function(
    "PushApi",
    "notify",
    "push_api.handler",
    "POST/DELETE /api/push/subscriptions and GET /api/push/vapid-public-key",
    tables=((PUSH_SUBSCRIPTIONS, "read_write"), (USERS, "read")),
    secrets=(JWT_SIGNING_KEY, PUSH_VAPID),
)
PUSH_WORKER = Function(
    "PushWorker",
    "notify",
    "push_worker.handler",
    "Sends push jobs through Web Push, FCM and APNs; retries with backoff, deletes gone subscriptions",
    tables=((PUSH_SUBSCRIPTIONS, "read_write"),),
    secrets=(PUSH_VAPID, PUSH_FCM, PUSH_APNS),
    send_queues=(PUSH_JOBS,),
    timeout_seconds=60,
)

# --- search (PROTOCOL.md §9) ----------------------------------------------------------------

SEARCH_INDEX = SearchIndex("Search", "OPENSEARCH_ENDPOINT", index_name="tidings-messages")

SEARCH = Function(
    "Search",
    "search",
    "query.handler",
    "search.query, search.suggest: full-text search over the searcher's chats, people and files",
    tables=((MEMBERS, "read"), (CHATS, "read"), (USERS, "read"), (EPHEMERAL, "read_write")),
    search=((SEARCH_INDEX, "read"),),
)
SEARCH_INDEXER = Function(
    "SearchIndexer",
    "search",
    "indexer.handler",
    "Messages stream consumer: indexes new messages, re-indexes edits, removes deletes",
    tables=((MESSAGES, "read"),),
    search=((SEARCH_INDEX, "read_write"),),
    timeout_seconds=30,
)
SEARCH_REINDEX = Function(
    "SearchReindex",
    "search",
    "reindex.handler",
    "Rebuilds the search index from the message store (the recovery path; invoked by an operator)",
    tables=((CHATS, "read"), (MESSAGES, "read")),
    search=((SEARCH_INDEX, "read_write"),),
    memory_mb=1024,
    timeout_seconds=900,
)
PRESENCE_FRAMES = Function(
    "PresenceFrames",
    "presence",
    "frames.handler",
    "presence.update (coalesced), presence.subscribe (ack, then the snapshot), presence.unsubscribe",
    tables=((PRESENCE, "read_write"), (PRESENCE_SUBSCRIPTIONS, "read_write"), (EPHEMERAL, "read_write")),
    send_queues=(PRESENCE_TIMERS,),
    manages_connections=True,  # the subscribe snapshot follows its ack
    timeout_seconds=30,
)
PRESENCE_TIMERS_FUNCTION = Function(
    "PresenceTimerHandler",
    "presence",
    "timers.handler",
    "Presence timers: away after the idle time, coalesced presence.update applied",
    tables=((PRESENCE, "read_write"), (CONNECTIONS, "read")),
    send_queues=(PRESENCE_TIMERS,),
)
PRESENCE_CHANGES = Function(
    "PresenceChanges",
    "presence",
    "changes.handler",
    "Presence stream consumer: presence.changed to each changed user's subscribers (2 s batches)",
    tables=((PRESENCE_SUBSCRIPTIONS, "read"), *_CONNECTION_RECORDS),
    manages_connections=True,
    timeout_seconds=30,
)

APPLICATION = Application(
    name="Tidings",
    tables=(
        CONNECTIONS,
        USER_CONNECTIONS,
        USERS,
        CHATS,
        MEMBERS,
        MESSAGES,
        IDEMPOTENCY,
        EPHEMERAL,
        REFRESH_TOKENS,
        AUDIT,
        PUSH_SUBSCRIPTIONS,
        PRESENCE,
        PRESENCE_SUBSCRIPTIONS,
    ),
    functions=(
        AUTHORIZER,
        CONNECT,
        DISCONNECT,
        DEFAULT,
        SESSION,
        SESSION_TIMERS,
        AUTH_API,
        MESSAGE_SEND,
        MESSAGE_EVENTS,
        FANOUT,
        DELIVERY_RETRY,
        TYPING,
        TYPING_EXPIRY,
        READ_MARK,
        RECEIPTS,
        NOTIFY,
        PREFS_API,
        SYNC,
        CHATS_API,
        SEARCH,
        SEARCH_INDEXER,
        SEARCH_REINDEX,
        PUSH_API,
        PUSH_WORKER,
        PRESENCE_FRAMES,
        PRESENCE_TIMERS_FUNCTION,
        PRESENCE_CHANGES,
    ),
    authorizer=Authorizer(AUTHORIZER),
    routes=(
        Route("$connect", CONNECT, two_way=False),
        Route("$disconnect", DISCONNECT, two_way=False),
        Route("$default", DEFAULT),
        Route("hello", SESSION),
        Route("auth.renew", SESSION),
        Route("chat.focus", SESSION),
        Route("message.send", MESSAGE_SEND),
        Route("message.edit", MESSAGE_EVENTS),
        Route("message.delete", MESSAGE_EVENTS),
        Route("message.react", MESSAGE_EVENTS),
        Route("typing.start", TYPING),
        Route("typing.stop", TYPING),
        Route("read.mark", READ_MARK),
        Route("sync.request", SYNC),
        Route("search.query", SEARCH),
        Route("search.suggest", SEARCH),
        Route("presence.update", PRESENCE_FRAMES),
        Route("presence.subscribe", PRESENCE_FRAMES),
        Route("presence.unsubscribe", PRESENCE_FRAMES),
    ),
    http_routes=(
        HttpRoute("GET", "/api/chats", CHATS_API),
        HttpRoute("GET", "/api/chats/{chatId}/messages", CHATS_API),
        HttpRoute("POST", "/api/auth/refresh", AUTH_API),
        HttpRoute("POST", "/api/auth/revoke", AUTH_API),
        HttpRoute("GET", "/api/prefs", PREFS_API),
        HttpRoute("PUT", "/api/prefs", PREFS_API),
        HttpRoute("POST", "/api/push/subscriptions", PUSH_API),
        HttpRoute("DELETE", "/api/push/subscriptions", PUSH_API),
        HttpRoute("GET", "/api/push/vapid-public-key", PUSH_API),
    ),
    # API Gateway answers ping itself: a heartbeat every 30 s per connection costs no Lambda
    # invocation (PROTOCOL.md §3). Where no mock runs, ping reaches $default, which answers too.
    mock_routes=(MockRoute("ping", "pong"),),
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
        StreamSubscription(
            MESSAGES,
            NOTIFY,
            on_failure=NOTIFY_FAILURES,
            batch_size=100,
            max_batching_window_seconds=0,
            retry_attempts=3,
            event_names=("INSERT",),
        ),
        StreamSubscription(
            MEMBERS,
            RECEIPTS,
            on_failure=RECEIPTS_FAILURES,
            batch_size=100,
            max_batching_window_seconds=1,  # coalesces bursts of read.mark (PROTOCOL.md §10)
            retry_attempts=3,
            event_names=("MODIFY",),
        ),
        StreamSubscription(
            MESSAGES,
            SEARCH_INDEXER,
            on_failure=SEARCH_INDEX_FAILURES,
            batch_size=100,
            max_batching_window_seconds=0,  # searchable within 2 s of the ack (PROTOCOL.md §9)
            retry_attempts=3,
            event_names=("INSERT",),
        ),
        StreamSubscription(
            PRESENCE,
            PRESENCE_CHANGES,
            on_failure=PRESENCE_FAILURES,
            batch_size=100,
            max_batching_window_seconds=2,  # PROTOCOL.md §8: changes batched over 2 s windows
            retry_attempts=2,
            max_record_age_seconds=60,  # a presence change older than this is stale news
            event_names=("INSERT", "MODIFY"),
        ),
    ),
    queue_subscriptions=(
        QueueSubscription(TYPING_TIMERS, TYPING_EXPIRY, batch_size=10),
        QueueSubscription(TOKEN_TIMERS, SESSION_TIMERS, batch_size=10),
        QueueSubscription(PUSH_JOBS, PUSH_WORKER, batch_size=10),
        QueueSubscription(DELIVERY_RETRIES, DELIVERY_RETRY, batch_size=10),
        QueueSubscription(PRESENCE_TIMERS, PRESENCE_TIMERS_FUNCTION, batch_size=10),
    ),
    queues=(
        FANOUT_FAILURES,
        RECEIPTS_FAILURES,
        NOTIFY_FAILURES,
        TYPING_TIMERS,
        TOKEN_TIMERS,
        PUSH_JOBS,
        SEARCH_INDEX_FAILURES,
        PRESENCE_FAILURES,
        PRESENCE_TIMERS,
        DELIVERY_RETRIES,
    ),
    secrets=(JWT_SIGNING_KEY, PUSH_VAPID, PUSH_FCM, PUSH_APNS),
    search_indexes=(SEARCH_INDEX,),
)
