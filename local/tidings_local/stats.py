"""Local-only diagnostics: what one message costs, counted the way AWS would bill it.

`GET /_local/stats` serves `Stats.snapshot()` for the benchmark. It is not part of the protocol
and has no AWS counterpart. Three counters:

- `awsCalls`: AWS API calls made by *our code*, i.e. inside a Lambda handler invocation. Calls
  the platform makes on AWS (stream polling, on-failure destination sends, table setup) are not
  counted, because on AWS they are not made by, nor billed to, our functions' code.
- `invocations`: Lambda invocations per declared function id.
- `gatewayMessages`: WebSocket frames through the gateway, `in` from clients and `out` to them.
- `httpRequests`: requests served by the HTTP API's declared routes.
- `faults`: how often each injected fault fired (`faults.py`), by its rule as written.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Stats:
    """Thread-safe counters: handlers run in a thread pool and report from there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aws_calls: Counter[tuple[str, str]] = Counter()
        self._invocations: Counter[str] = Counter()
        self._gateway: Counter[str] = Counter()
        self._http_requests = 0
        self._faults: Counter[str] = Counter()

    def aws_call(self, service: str, operation: str) -> None:
        with self._lock:
            self._aws_calls[(service, operation)] += 1

    def invocation(self, function_id: str) -> None:
        with self._lock:
            self._invocations[function_id] += 1

    def gateway_message(self, direction: str) -> None:
        with self._lock:
            self._gateway[direction] += 1

    def http_request(self) -> None:
        with self._lock:
            self._http_requests += 1

    def fault_fired(self, rule: str) -> None:
        with self._lock:
            self._faults[rule] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            calls: dict[str, dict[str, int]] = {}
            for (service, operation), count in sorted(self._aws_calls.items()):
                calls.setdefault(service, {})[operation] = count
            return {
                "awsCalls": calls,
                "invocations": dict(sorted(self._invocations.items())),
                "gatewayMessages": {"in": self._gateway["in"], "out": self._gateway["out"]},
                "httpRequests": self._http_requests,
                "faults": dict(sorted(self._faults.items())),
            }


# The stats sink and function id of the invocation running on this thread; unset outside
# handler code.
_scope = threading.local()


@contextmanager
def handler_scope(stats: Stats, function_id: str | None = None) -> Iterator[None]:
    """Marks the current thread as running handler code (of `function_id`, None while a module
    is imported), so its AWS calls are counted and function-scoped faults can find it."""
    previous = getattr(_scope, "stats", None), getattr(_scope, "function_id", None)
    _scope.stats, _scope.function_id = stats, function_id
    try:
        yield
    finally:
        _scope.stats, _scope.function_id = previous


def current_handler_stats() -> Stats | None:
    return getattr(_scope, "stats", None)


def current_function_id() -> str | None:
    """The declared id of the function whose handler runs on this thread, if any."""
    return getattr(_scope, "function_id", None)
