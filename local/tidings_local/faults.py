"""Fault injection: the local runtime breaks on purpose, so tests can prove what survives.

Rules come from `tidings dev --faults SPEC` (repeatable) or, while the runtime runs, from
`POST /_local/faults {"faults": SPEC}` (added to the active rules); `GET /_local/faults` lists
them with how often each fired, `DELETE /_local/faults` clears them. A SPEC is one or more rules
separated by commas:

    RULE  = TARGET ":" ERROR *(":" KEY "=" VALUE)        VALUE = ITEM *("+" ITEM)

    dynamodb:throttle:function=MessageSend:op=TransactWriteItems+UpdateItem:p=0.3
    dynamodb:500:table=Messages:applied=true:count=2
    connections:429:user=bob
    stream:error:function=Delivery:record=1
    search:down
    push:down

| target        | errors                                                          | keys             |
|---------------|-----------------------------------------------------------------|------------------|
| `dynamodb`    | `throttle` (ProvisionedThroughputExceededException, 400),       | `op`, `table`,   |
|               | `throttling` (ThrottlingException, 400), `500` (InternalServerError) | `function`, `applied` |
| `connections` | `500` (InternalServerErrorException), `429` (LimitExceededException) | `op`, `user`, `connection` |
| `stream`      | `error` (the record handler raises: that record fails),         | `function` (required), |
|               | `crash` (the runtime dies on that record: the invocation fails) | `record`, `chat` |
| `search`      | `down` (the embedded engine's SQLite raises)                    |                  |
| `push`        | `down` (connection refused), `500`..`599` (the push service's answer) | `host`   |

Every rule also takes `p` (the probability that a matching call fails, default 1) and `count`
(fail at most that many calls, then the rule is spent; default: no limit). `table` is a declared
table id (`Messages`) or its name; `function` a declared function id; `record=N` picks the Nth
stream record the function handles after the rule is added, and fails that same record on
every retry (a poison record); `chat=ID` fails every record of that chat; `applied=true` lets
the call take effect before the error is answered (AWS: an InternalServerError may have
succeeded). A rule fires for calls that match all its keys.

How each fault reaches the code, as the real failure would:

- `dynamodb`: only calls made by a function (the platform's stream polling is not ours), decided
  where DynamoDB would fail them, in front of moto's server (`moto_server.Gatekeeper`): the
  error is the HTTP answer to that attempt, so botocore's retry handler in the worker retries
  it with backoff, as it retries AWS's throttles and 5xx.
- `connections`: the @connections API answers the error (`management_api.py`); boto3 retries it.
- `stream`, `search`, `push`: inside the function's worker process (`lambda_faults.py`): a
  wrapper around the record handler of Powertools' batch processors (`error` raises inside the
  handler, Powertools reports the record in `batchItemFailures`; `crash` raises past Powertools,
  so the runtime dies after the records before it were handled), the embedded search engine's
  SQLite call raising `sqlite3.OperationalError` (which the engine turns into
  `SearchUnavailable` as it does for a real one), `requests` refusing or answering the status.
  The worker asks this process (`Faults.decide`) whether a rule fires, so `p`, `count` and
  `record=N` hold across all the workers of a function.

Each firing is logged (metadata only) and counted in `GET /_local/stats` under `faults`.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tidings_local.log import logger
from tidings_local.stats import Stats

COMMON_KEYS = frozenset({"p", "count"})
ERRORS: dict[str, frozenset[str]] = {
    "dynamodb": frozenset({"throttle", "throttling", "500"}),
    "connections": frozenset({"500", "429"}),
    "stream": frozenset({"error", "crash"}),
    "search": frozenset({"down"}),
    "push": frozenset({"down", *(str(status) for status in range(500, 600))}),
}
KEYS: dict[str, frozenset[str]] = {
    "dynamodb": frozenset({"op", "table", "function", "applied"}),
    "connections": frozenset({"op", "user", "connection"}),
    "stream": frozenset({"function", "record", "chat"}),
    "search": frozenset(),
    "push": frozenset({"host"}),
}
MANAGEMENT_OPERATIONS = frozenset({"PostToConnection", "GetConnection", "DeleteConnection"})

# DynamoDB's JSON error answers (status, __type, message), as AWS sends them.
DYNAMODB_ERRORS = {
    "throttle": (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    "throttling": (
        400,
        "com.amazon.coral.availability#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "500": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"),
}
# The @connections API's answers (status, x-amzn-ErrorType, message).
CONNECTION_ERRORS = {
    "500": (500, "InternalServerErrorException", "Internal server error"),
    "429": (429, "LimitExceededException", "Rate exceeded"),
}


# The targets decided inside the function's worker process (`lambda_faults.py`).
WORKER_TARGETS = ("stream", "search", "push")


class FaultSpecError(ValueError):
    """A rule that cannot be parsed or names something that does not exist."""


@dataclass
class Rule:
    text: str
    target: str
    error: str
    filters: dict[str, frozenset[str]]
    probability: float = 1.0
    remaining: int | None = None
    applied: bool = False
    record: int | None = None  # stream: the Nth record seen is the poison one
    fired: int = 0
    _seen: set[str] = field(default_factory=set)
    _poisoned: str | None = None

    def matches(self, facts: Mapping[str, str | frozenset[str] | None]) -> bool:
        for key, allowed in self.filters.items():
            value = facts.get(key)
            values = value if isinstance(value, frozenset) else frozenset({value} if value else ())
            if not values & allowed:
                return False
        return True

    def picks(self, record_id: str | None) -> bool:
        """`record=N`: True for the Nth distinct record seen, and for it alone from then on."""
        if self.record is None:
            return True
        if record_id is None:
            return False
        if self._poisoned is None and record_id not in self._seen:
            self._seen.add(record_id)
            if len(self._seen) == self.record:
                self._poisoned, self._seen = record_id, set()
        return record_id == self._poisoned

    def describe(self) -> dict[str, Any]:
        return {"rule": self.text, "fired": self.fired, "remaining": self.remaining}


def parse(spec: str) -> list[Rule]:
    """The rules of a SPEC (see the module docstring). Raises FaultSpecError naming the rule."""
    rules = [_parse_rule(text.strip()) for text in spec.split(",") if text.strip()]
    if not rules:
        raise FaultSpecError("no fault rule given")
    return rules


def _parse_rule(text: str) -> Rule:
    target, _, rest = text.partition(":")
    error, *pairs = rest.split(":") if rest else [""]
    if target not in ERRORS:
        raise FaultSpecError(f"{text!r}: unknown target {target!r} (one of {', '.join(ERRORS)})")
    if error not in ERRORS[target]:
        known = "down, 500..599" if target == "push" else ", ".join(sorted(ERRORS[target]))
        raise FaultSpecError(f"{text!r}: {target} has no error {error!r} (one of {known})")
    rule = Rule(text=text, target=target, error=error, filters={})
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not value:
            raise FaultSpecError(f"{text!r}: {pair!r} is not KEY=VALUE")
        if key not in KEYS[target] | COMMON_KEYS:
            keys = ", ".join(sorted(KEYS[target] | COMMON_KEYS))
            raise FaultSpecError(f"{text!r}: {target} takes no key {key!r} (one of {keys})")
        try:
            _apply(rule, key, value)
        except ValueError as exc:
            raise FaultSpecError(f"{text!r}: {key}={value}: {exc}") from None
    if target == "stream" and "function" not in rule.filters:
        raise FaultSpecError(f"{text!r}: a stream fault needs function=<declared function id>")
    return rule


def _apply(rule: Rule, key: str, value: str) -> None:
    if key == "p":
        rule.probability = float(value)
        if not 0 < rule.probability <= 1:
            raise ValueError("a probability is more than 0 and at most 1")
    elif key == "count":
        rule.remaining = _positive(value)
    elif key == "record":
        rule.record = _positive(value)
    elif key == "applied":
        if value not in ("true", "false"):
            raise ValueError("true or false")
        rule.applied = value == "true"
    else:
        items = frozenset(value.split("+"))
        if key == "op" and rule.target == "connections" and not items <= MANAGEMENT_OPERATIONS:
            raise ValueError(f"the @connections operations are {', '.join(sorted(MANAGEMENT_OPERATIONS))}")
        if key == "op" and rule.target == "dynamodb" and not items <= _dynamodb_operations():
            raise ValueError(f"DynamoDB has no operation {', '.join(sorted(items - _dynamodb_operations()))}")
        rule.filters[key] = items


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("a whole number of at least 1")
    return number


@functools.cache
def _dynamodb_operations() -> frozenset[str]:
    import botocore.session

    return frozenset(botocore.session.get_session().get_service_model("dynamodb").operation_names)


class Faults:
    """The active rules of one runtime. Thread-safe: handlers fire faults from worker threads."""

    def __init__(self, stats: Stats, function_ids: frozenset[str], tables: Mapping[str, str]) -> None:
        """`tables`: declared table id -> table name, so rules may name either."""
        self._stats = stats
        self._function_ids = function_ids
        self._table_names = {**{name: name for name in tables.values()}, **tables}
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._random = random.Random()  # noqa: S311 (chance, not secrets)

    def add(self, spec: str) -> list[Rule]:
        rules = parse(spec)
        for rule in rules:
            unknown = rule.filters.get("function", frozenset()) - self._function_ids
            if unknown:
                raise FaultSpecError(f"{rule.text!r}: no declared function {', '.join(sorted(unknown))}")
            if "table" in rule.filters:
                names = rule.filters["table"]
                if not names <= self._table_names.keys():
                    raise FaultSpecError(
                        f"{rule.text!r}: no declared table {', '.join(sorted(names - self._table_names.keys()))}"
                    )
                rule.filters["table"] = frozenset(self._table_names[name] for name in names)
        with self._lock:
            self._rules.extend(rules)
        logger.warning("faults added", extra={"rules": [r.text for r in rules]})
        return rules

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        logger.info("faults cleared")

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def targets(self, target: str) -> bool:
        """Whether any rule is active for `target` (lets the hooks skip the work of matching)."""
        return any(rule.target == target for rule in self._rules)

    def fire(self, target: str, record_id: str | None = None, **facts: str | frozenset[str] | None) -> Rule | None:
        """The first active rule for `target` that matches `facts` and fires this time."""
        with self._lock:
            for rule in self._rules:
                if rule.target != target or rule.remaining == 0 or not rule.matches(facts):
                    continue
                if not rule.picks(record_id) or self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                break
            else:
                return None
        self._stats.fault_fired(rule.text)
        logger.warning(
            "fault injected",
            extra={"rule": rule.text, **{k: sorted(v) if isinstance(v, frozenset) else v for k, v in facts.items()}},
        )
        return rule

    def worker_targets(self) -> list[str]:
        """The worker-side targets (stream, search, push) with active rules."""
        with self._lock:
            return sorted({rule.target for rule in self._rules if rule.target in WORKER_TARGETS})

    def decide(self, function_id: str, target: str, facts: Mapping[str, Any]) -> str | None:
        """A worker's question: does a rule fire for this call of `function_id`? Its error, or None."""
        if target not in WORKER_TARGETS:
            return None
        known = {key: value for key, value in facts.items() if key in KEYS[target] and isinstance(value, str)}
        record = facts.get("record")
        rule = self.fire(target, record_id=record if isinstance(record, str) else None, function=function_id, **known)
        return None if rule is None else rule.error

    def connection_error(self, operation: str, connection_id: str, user_id: str | None) -> tuple[int, str, str] | None:
        """The @connections API's injected answer to this call, if a rule fires for it:
        (status, x-amzn-ErrorType, message)."""
        if not self.targets("connections"):
            return None
        rule = self.fire("connections", op=operation, connection=connection_id, user=user_id)
        return None if rule is None else CONNECTION_ERRORS[rule.error]


