"""Where the runtime reaches into moto, and why. Nothing else in the package touches moto's
internals; `install()` runs once, when `tidings_local.aws` is imported.

1. One lock around moto (`moto_lock`): its in-process dispatcher here, and its server
   application in `moto_server.py`. moto is not thread-safe for read-modify-write (an `ADD`
   counter, a conditional put, a transaction), and the workers' requests arrive on the server's
   threads while the runtime's own calls run on others.
2. Request notifications (`on_request`, `notify`): after moto handles a DynamoDB write or an SQS
   send, in process or through the server, the event source pollers are told, so they wake at
   once instead of polling hot.
3. Cheap transaction backups. Before a TransactWriteItems, moto deep-copies every table it
   touches so that it can roll back; that costs ~0.1 ms per stored item, so after a few
   thousand messages every `message.send` would hold the lock for half a second. Instead we
   snapshot just the touched items and the stream lengths, and restore those on failure.
4. `stream_records`: what the event source pollers read, from moto's stream shard itself.
5. `peek_queue`: reads an SQS queue's messages without receiving them, for `/_local/queues`.
6. Per-request work moto repeats that gives the same answer every time, done once: the server's
   dispatcher lists moto's package directory on every request (`list_of_moto_modules`), and
   every action looks up its response class's methods with `inspect.getmembers`
   (`method_names_from_class`). Profiled under `make bench`, they were ~6% of the runtime's
   GIL time.
7. DynamoDB's item responses without the shape walk. moto serializes every response by walking
   the operation's output shape, trying several attribute aliases for each member; for the item
   operations (`_ITEM_OPERATIONS`) the result is already the wire document (DynamoDB JSON), so
   it is written as it is, with bytes in base64 and empty members left out, as the shape walk
   writes them (`tests/local/test_moto_patches.py` holds the two to the same bytes). That walk
   was ~20% of the runtime's GIL time under load.
8. Condition expressions lexed once per expression. moto lexes a ConditionExpression (a few
   regular expressions per token, compiled per token) on every conditional write, and our writes
   use a handful of expressions over and over (their values differ, which the lexer does not
   see: values are looked up after it). ~7% of the runtime's GIL time.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import copy
import functools
import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import moto.backends
import moto.core.responses
import moto.dynamodb.models as dynamodb_models
from botocore.model import ListShape, MapShape, Shape, StructureShape
from moto.core.models import botocore_stubber
from moto.core.serialize import JSONSerializer
from moto.core.utils import unix_time_millis
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodbstreams.models import dynamodbstreams_backends
from moto.sqs.models import sqs_backends

_MOTO_LOCK = threading.RLock()

DYNAMODB_WRITES = frozenset(
    f"DynamoDB_20120810.{operation}"
    for operation in (
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
    )
)
SQS_SENDS = frozenset(
    f"AmazonSQS.{operation}"
    for operation in ("SendMessage", "SendMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch")
)
# What changes the state `tidings dev --data` keeps: a receive only hides a message for a while.
# S3 has no X-Amz-Target: the moto server's gatekeeper names an object written or deleted so.
S3_OBJECT_CHANGED = "S3.ObjectChanged"
STATE_CHANGES = (
    DYNAMODB_WRITES | SQS_SENDS | {"AmazonSQS.DeleteMessage", "AmazonSQS.DeleteMessageBatch", S3_OBJECT_CHANGED}
)
_listeners: dict[Callable[[], None], tuple[frozenset[str], frozenset[str] | None]] = {}


def install() -> None:
    """Applies the patches (idempotent)."""
    if getattr(botocore_stubber, "_tidings_patched", False):
        return
    _serialize_requests()
    _cheap_transaction_backups()
    _answers_moto_repeats()
    _item_responses_as_they_are()
    _condition_expressions_lexed_once()
    botocore_stubber._tidings_patched = True  # type: ignore[attr-defined]


# --- 1 and 2: the lock, and notifications ---------------------------------------------------


def on_request(
    operations: frozenset[str], listener: Callable[[], None], *, tables: frozenset[str] | None = None
) -> Callable[[], None]:
    """Calls `listener` (on the calling thread) after moto handles one of `operations`
    (X-Amz-Target values); with `tables`, only for a DynamoDB write to one of them (or one whose
    tables cannot be told, such as PartiQL). Returns the unsubscribe function."""
    _listeners[listener] = (operations, tables)

    def unsubscribe() -> None:
        _listeners.pop(listener, None)

    return unsubscribe


def wake(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Sets an event of `loop` from any thread, skipping the cross-thread call when it is set
    already (a burst of writes then costs one wake-up, not one per write)."""
    if not event.is_set():
        loop.call_soon_threadsafe(event.set)


