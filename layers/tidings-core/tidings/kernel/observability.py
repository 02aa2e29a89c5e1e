"""The one place that creates the Powertools Logger, Tracer and Metrics.

Logs carry metadata only (chatId, messageId, userId, connectionId): message content is never
logged.

Log keys belong to one invocation. Every handler's `inject_lambda_context(clear_state=True)`
starts an invocation with only its own Lambda context, and per-invocation keys (userId, frame)
are appended with `thread_safe_append_keys`. The formatter also keeps the Lambda context keys
per thread: on AWS an execution environment runs one invocation at a time, but `tidings dev`
runs concurrent invocations in threads of one process sharing this Logger, where one shared
set of keys would give a line another invocation's request id.
"""

from __future__ import annotations

import threading
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
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Tidings", service=SERVICE)
