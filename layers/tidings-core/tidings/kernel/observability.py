"""The one place that creates the Powertools Logger, Tracer and Metrics.

Logs carry metadata only (chatId, messageId, userId, connectionId): message content is never
logged.

Log keys belong to one invocation. Every handler's `inject_lambda_context(clear_state=True)`
starts an invocation with only its own Lambda context, and per-invocation keys (userId, frame)
are appended with `thread_safe_append_keys`. The formatter also keeps the Lambda context keys
per thread: on AWS an execution environment runs one invocation at a time, but `tidings dev`
runs concurrent invocations in threads of one process sharing this Logger, where one shared
set of keys would give a line another invocation's request id.

The Tracer exists only where tracing is on (on Lambda, unless `POWERTOOLS_TRACE_DISABLED`):
Powertools' `Tracer()` imports the X-Ray SDK even when disabled, and by default patches every
library the SDK supports at once (`patch_all`), importing botocore's client, httpx, requests
and PynamoDB whether the function uses them or not. Here each library is patched when the
function first imports it, so a function traces its calls of what it uses and pays for no more.

A stream or queue consumer handles each record of a batch in `record_scope(trace_id)`: its
lines carry the trace id of the message the record is about, and its metrics go out as one EMF
record of their own with the trace id as metadata (not a dimension: one per message would make
a metric per message), so `filter traceId = "..."` in Logs Insights finds both
(docs/operations.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "tidings"


class PerThreadKeysFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter whose keys (`append_keys`, `clear_state`) are per thread. A
    thread that has set none starts from a copy of the keys of the thread that built the Logger."""

    def __init__(self, **kwargs: Any) -> None:
        self._threads = threading.local()
        self._template: dict[str, Any] | None = None
        super().__init__(**kwargs)

    @property  # type: ignore[override]
    def log_format(self) -> dict[str, Any]:
        own: dict[str, Any] | None = getattr(self._threads, "log_format", None)
        if own is None:
            own = dict(self._template or {})
            self._threads.log_format = own
        return own

    @log_format.setter
    def log_format(self, value: dict[str, Any]) -> None:
        self._threads.log_format = value
        if self._template is None:
            self._template = value


logger = Logger(service=SERVICE, logger_formatter=PerThreadKeysFormatter())
metrics = Metrics(namespace="Tidings", service=SERVICE)


# X-Ray's name for a library it patches -> the module whose import triggers the patch. What
# `patch_all` would patch, less the databases we never use; `httplib` (http.client, under
# urllib3) traces the HTTP calls no other patch sees (OpenSearch).
TRACED_LIBRARIES = {
    "botocore": "botocore.client",
    "pynamodb": "pynamodb.connection",
    "httpx": "httpx",
    "requests": "requests",
    "httplib": "urllib3",
    "sqlite3": "sqlite3",
}


def tracing_enabled() -> bool:
    """Powertools' own rule: off with `POWERTOOLS_TRACE_DISABLED`, outside Lambda, or in SAM/Chalice."""
    return not Tracer._is_tracer_disabled()


@cache
def tracer() -> Tracer:
    """The Tracer of a function with tracing on (`tracing_enabled()`), created on first use."""
    import wrapt  # the X-Ray SDK's own dependency, for its post-import hooks

    created = Tracer(service=SERVICE, auto_patch=False)
    for library, module in TRACED_LIBRARIES.items():
        wrapt.register_post_import_hook(_patcher(created, library), module)
    return created


def _patcher(tracer: Tracer, library: str) -> Callable[[ModuleType], None]:
    def patch(_imported: ModuleType) -> None:
        tracer.patch([library])

    return patch


@contextmanager
def record_scope(trace_id: str | None) -> Iterator[None]:
    """One record's share of a batch, traced by `trace_id` (None: a record that is about no
    traced message, whose lines and metrics stay the invocation's)."""
    if trace_id is None:
        yield
        return
    logger.thread_safe_append_keys(traceId=trace_id)
    metrics.add_metadata(key="traceId", value=trace_id)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["traceId"])
        if metrics.metric_set:
            metrics.flush_metrics()  # this record's EMF record, with its trace id
        metrics.clear_metrics()  # and never its metadata on the next record's metrics
