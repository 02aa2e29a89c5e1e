"""Local-only diagnostics: what one message costs, counted the way AWS would bill it.

`GET /_local/stats` serves `Stats.snapshot()` for the benchmark. It is not part of the protocol
and has no AWS counterpart. The counters:

- `awsCalls`: AWS API requests made by *our code*, i.e. by a function: counted where the service
  receives them (moto's server, `moto_server.Gatekeeper`, and the @connections API), by service
  and operation, and told apart by the caller's access key (`awsCallsByFunction`). A request
  botocore retries counts once per attempt, as the service sees it. Calls the platform makes on
  AWS (stream polling, on-failure destination sends, table setup) are not counted, because on
  AWS they are not made by, nor billed to, our functions' code.
- `invocations`: Lambda invocations per declared function id.
- `gatewayMessages`: WebSocket frames through the gateway, `in` from clients and `out` to them.
- `httpRequests`: requests served by the HTTP API's declared routes.
- `faults`: how often each injected fault fired (`faults.py`), by its rule as written.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Thread-safe counters: moto's server reports from its request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aws_calls: Counter[tuple[str, str, str]] = Counter()
        self._invocations: Counter[str] = Counter()
        self._gateway: Counter[str] = Counter()
        self._http_requests = 0
        self._faults: Counter[str] = Counter()

    def aws_call(self, service: str, operation: str, function_id: str) -> None:
        with self._lock:
            self._aws_calls[(function_id, service, operation)] += 1

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
            calls: Counter[tuple[str, str]] = Counter()
            by_function: dict[str, dict[str, dict[str, int]]] = {}
            for (function_id, service, operation), count in sorted(self._aws_calls.items()):
                calls[(service, operation)] += count
                by_function.setdefault(function_id, {}).setdefault(service, {})[operation] = count
            totals: dict[str, dict[str, int]] = {}
            for (service, operation), count in sorted(calls.items()):
                totals.setdefault(service, {})[operation] = count
            return {
                "awsCalls": totals,
                "awsCallsByFunction": by_function,
                "invocations": dict(sorted(self._invocations.items())),
                "gatewayMessages": {"in": self._gateway["in"], "out": self._gateway["out"]},
                "httpRequests": self._http_requests,
                "faults": dict(sorted(self._faults.items())),
            }