async def wait_until_set(event: asyncio.Event, timeout: float) -> None:
    """Waits for `event` at most `timeout` seconds. Not `asyncio.wait_for`: on Python 3.11 it
    can swallow a cancellation that arrives as the event is set, and a poller that misses its
    cancellation keeps the runtime from shutting down."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


def notify(target: str, body: bytes | str = b"") -> None:
    """Tells the listeners of `target` (an X-Amz-Target value) that moto has handled it; `body`
    is the request's, which says which tables a DynamoDB write wrote."""
    written: frozenset[str] | None = None
    told = False
    for listener, (operations, tables) in list(_listeners.items()):
        if target not in operations:
            continue
        if tables is not None:
            if not told:
                written, told = written_tables(target, body), True
            if written is not None and not written & tables:
                continue
        with contextlib.suppress(Exception):  # a listener must never break a caller's request
            listener()


def written_tables(target: str, body: bytes | str) -> frozenset[str] | None:
    """The tables a DynamoDB write request writes, or None when that cannot be told."""
    operation = target.rpartition(".")[2]
    try:
        request = json.loads(body or b"{}")
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return frozenset({request["TableName"]})
        if operation == "BatchWriteItem":
            return frozenset(request["RequestItems"])
        if operation == "TransactWriteItems":
            return frozenset(next(iter(item.values()))["TableName"] for item in request["TransactItems"])
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration):
        pass
    return None


def moto_lock() -> threading.RLock:
    """The one lock around moto (re-entrant: a request never waits for itself)."""
    return _MOTO_LOCK


def _serialize_requests() -> None:
    process = botocore_stubber.process_request

    def serialized(request: Any) -> Any:
        with _MOTO_LOCK:
            response = process(request)
        if response is not None and _listeners:
            target = request.headers.get("X-Amz-Target") or b""
            notify(target.decode() if isinstance(target, bytes) else target, request.body or b"")
        return response

    botocore_stubber.process_request = serialized  # type: ignore[method-assign]


# --- 3: transactions ---------------------------------------------------------------------------


@dataclass
class _Slot:
    """One item a transaction touches, as it was before."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    before: Item | None

    def restore(self) -> None:
        items: dict[Any, Any] = self.table.items
        if self.range_key is None:
            if self.before is None:
                items.pop(self.hash_key, None)
            else:
                items[self.hash_key] = self.before
        elif self.before is None:
            items.get(self.hash_key, {}).pop(self.range_key, None)
        else:
            items[self.hash_key][self.range_key] = self.before


def _snapshot(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> tuple[list[_Slot], dict[Table, int]]:
    slots: list[_Slot] = []
    stream_lengths: dict[Table, int] = {}
    for entry in transact_items:
        (operation, request), *_ = entry.items()
        table = backend.tables[request["TableName"]]
        key = request["Item"] if operation == "Put" else request["Key"]
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        stored: Any = table.items.get(hash_key)  # an Item, or {range key: Item} with a range key
        current = stored.get(range_key) if range_key is not None and stored is not None else stored
        slots.append(_Slot(table, hash_key, range_key, copy.deepcopy(current)))
        if table.stream_shard is not None:
            stream_lengths.setdefault(table, len(table.stream_shard.items))
    return slots, stream_lengths


class _KeepTables:
    """Stands in for the `copy` module inside moto's transact_write_items: its table backups
    become the live tables (a no-op), everything else is copied as before."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    copy = staticmethod(copy.copy)


@contextlib.contextmanager
def _tables_not_copied() -> Iterator[None]:
    # Only ever swapped under _MOTO_LOCK, so no other moto code can observe it.
    dynamodb_models.copy = _KeepTables  # type: ignore[assignment]
    try:
        yield
    finally:
        dynamodb_models.copy = copy


def _cheap_transaction_backups() -> None:
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        try:
            slots, stream_lengths = _snapshot(self, transact_items)
        except Exception:  # a malformed request: let moto's own code report it
            return original(self, transact_items)
        with _tables_not_copied():
            try:
                return original(self, transact_items)
            except Exception:
                for slot in reversed(slots):
                    slot.restore()
                for table, length in stream_lengths.items():
                    assert table.stream_shard is not None
                    del table.stream_shard.items[length:]
                raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# --- 4: reading a stream ----------------------------------------------------------------------


def stream_records(stream_arn: str, after: str | None, account_id: str, region: str) -> list[dict[str, Any]]:
    """The stream's records after sequence number `after` (all of them for None), at most 1,000,
    as GetRecords returns them: moto's own record documents, read under the lock from the table's
    current stream shard (a failed transaction's rollback may have swapped it; see 3). Read
    them, do not change them (`streams.lambda_record` copies)."""
    with _MOTO_LOCK:
        table = dynamodbstreams_backends[account_id][region]._get_table_from_arn(stream_arn)
        shard = table.stream_shard
        if shard is None:
            return []
        first = shard.starting_sequence_number
        start = first if after is None else max(first, int(after) + 1)
        if start >= first + len(shard.items):
            return []
        return shard.get(start, 1000)


