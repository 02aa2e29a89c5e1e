"""The vocabulary for declaring the application once, and the one place it is put together.

Each feature declares a `Feature` (its fragment: functions, routes, subscriptions, schedules),
and `tidings.app` composes them: `APPLICATION = compose(...)`. The CDK app (`infra/`) and the
local runtime (`tidings dev`) both build from that one `Application`, so adding a route is one
edit and the two cannot drift apart.

`compose` checks the invariants once, for both runtimes, and derives what can be derived
instead of restating it: the application's tables from the functions' grants, its queues from
the subscriptions and the functions' send queues, its secrets, search indexes and buckets from
the functions that use them. Environment variable names are derived from ids too
(`env_var_name`): table `Messages` is `MESSAGES_TABLE`, queue `TypingTimers` is
`TYPING_TIMERS_QUEUE_URL`, secret `JwtSigningKey` is `JWT_SIGNING_KEY_SECRET_ARN`; no name is
spelled anywhere else. `function_environment` is the exact set of variables a function gets,
and `TABLE_ACTIONS` (`BUCKET_ACTIONS`) the DynamoDB (S3) actions each access level allows: the CDK stack and the local
runtime both use these two, so a grant means the same on AWS and on a laptop.

Nothing here imports AWS or CDK: it is plain data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

if TYPE_CHECKING:
    from tidings.kernel.environment import FeatureSettings

Access = Literal["read", "write", "read_write"]
StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]
StreamEventName = Literal["INSERT", "MODIFY", "REMOVE"]

# Set on functions with `manages_connections`: the @connections endpoint of the WebSocket stage.
CALLBACK_URL_ENV = "WEBSOCKET_CALLBACK_URL"

# DynamoDB actions per access level. Explicit lists rather than CDK's grant_read_data and friends:
# those include Scan, and no Tidings code path may Scan, so no grant allows it. DescribeTable is
# there because PynamoDB reads the key schema on first use. The CDK grants and the local
# runtime's IAM emulation both derive from this one table.
_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
TABLE_ACTIONS: dict[Access, tuple[str, ...]] = {
    "read": ("dynamodb:DescribeTable", *_READ_ACTIONS),
    "write": ("dynamodb:DescribeTable", "dynamodb:ConditionCheckItem", *_WRITE_ACTIONS),
    "read_write": ("dynamodb:DescribeTable", *_READ_ACTIONS, *_WRITE_ACTIONS),
}

# S3 actions per bucket access, named by what the function does with objects. A presigned URL
# acts with the permissions of whoever signed it, so the function that hands out upload URLs
# needs "put" and the one that hands out download URLs "get". The CDK grants and the local
# runtime's IAM emulation both derive from this one table.
BucketAccess = Literal["put", "get", "get_tags", "untag", "delete"]
BUCKET_ACTIONS: dict[BucketAccess, tuple[str, ...]] = {
    "put": ("s3:PutObject",),
    "get": ("s3:GetObject",),
    "get_tags": ("s3:GetObjectTagging",),
    "untag": ("s3:DeleteObjectTagging",),
    "delete": ("s3:DeleteObject",),
}


# DynamoDB Streams: "More than 2 processes are reading from the same streams shard at the same
# time. Exceeding this limit may result in request throttling" (its LimitExceededException). Each
# stream subscription is an event source mapping, which reads every shard of its stream.
MAX_STREAM_READERS = 2


def env_var_name(resource_id: str, suffix: str) -> str:
    """`("TypingTimers", "QUEUE_URL")` -> `TYPING_TIMERS_QUEUE_URL`: the one naming rule."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", resource_id).upper()
    return f"{words}_{suffix}"


@dataclass(frozen=True)
class Table:
    """A DynamoDB table. Keys and indexes come from the PynamoDB model, which is the only
    definition of them; the TTL attribute is the model's `TTLAttribute` unless named here.
    Functions learn the deployed name from `env_var`."""

    id: str
    model: type[Model]
    stream: StreamView | None = None
    ttl_attribute: str | None = None

    def __post_init__(self) -> None:
        if self.ttl_attribute is None:
            ttl = [a.attr_name for a in self.model.get_attributes().values() if isinstance(a, TTLAttribute)]
            if ttl:
                object.__setattr__(self, "ttl_attribute", str(ttl[0]))

    @property
    def env_var(self) -> str:
        return env_var_name(self.id, "TABLE")

    @property
    def default_name(self) -> str:
        """The name the model carries until a function's environment binds the deployed one
        (`tidings.kernel.environment`): the local runtime's and the tests' name."""
        return str(self.model.Meta.table_name)


