"""A function's environment as a typed model, built from its declaration.

`environment_of(function)` reads exactly what the function was declared with (its tables,
queues, secrets, buckets, the @connections endpoint, its search index, the feature settings it reads)
from the process environment, refuses to start with a clear error naming every missing or bad
variable, and binds the PynamoDB models of the function's tables to the names it was given.
So storage never reads `os.environ`, and a function has no name for a table, queue or secret
it was not granted: asking for one is an error naming the function and the resource.

A handler calls it on first use and builds its services from it (`cold_start`); the cookbook's
handlers validate their environment model the same way.

Feature settings (presence durations, push retries, the protocol upgrade URL) are small pydantic
models owned by their feature, each variable named by the model's prefix and the field:
`PresenceSettings(prefix="PRESENCE_")` reads `PRESENCE_IDLE_SECONDS` into `idle_seconds`.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import ValidationError

from tidings.kernel.declaration import CALLBACK_URL_ENV, Bucket, Function, Queue, SearchIndex, Secret, Table
from tidings.kernel.lazy_model import LazyModel

S = TypeVar("S", bound="FeatureSettings")
T = TypeVar("T")
DEFAULT_REGION = "us-east-1"


class FeatureSettings(LazyModel):
    """A feature's settings, read from `<prefix><FIELD>` variables; every field has a default."""

    prefix: ClassVar[str] = ""

    def __init_subclass__(cls, prefix: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if prefix:
            cls.prefix = prefix

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> environment variable name."""
        return {name: f"{cls.prefix}{name.upper()}" for name in cls.model_fields}

    @classmethod
    def from_environ(cls: type[S], environ: Mapping[str, str]) -> S:
        values = {name: environ[variable] for name, variable in cls.variables().items() if variable in environ}
        return cls.model_validate(values)


class MissingEnvironment(RuntimeError):
    """The function cannot start: variables its declaration needs are missing or invalid."""


class UndeclaredResource(LookupError):
    """Code asked for a resource its function was not declared with."""


@dataclass(frozen=True)
class SearchLocation:
    """Where a function's search index is: OpenSearch at `endpoint`, or the embedded engine's
    SQLite file at `db_path`."""

    engine: Literal["embedded", "opensearch"]
    index_name: str
    endpoint: str | None
    db_path: str


@dataclass(frozen=True)
class Environment:
    """What one function may use, by declared resource."""

    function: Function
    region: str
    tables: Mapping[str, str] = field(default_factory=dict)
    queues: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    connections_endpoint: str | None = None
    search_indexes: Mapping[str, SearchLocation] = field(default_factory=dict)
    feature_settings: Mapping[type[FeatureSettings], FeatureSettings] = field(default_factory=dict)
    buckets: Mapping[str, str] = field(default_factory=dict)

    def table_name(self, table: Table) -> str:
        return self._lookup(self.tables, table.id, "table")

    def require(self, *tables: Table) -> None:
        """Raises UndeclaredResource unless the function was granted every one of `tables`:
        what a compose function checks before it builds a store on them."""
        for table in tables:
            self.table_name(table)

    def queue_url(self, queue: Queue) -> str:
        return self._lookup(self.queues, queue.id, "send queue")

    def secret_arn(self, secret: Secret) -> str:
        return self._lookup(self.secrets, secret.id, "secret")

    def bucket_name(self, bucket: Bucket) -> str:
        return self._lookup(self.buckets, bucket.id, "bucket")

    def search(self, index: SearchIndex) -> SearchLocation:
        return self._lookup(self.search_indexes, index.id, "search index")

    @property
    def callback_url(self) -> str:
        """The @connections endpoint; only a function declared `manages_connections` has one."""
        if self.connections_endpoint is None:
            raise UndeclaredResource(f"function {self.function.id} does not manage connections")
        return self.connections_endpoint

    def settings(self, model: type[S]) -> S:
        found = self.feature_settings.get(model)
        if found is None:
            raise UndeclaredResource(f"function {self.function.id} does not declare the settings {model.__name__}")
        assert isinstance(found, model)
        return found

    def _lookup(self, values: Mapping[str, T], resource_id: str, kind: str) -> T:
        try:
            return values[resource_id]
        except KeyError:
            raise UndeclaredResource(f"function {self.function.id} has no {kind} {resource_id}") from None


def environment_of(function: Function, environ: Mapping[str, str] | None = None) -> Environment:
    """`function`'s environment, from `environ` (the process environment by default). Raises
    MissingEnvironment naming every missing or invalid variable. Binds the models of the
    function's tables to their names in this environment, and to its region."""
    source = os.environ if environ is None else environ
    problems: list[str] = []

    def required(variable: str) -> str:
        value = source.get(variable)
        if not value:
            problems.append(f"{variable} is not set")
            return ""
        return value

    region = source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    tables = {table.id: required(table.env_var) for table, _ in function.tables}
    queues = {queue.id: required(queue.env_var) for queue in function.send_queues}
    secrets = {secret.id: required(secret.env_var) for secret in function.secrets}
    endpoint = required(CALLBACK_URL_ENV) if function.manages_connections else None
    search_indexes = {index.id: _search_location(index, source, problems) for index, _ in function.search}
    buckets = {bucket.id: required(bucket.env_var) for bucket, _ in function.buckets}
    settings: dict[type[FeatureSettings], FeatureSettings] = {}
    for model in function.settings:
        try:
            settings[model] = model.from_environ(source)
        except ValidationError as exc:
            for error in exc.errors():
                variable = model.variables().get(str(error["loc"][0]), str(error["loc"][0]))
                problems.append(f"{variable}: {error['msg']}")
    if problems:
        raise MissingEnvironment(f"function {function.id} cannot start: " + "; ".join(problems))
    for table, _ in function.tables:
        table.model.Meta.table_name = tables[table.id]
        table.model.Meta.region = region
    return Environment(function, region, tables, queues, secrets, endpoint, search_indexes, settings, buckets)


def _search_location(index: SearchIndex, source: Mapping[str, str], problems: list[str]) -> SearchLocation:
    engine = source.get(index.engine_env, "embedded")
    if engine not in ("embedded", "opensearch"):
        problems.append(f"{index.engine_env} must be embedded or opensearch, not {engine!r}")
        engine = "embedded"
    endpoint = source.get(index.env_var) or None
    if engine == "opensearch" and not endpoint:
        problems.append(f"{index.engine_env}=opensearch needs {index.env_var}")
    db_path = source.get(index.db_path_env) or str(Path(tempfile.gettempdir()) / "tidings-search.db")
    return SearchLocation(engine, source.get(index.index_env) or index.index_name, endpoint, db_path)  # type: ignore[arg-type]


class ColdStart(Generic[T]):
    """What a handler builds once per container, from its function's environment, on first use
    (the Lambda execution environment keeps it for every later invocation)."""

    _all: ClassVar[weakref.WeakSet[ColdStart[Any]]] = weakref.WeakSet()

    def __init__(self, function: Function, build: Callable[[Environment], T]) -> None:
        self.function = function
        self._build = build
        self._built: list[T] = []
        ColdStart._all.add(self)

    @classmethod
    def forget_all(cls) -> None:
        """Every handler of this process starts cold again, as in a new execution environment
        (tests: each test is a new container)."""
        for cold_start in list(cls._all):
            cold_start._built.clear()

    def __call__(self) -> T:
        if not self._built:
            self._built.append(self._build(environment_of(self.function)))
        return self._built[0]


def cold_start(function: Function) -> Callable[[Callable[[Environment], T]], ColdStart[T]]:
    """`@cold_start(FUNCTION)` over `def services(environment) -> Services`: `services()` builds
    them on first use and returns the same ones after."""

    def decorate(build: Callable[[Environment], T]) -> ColdStart[T]:
        return wraps(build)(ColdStart(function, build))  # type: ignore[return-value]

    return decorate