# --- 5: reading a queue --------------------------------------------------------------------------


# --- 6: what moto looks up on every request -----------------------------------------------------


def _answers_moto_repeats() -> None:
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)


# --- 7: DynamoDB item responses ------------------------------------------------------------------

# Operations whose moto result is the response document itself (items as DynamoDB JSON, counts,
# keys, consumed capacity); table descriptions (timestamps) and errors keep the shape walk.
_ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def as_wire_document(value: Any, shape: Shape | None) -> Any:
    """A moto DynamoDB result as its JSON response has it, as the shape walk writes it: only the
    members the output shape has (moto's results carry a few more), None left out, bytes in
    base64; the shape is followed down to the attribute values (an item's), which are copied
    as they are, not walked member by member."""
    if value is None:
        return None
    if shape is None or shape.name == "AttributeValue":
        return _attribute_value(value)
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = shape.members
        return {
            key: as_wire_document(item, members[key])
            for key, item in value.items()
            if item is not None and key in members
        }
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: as_wire_document(item, shape.value) for key, item in value.items() if item is not None}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [as_wire_document(item, shape.member) for item in value]
    if shape.type_name == "double" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return _attribute_value(value)


def _attribute_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _attribute_value(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_attribute_value(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


# moto's own serialization by the output shape, kept for everything else (and for the test).
SHAPE_WALK = JSONSerializer._serialize_result


def _item_responses_as_they_are() -> None:
    walk = SHAPE_WALK

    def serialize_result(self: JSONSerializer, resp: Any, result: Any) -> Any:
        if (
            isinstance(result, dict)
            and self.service_model.service_name == "dynamodb"
            and self.operation_name in _ITEM_OPERATIONS
        ):
            shape: Any = self.operation_model.output_shape  # moto's shapes are botocore's, subclassed
            return self._serialized_result_to_response(resp, result, shape, as_wire_document(result, shape))
        return walk(self, resp, result)

    JSONSerializer._serialize_result = serialize_result  # type: ignore[method-assign,assignment]


# --- 8: condition expressions ---------------------------------------------------------------------

# moto's own lexer, kept for the expressions past the cache's bound (and for the test).
LEX_CONDITION = ConditionExpressionParser._lex_condition_expression
_LEXED_EXPRESSIONS_KEPT = 4096  # an application's expressions are a few dozen; the bound is for a fuzzer


def _condition_expressions_lexed_once() -> None:
    lexed: dict[str, tuple[Any, ...]] = {}

    def lex(self: ConditionExpressionParser) -> Any:
        expression = self.condition_expression or ""
        nodes = lexed.get(expression)
        if nodes is None:
            nodes = tuple(LEX_CONDITION(self))  # raises for an invalid expression: nothing kept
            if len(lexed) < _LEXED_EXPRESSIONS_KEPT:
                lexed[expression] = nodes
        # The parse consumes the deque and builds new nodes; each gets its own children list.
        return collections.deque(node._replace(children=list(node.children)) for node in nodes)

    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


def peek_queue(queue_name: str, account_id: str, region: str) -> list[dict[str, Any]]:
    """Every message in the queue, delayed and in flight included, without receiving any: a
    ReceiveMessage would count a receive (and move messages towards a dead-letter queue) and
    hide them from the queue's own consumer."""
    with _MOTO_LOCK:
        queue = sqs_backends[account_id][region].get_queue(queue_name)
        return [
            {
                "messageId": m.id,
                "body": m.body,
                "receiveCount": m.approximate_receive_count,
                "dueAt": _receivable_at(m) / 1000,  # epoch seconds: when a receive can return it
            }
            for m in list(queue._messages)
        ]


def queue_depth(queue_name: str, account_id: str, region: str) -> int:
    """How many messages the queue holds, delayed and in flight included (0 for no such queue)."""
    with _MOTO_LOCK:
        queue = sqs_backends[account_id][region].queues.get(queue_name)
        return len(queue._messages) if queue else 0


def _receivable_at(message: Any) -> float:
    """Epoch milliseconds from which a receive can return the message: after its delay, and
    after the visibility timeout of its last receive."""
    return max(message.visible_at, message.delayed_until)


def seconds_until_visible(queue_name: str, account_id: str, region: str) -> float:
    """Seconds until the queue's next delayed message, or message in flight after a failed batch,
    can be received (infinity when the queue is empty): an idle poller sleeps until then."""
    with _MOTO_LOCK:
        queue = sqs_backends[account_id][region].queues.get(queue_name)
        due = [_receivable_at(m) for m in list(queue._messages)] if queue else []
    if not due:
        return math.inf
    return max(0.0, (min(due) - unix_time_millis()) / 1000)