@dataclass(frozen=True)
class Queue:
    """An SQS queue. `delay_seconds` makes it a timer; `dead_letter_after` adds a DLQ.
    `carries_frames`: its jobs are frames for connections, so whoever sends or consumes them
    posts to connections and must be declared `manages_connections` (`compose` checks it)."""

    id: str
    delay_seconds: int = 0
    visibility_timeout_seconds: int = 30
    retention_days: int = 14
    dead_letter_after: int | None = None
    carries_frames: bool = False

    @property
    def env_var(self) -> str:
        return env_var_name(self.id, "QUEUE_URL")


@dataclass(frozen=True)
class Secret:
    """A secret held in Secrets Manager on AWS and generated by the local runtime.

    Without a `placeholder` the secret is a random key generated at deploy time. With one, the
    value comes from outside (credentials a third party issued, a key pair Secrets Manager
    cannot generate): the secret starts as the placeholder and the operator puts the real value.
    """

    id: str
    description: str
    placeholder: str | None = None

    @property
    def env_var(self) -> str:
        return env_var_name(self.id, "SECRET_ARN")


@dataclass(frozen=True)
class Bucket:
    """An S3 bucket: private, encrypted, reached only through presigned URLs and the grants of
    the functions declared with it. Objects under `expiring_prefix` that carry the tag
    `expiring_tag` (`key=value`) are deleted `expire_after_days` after they were written (a
    lifecycle rule): what is uploaded there and never used does not stay; removing the tag
    keeps an object. `browser_uploads`: browsers POST to it cross-origin (presigned
    POST uploads), so it answers CORS. Functions learn the bucket's name from `env_var`."""

    id: str
    expiring_prefix: str | None = None
    expiring_tag: tuple[str, str] | None = None
    expire_after_days: int = 1
    browser_uploads: bool = False

    @property
    def env_var(self) -> str:
        return env_var_name(self.id, "BUCKET")


@dataclass(frozen=True)
class SearchIndex:
    """The full-text search index (docs/protocol.md, "Search"): an OpenSearch Service domain on
    AWS, the embedded SQLite FTS5 engine locally. A function declared with it gets `env_var`
    (the domain endpoint), `engine_env` and `index_env`; `db_path_env` is the embedded
    engine's file, set by the local runtime and the tests."""

    id: str
    index_name: str

    @property
    def env_var(self) -> str:
        return env_var_name(self.id, "ENDPOINT")

    @property
    def engine_env(self) -> str:
        return env_var_name(self.id, "ENGINE")

    @property
    def index_env(self) -> str:
        return env_var_name(self.id, "INDEX")

    @property
    def db_path_env(self) -> str:
        return env_var_name(self.id, "DB_PATH")


@dataclass(frozen=True)
class Function:
    """A Lambda function: code in `functions/<domain>/<module>.py` (`domain` is the code folder,
    named after the feature), entry `module.attr`. `settings` are the feature settings models
    (`tidings.kernel.environment.FeatureSettings`) its code reads from the environment."""

    id: str
    domain: str
    handler: str
    description: str
    tables: tuple[tuple[Table, Access], ...] = ()
    secrets: tuple[Secret, ...] = ()
    send_queues: tuple[Queue, ...] = ()
    manages_connections: bool = False
    search: tuple[tuple[SearchIndex, Access], ...] = ()
    buckets: tuple[tuple[Bucket, tuple[BucketAccess, ...]], ...] = ()
    memory_mb: int = 512
    timeout_seconds: int = 10
    settings: tuple[type[FeatureSettings], ...] = ()

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Route:
    """A WebSocket route, selected by `$request.body.type`.

    `two_way` routes return their reply frame as the integration response, so a reply costs
    no extra @connections call."""

    key: str
    function: Function
    two_way: bool = True


@dataclass(frozen=True)
class MockRoute:
    """A WebSocket route that API Gateway answers itself, with no Lambda invocation (a MOCK
    integration). The reply is `{"type": reply_type, "id": …, "timestamp": …,
    "payload": {"refId": <the client frame's id>}}`. Used for `ping`, so a heartbeat every 30 s
    per connection costs no invocation."""

    key: str
    reply_type: str