# --- where the faults are decided -------------------------------------------------------------


def dynamodb_fault(
    faults: Faults, operation: str, request: Mapping[str, Any], function_id: str
) -> tuple[tuple[int, dict[str, str], bytes], bool] | None:
    """DynamoDB's answer to a function's request, if a rule fires for it: ((status, headers,
    body), whether the request takes effect first)."""
    if not faults.targets("dynamodb"):
        return None
    rule = faults.fire("dynamodb", op=operation, table=_tables_of(request), function=function_id)
    if rule is None:
        return None
    status, error_type, message = DYNAMODB_ERRORS[rule.error]
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())}
    return (status, headers, json.dumps({"__type": error_type, "message": message}).encode()), rule.applied


def _tables_of(request: Mapping[str, Any]) -> frozenset[str]:
    """The tables a DynamoDB request names (TableName, RequestItems, TransactItems)."""
    names = {request.get("TableName")} | set(request.get("RequestItems") or {})
    for item in request.get("TransactItems") or []:
        names |= {part.get("TableName") for part in item.values() if isinstance(part, dict)}
    return frozenset(name for name in names if isinstance(name, str))


# --- local-only endpoints ------------------------------------------------------------------


def routes(
    faults: Faults, queue_names: Mapping[str, tuple[str, str | None]], peek: Callable[[str], list[dict[str, Any]]]
) -> list[web.RouteDef]:
    """`/_local/faults` (GET, POST, DELETE) and `GET /_local/queues/{queueId}`, which shows a
    declared queue's messages (and its dead-letter queue's) without receiving them. `queue_names`:
    queue id -> (name, dead-letter queue name or None)."""

    async def list_faults(_: web.Request) -> web.Response:
        return web.json_response({"faults": faults.describe()})

    async def add_faults(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        spec = body.get("faults") if isinstance(body, dict) else None
        if isinstance(spec, list) and all(isinstance(item, str) for item in spec):
            spec = ",".join(spec)
        if not isinstance(spec, str):
            return _bad_request('Send {"faults": "TARGET:ERROR[:KEY=VALUE]...[,...]"} (or a list of rules)')
        try:
            added = faults.add(spec)
        except FaultSpecError as exc:
            return _bad_request(str(exc))
        return web.json_response({"added": [rule.describe() for rule in added], "faults": faults.describe()})

    async def clear_faults(_: web.Request) -> web.Response:
        faults.clear()
        return web.json_response({"faults": []})

    async def queue(request: web.Request) -> web.Response:
        queue_id = request.match_info["queueId"]
        if queue_id not in queue_names:
            return web.json_response(
                {"error": {"code": "NOT_FOUND", "message": f"No declared queue {queue_id!r}"}}, status=404
            )
        name, dead_letters = queue_names[queue_id]
        answer: dict[str, Any] = {"queue": queue_id, "messages": [_decoded(m) for m in peek(name)]}
        if dead_letters is not None:
            answer["deadLetters"] = [_decoded(m) for m in peek(dead_letters)]
        return web.json_response(answer)

    return [
        web.get("/_local/faults", list_faults),
        web.post("/_local/faults", add_faults),
        web.delete("/_local/faults", clear_faults),
        web.get("/_local/queues/{queueId}", queue),
    ]


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": {"code": "BAD_FRAME", "message": message}}, status=400)


def _decoded(message: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(message["body"])
    except ValueError:
        body = message["body"]
    return {**message, "body": body}