# How an HTTP route's caller is authorized. "jwt": API Gateway lets every request through and
# the function verifies the user's bearer JWT itself (`tidings.kernel.rest.caller_id`). "iam":
# API Gateway's IAM authorization: only a SigV4-signed request of a principal allowed
# `execute-api:Invoke` on the route reaches the function (the administration API, called by the
# platform's own backend), and the event carries `requestContext.authorizer.iam`.
HttpAuthorization = Literal["jwt", "iam"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class HttpRoute:
    """A route of the HTTP API (docs/protocol.md, "REST"), with API Gateway HTTP API payload
    v2.0 events. `path` uses API Gateway's syntax: `/api/chats/{chatId}/messages`."""

    method: HttpMethod
    path: str
    function: Function
    authorization: HttpAuthorization = "jwt"

    @property
    def key(self) -> str:
        """API Gateway's route key: `GET /api/chats`."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Authorizer:
    """The Lambda REQUEST authorizer on `$connect`."""

    function: Function


@dataclass(frozen=True)
class StreamSubscription:
    """A DynamoDB Streams event source mapping, with Lambda's failure handling spelled out.
    `parallelization_factor`: concurrent batches per stream shard (Lambda's 1 to 10), the records
    of one partition key always in the same batch sequence, in order."""

    table: Table
    function: Function
    on_failure: Queue
    batch_size: int = 100
    max_batching_window_seconds: int = 0
    retry_attempts: int = 3
    bisect_batch_on_error: bool = True
    max_record_age_seconds: int = 3600
    event_names: tuple[StreamEventName, ...] = ("INSERT",)
    starting_position: Literal["LATEST", "TRIM_HORIZON"] = "LATEST"
    parallelization_factor: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.parallelization_factor <= 10:
            raise ValueError(
                f"parallelization_factor of {self.function.id}'s stream subscription must be 1 to 10 (Lambda's bounds),"
                f" not {self.parallelization_factor}"
            )


@dataclass(frozen=True)
class BucketSubscription:
    """S3 event notifications of `ObjectCreated` under `prefix` of `bucket`, delivered to
    `function` as an asynchronous invocation (S3's own event shape). Lambda retries a failed
    asynchronous invocation twice, then sends the event to `on_failure`."""

    bucket: Bucket
    function: Function
    on_failure: Queue
    prefix: str = ""


@dataclass(frozen=True)
class QueueSubscription:
    """An SQS event source mapping (partial batch responses on)."""

    queue: Queue
    function: Function
    batch_size: int = 10
    max_batching_window_seconds: int = 0


@dataclass(frozen=True)
class Schedule:
    """An EventBridge schedule that invokes a function every `rate_seconds`. The invocation is
    asynchronous: one that still fails after Lambda's retries lands in `on_failure` (the
    function's dead-letter queue), never silently lost."""

    id: str
    function: Function
    rate_seconds: int
    on_failure: Queue


@dataclass(frozen=True)
class Application:
    name: str
    tables: tuple[Table, ...]
    functions: tuple[Function, ...]
    authorizer: Authorizer
    routes: tuple[Route, ...]
    mock_routes: tuple[MockRoute, ...] = ()
    http_routes: tuple[HttpRoute, ...] = ()
    stream_subscriptions: tuple[StreamSubscription, ...] = ()
    queues: tuple[Queue, ...] = ()
    queue_subscriptions: tuple[QueueSubscription, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    secrets: tuple[Secret, ...] = ()
    search_indexes: tuple[SearchIndex, ...] = ()
    buckets: tuple[Bucket, ...] = ()
    bucket_subscriptions: tuple[BucketSubscription, ...] = ()
    # Frames larger than this get FRAME_TOO_LARGE from the handlers (docs/protocol.md, "Frames").
    max_frame_bytes: int = 64 * 1024

    def route(self, key: str) -> Route | None:
        return next((r for r in self.routes if r.key == key), None)

    def function(self, function_id: str) -> Function:
        return next(f for f in self.functions if f.id == function_id)


# --- fragments and their composition -----------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """One feature's part of the application: the functions it owns and what triggers them.
    Tables, queues, secrets and search indexes are not listed: they follow from the functions'
    grants and the subscriptions (`compose`)."""

    name: str
    functions: tuple[Function, ...] = ()
    authorizer: Authorizer | None = None
    routes: tuple[Route, ...] = ()
    mock_routes: tuple[MockRoute, ...] = ()
    http_routes: tuple[HttpRoute, ...] = ()
    stream_subscriptions: tuple[StreamSubscription, ...] = ()
    queue_subscriptions: tuple[QueueSubscription, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    bucket_subscriptions: tuple[BucketSubscription, ...] = ()


class DeclarationError(ValueError):
    """The features do not compose into a valid application; the message says every problem."""


T = TypeVar("T")


def _unique(items: Iterable[T]) -> tuple[T, ...]:
    """In first-seen order, each once."""
    return tuple(dict.fromkeys(items))


def compose(*features: Feature, name: str = "Tidings") -> Application:
    """The application made of `features`, checked once for both runtimes."""
    functions = tuple(f for feature in features for f in feature.functions)
    authorizers = [feature.authorizer for feature in features if feature.authorizer is not None]
    routes = tuple(r for feature in features for r in feature.routes)
    http_routes = tuple(r for feature in features for r in feature.http_routes)
    streams = tuple(s for feature in features for s in feature.stream_subscriptions)
    queue_subscriptions = tuple(s for feature in features for s in feature.queue_subscriptions)
    schedules = tuple(s for feature in features for s in feature.schedules)
    bucket_subscriptions = tuple(s for feature in features for s in feature.bucket_subscriptions)
    problems: list[str] = []
    if len(authorizers) != 1:
        problems.append(f"exactly one feature declares the $connect authorizer (found {len(authorizers)})")
    _check_unique(problems, "function id", [f.id for f in functions])
    mock_routes = tuple(r for feature in features for r in feature.mock_routes)
    route_keys = [r.key for r in routes] + [r.key for r in mock_routes]
    _check_unique(problems, "WebSocket route key", route_keys)
    _check_unique(problems, "HTTP route", [f"{r.method} {r.path}" for r in http_routes])
    declared = {f.id: f for f in functions}
    used = [
        *(("route " + r.key, r.function) for r in routes),
        *((f"HTTP route {r.method} {r.path}", r.function) for r in http_routes),
        *((f"the stream subscription of {s.table.id}", s.function) for s in streams),
        *((f"the subscription of queue {s.queue.id}", s.function) for s in queue_subscriptions),
        *((f"schedule {s.id}", s.function) for s in schedules),
        *((f"the {s.bucket.id} bucket's notifications", s.function) for s in bucket_subscriptions),
        *(("the authorizer", a.function) for a in authorizers),
    ]
    for what, function in used:
        if declared.get(function.id) != function:
            problems.append(f"{what} uses function {function.id}, which no feature declares as it is used")
    for subscription in streams:
        if subscription.table.stream is None:
            problems.append(f"{subscription.function.id} subscribes to {subscription.table.id}, which has no stream")
    _check_stream_readers(problems, streams)
    consumers = {s.queue.id: s.function for s in queue_subscriptions}
    for function in functions:
        try:
            function_environment(function, _NAMES_FOR_CHECKING)
        except DeclarationError as exc:
            problems.append(str(exc))
        for queue in function.send_queues:
            if queue.carries_frames and not function.manages_connections:
                problems.append(f"{function.id} sends {queue.id} jobs (frames) but does not manage connections")
    for queue_id, function in consumers.items():
        queue = next(s.queue for s in queue_subscriptions if s.queue.id == queue_id)
        if queue.carries_frames and not function.manages_connections:
            problems.append(f"{function.id} consumes {queue_id} (frames) but does not manage connections")

    tables = _unique(
        [*(table for f in functions for table, _ in f.tables), *(s.table for s in streams)],
    )
    queues = _unique(
        [
            *(s.on_failure for s in streams),
            *(s.on_failure for s in schedules),
            *(q for f in functions for q in f.send_queues),
            *(s.queue for s in queue_subscriptions),
            *(s.on_failure for s in bucket_subscriptions),
        ]
    )
    secrets = _unique(s for f in functions for s in f.secrets)
    search_indexes = _unique(index for f in functions for index, _ in f.search)
    buckets = _unique(
        [*(bucket for f in functions for bucket, _ in f.buckets), *(s.bucket for s in bucket_subscriptions)]
    )
    for kind, items in (
        ("table", tables),
        ("queue", queues),
        ("secret", secrets),
        ("search index", search_indexes),
        ("bucket", buckets),
    ):
        _check_unique(problems, f"{kind} id", [item.id for item in items])  # type: ignore[attr-defined]
    if problems:
        raise DeclarationError("the application does not compose:\n- " + "\n- ".join(problems))
    return Application(
        name=name,
        tables=tables,
        functions=functions,
        authorizer=authorizers[0],
        routes=routes,
        mock_routes=mock_routes,
        http_routes=http_routes,
        stream_subscriptions=streams,
        queues=queues,
        queue_subscriptions=queue_subscriptions,
        schedules=schedules,
        secrets=secrets,
        search_indexes=search_indexes,
        buckets=buckets,
        bucket_subscriptions=bucket_subscriptions,
    )


def _check_stream_readers(problems: list[str], streams: Iterable[StreamSubscription]) -> None:
    readers: dict[str, list[str]] = {}
    for subscription in streams:
        readers.setdefault(subscription.table.id, []).append(subscription.function.id)
    for table_id, function_ids in readers.items():
        if len(function_ids) > MAX_STREAM_READERS:
            problems.append(
                f"the {table_id} stream has {len(function_ids)} readers ({', '.join(function_ids)}); DynamoDB "
                f"Streams throttles more than {MAX_STREAM_READERS} per shard. Do the new work in an existing "
                "consumer (as the Delivery consumer does fan-out and notifications), or have a consumer pass "
                "the records on through a queue"
            )


def combined_grants(*grants: Iterable[tuple[Table, Access]]) -> tuple[tuple[Table, Access], ...]:
    """The table grants of a function that does the work of several: each table once, with the
    widest access any of them needs (a table granted twice would set its variable twice)."""
    widest: dict[str, tuple[Table, Access]] = {}
    for table, access in (grant for group in grants for grant in group):
        held = widest.get(table.id)
        if held is None or held[1] == access:
            widest[table.id] = (table, access)
        else:
            widest[table.id] = (table, "read_write")
    return tuple(widest.values())


def _check_unique(problems: list[str], what: str, values: Iterable[object]) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            problems.append(f"{what} {value} is declared twice")
        seen.add(value)


# --- a function's environment ------------------------------------------------------------------


class PhysicalNames(Protocol):
    """What one runtime calls the declared resources: CloudFormation references in the CDK app,
    moto's names and URLs in the local runtime."""

    def table_name(self, table: Table) -> str: ...

    def queue_url(self, queue: Queue) -> str: ...

    def secret_arn(self, secret: Secret) -> str: ...

    def callback_url(self) -> str: ...

    def search_endpoint(self, index: SearchIndex) -> str: ...

    def bucket_name(self, bucket: Bucket) -> str: ...


def function_environment(function: Function, names: PhysicalNames) -> dict[str, str]:
    """The environment variables the declaration gives `function`, given the runtime's names:
    each granted table's name, each secret's ARN, each send queue's URL, the @connections
    endpoint when it manages connections, and the search index's endpoint, engine and index.
    The runtime adds its own (Powertools' settings, what Lambda itself sets). Feature settings
    are not set: their defaults hold unless a runtime overrides them (`tidings dev` flags).

    Raises DeclarationError when two declarations would set one variable."""
    environment: dict[str, str] = {}

    def put(key: str, value: str) -> None:
        if key in environment:
            raise DeclarationError(f"function {function.id}: environment variable {key} is set twice")
        environment[key] = value

    for table, _ in function.tables:
        put(table.env_var, names.table_name(table))
    for secret in function.secrets:
        put(secret.env_var, names.secret_arn(secret))
    for queue in function.send_queues:
        put(queue.env_var, names.queue_url(queue))
    if function.manages_connections:
        put(CALLBACK_URL_ENV, names.callback_url())
    for index, _ in function.search:
        put(index.env_var, names.search_endpoint(index))
        put(index.engine_env, "opensearch")
        put(index.index_env, index.index_name)
    for bucket, _ in function.buckets:
        put(bucket.env_var, names.bucket_name(bucket))
    for settings in function.settings:
        for variable in settings.variables().values():
            if variable in environment:
                raise DeclarationError(f"function {function.id}: environment variable {variable} is set twice")
    return environment


class _Placeholders:
    """Names for checking a declaration, where no runtime has named anything yet."""

    def table_name(self, table: Table) -> str:
        return table.id

    def queue_url(self, queue: Queue) -> str:
        return queue.id

    def secret_arn(self, secret: Secret) -> str:
        return secret.id

    def callback_url(self) -> str:
        return "callback"

    def search_endpoint(self, index: SearchIndex) -> str:
        return index.id

    def bucket_name(self, bucket: Bucket) -> str:
        return bucket.id


_NAMES_FOR_CHECKING = _Placeholders()


class TableMeta:
    """What every table's model shares: on-demand billing. Its `table_name` is the local name
    (moto's, the tests'); a function's environment binds the deployed name and the region at
    cold start (`tidings.kernel.environment.environment_of`). Until then the region is boto3's
    default, as for every other client."""

    billing_mode = "PAY_PER_REQUEST"
    region: str | None = None
