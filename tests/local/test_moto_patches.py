"""The moto patches keep moto's behaviour: a failed transaction changes nothing (items and
stream), a successful one applies everything, and only the cost of the backup changes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from moto.core.serialize import JSONSerializer
from moto.dynamodb.comparisons import ConditionExpressionParser

from tests.local.stub_app import APP, EVENTS, NOTES
from tidings_local import moto_patches
from tidings_local.aws import LocalAws


@pytest.fixture
def dynamodb() -> Iterator[object]:
    aws = LocalAws(APP)
    aws.start()
    try:
        yield boto3.client("dynamodb", region_name="us-east-1")
    finally:
        aws.stop()


def stream_length(dynamodb) -> int:
    streams = boto3.client(
        "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
    )
    arn = dynamodb.describe_table(TableName=EVENTS.default_name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


def event(sk: int, behaviour: str = "ok") -> dict:
    return {"pk": {"S": "chat"}, "sk": {"N": str(sk)}, "behaviour": {"S": behaviour}}


def state(dynamodb) -> tuple[list, list, int]:
    events = dynamodb.scan(TableName=EVENTS.default_name)["Items"]
    notes = dynamodb.scan(TableName=NOTES.default_name)["Items"]
    return sorted(events, key=lambda i: i["sk"]["N"]), notes, stream_length(dynamodb)


def transaction(*, fail: bool) -> list[dict]:
    return [
        {"Put": {"TableName": EVENTS.default_name, "Item": event(2)}},
        {
            "Update": {
                "TableName": EVENTS.default_name,
                "Key": {"pk": {"S": "chat"}, "sk": {"N": "1"}},
                "UpdateExpression": "SET behaviour = :b",
                "ExpressionAttributeValues": {":b": {"S": "changed"}},
            }
        },
        {"Delete": {"TableName": NOTES.default_name, "Key": {"noteId": {"S": "a"}}}},
        {
            "ConditionCheck": {
                "TableName": NOTES.default_name,
                "Key": {"noteId": {"S": "b"}},
                "ConditionExpression": "attribute_not_exists(noteId)" if fail else "attribute_exists(noteId)",
            }
        },
    ]


def seed(dynamodb) -> None:
    dynamodb.put_item(TableName=EVENTS.default_name, Item=event(1))
    dynamodb.put_item(TableName=NOTES.default_name, Item={"noteId": {"S": "a"}})
    dynamodb.put_item(TableName=NOTES.default_name, Item={"noteId": {"S": "b"}})


def test_a_failed_transaction_changes_no_item_and_no_stream(dynamodb) -> None:
    seed(dynamodb)
    before = state(dynamodb)
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=transaction(fail=True))
    assert state(dynamodb) == before


def test_a_successful_transaction_applies_everything(dynamodb) -> None:
    seed(dynamodb)
    dynamodb.transact_write_items(TransactItems=transaction(fail=False))
    events, notes, records = state(dynamodb)
    assert [(e["sk"]["N"], e["behaviour"]["S"]) for e in events] == [("1", "changed"), ("2", "ok")]
    assert notes == [{"noteId": {"S": "b"}}]
    assert records == 3  # the seed's INSERT, then the transaction's INSERT and MODIFY


def test_a_transaction_does_not_copy_the_whole_table(dynamodb, monkeypatch) -> None:
    for start in range(0, 1000, 25):
        requests = [{"PutRequest": {"Item": event(sk)}} for sk in range(start + 10, start + 35)]
        dynamodb.batch_write_item(RequestItems={EVENTS.default_name: requests})
    # moto's own backup deep-copies every table (1000 items and their stream records here); the
    # patch copies only the items the transaction touches. Counted, not timed: every object the
    # copy visits goes through `copy.deepcopy`.
    copied: list[type] = []
    real_deepcopy = copy.deepcopy

    def counting_deepcopy(value, memo=None):
        copied.append(type(value))
        return real_deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting_deepcopy)
    dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": EVENTS.default_name, "Item": event(5)}}])
    assert 0 < len(copied) < 200, f"{len(copied)} objects deep-copied for a one-item transaction"


def test_a_table_listener_is_woken_only_by_writes_to_its_own_table(dynamodb) -> None:
    """A stream poller listens to its own table's writes: writes elsewhere must not wake it
    (each wake costs a GetShardIterator and a GetRecords)."""
    woken: list[str] = []
    unsubscribe = moto_patches.on_request(
        moto_patches.DYNAMODB_WRITES, lambda: woken.append("events"), tables=frozenset({EVENTS.default_name})
    )
    try:
        dynamodb.put_item(TableName=NOTES.default_name, Item={"noteId": {"S": "x"}})
        dynamodb.batch_write_item(RequestItems={NOTES.default_name: [{"PutRequest": {"Item": {"noteId": {"S": "y"}}}}]})
        assert woken == []
        dynamodb.put_item(TableName=EVENTS.default_name, Item=event(7))
        assert woken == ["events"]
        seed(dynamodb)
        woken.clear()
        dynamodb.transact_write_items(TransactItems=transaction(fail=False))  # Events among the tables
        assert woken == ["events"]
    finally:
        unsubscribe()


@pytest.mark.parametrize(
    ("operation", "body", "tables"),
    [
        ("PutItem", '{"TableName": "a", "Item": {}}', {"a"}),
        ("DeleteItem", '{"TableName": "a", "Key": {}}', {"a"}),
        ("BatchWriteItem", '{"RequestItems": {"a": [], "b": []}}', {"a", "b"}),
        (
            "TransactWriteItems",
            '{"TransactItems": [{"Put": {"TableName": "a"}}, {"Update": {"TableName": "c"}}]}',
            {"a", "c"},
        ),
        ("ExecuteStatement", '{"Statement": "UPDATE a SET x = 1"}', None),  # PartiQL: cannot tell, wake all
        ("PutItem", "not json", None),
    ],
)
def test_the_tables_a_write_writes(operation: str, body: str, tables: set[str] | None) -> None:
    written = moto_patches.written_tables(f"DynamoDB_20120810.{operation}", body)
    assert written == (None if tables is None else frozenset(tables))


def test_dynamodb_item_responses_are_the_bytes_the_shape_walk_writes(dynamodb, monkeypatch) -> None:
    """Every item operation's response, written as it is (patch 7), against moto's own walk of
    the output shape over the same result: the same document, for items of every attribute
    type, projections, pages, unprocessed keys, returned values and consumed capacity."""
    compared: list[str] = []
    fast = JSONSerializer._serialize_result

    def both(self, resp, result):
        answer = fast(self, resp, result)
        if self.operation_name in moto_patches._ITEM_OPERATIONS:
            walked = moto_patches.SHAPE_WALK(self, {"body": "", "headers": {}, "status_code": 200}, result)
            assert json.loads(answer["body"]) == json.loads(walked["body"]), self.operation_name
            assert answer["headers"] == walked["headers"]
            compared.append(self.operation_name)
        return answer

    monkeypatch.setattr(JSONSerializer, "_serialize_result", both)
    table, notes = EVENTS.default_name, NOTES.default_name
    item = {
        **event(1),
        "blob": {"B": b"\x00\xffbytes"},
        "blobs": {"BS": [b"a", b"b"]},
        "n": {"N": "1.5"},
        "ns": {"NS": ["1", "2"]},
        "ss": {"SS": ["x", "y"]},
        "list": {"L": [{"S": "a"}, {"NULL": True}, {"BOOL": False}]},
        "map": {"M": {"nested": {"M": {"deep": {"N": "-3"}}}}},
        "empty": {"S": ""},
    }
    dynamodb.put_item(TableName=table, Item=item)
    dynamodb.put_item(TableName=table, Item=event(2), ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")
    dynamodb.put_item(TableName=table, Item=event(2, "again"), ReturnValues="ALL_OLD")
    key = {"pk": {"S": "chat"}, "sk": {"N": "1"}}
    dynamodb.get_item(TableName=table, Key=key)
    dynamodb.get_item(
        TableName=table,
        Key=key,
        ProjectionExpression="#b, #m.nested",
        ExpressionAttributeNames={"#b": "blob", "#m": "map"},
    )
    dynamodb.get_item(TableName=table, Key={"pk": {"S": "nobody"}, "sk": {"N": "1"}})
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="ADD hits :one SET behaviour = :b",
        ExpressionAttributeValues={":one": {"N": "1"}, ":b": {"S": "changed"}},
        ReturnValues="ALL_NEW",
        ReturnConsumedCapacity="INDEXES",
    )
    dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE hits", ReturnValues="UPDATED_OLD")
    dynamodb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "chat"}})
    dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "chat"}},
        Limit=1,
        Select="COUNT",
    )
    dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "chat"}}, Limit=1
    )
    dynamodb.batch_get_item(
        RequestItems={table: {"Keys": [key, {"pk": {"S": "nobody"}, "sk": {"N": "9"}}]}}, ReturnConsumedCapacity="TOTAL"
    )
    dynamodb.batch_write_item(RequestItems={notes: [{"PutRequest": {"Item": {"noteId": {"S": "n1"}}}}]})
    dynamodb.transact_write_items(TransactItems=transaction(fail=False)[:3])
    dynamodb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}])
    dynamodb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")

    assert set(compared) == moto_patches._ITEM_OPERATIONS - {"Scan"}, (
        "every item operation but Scan (no function may Scan)"
    )


@pytest.mark.parametrize(
    "expression",
    [
        "attribute_exists(userId)",
        "attribute_not_exists(lastReadSeq) OR lastReadSeq < :seq",
        "(#u = :zero OR attribute_not_exists(#u)) AND #m = :one",
        "NOT contains(#tags, :tag) AND size(#list) BETWEEN :low AND :high",
        "#state IN (:a, :b) AND begins_with(#id, :prefix)",
    ],
)
def test_a_condition_lexed_once_parses_to_what_moto_parses(expression: str) -> None:
    """Patch 8 keeps each expression's tokens; the tree is built from the request's own values
    every time, so the same expression with other values is another condition."""
    names = {"#u": "unread", "#m": "mentions", "#tags": "tags", "#list": "list", "#state": "state", "#id": "id"}

    def values(n: int) -> dict:
        return {
            key: {"N": str(n)} if key in (":seq", ":zero", ":one", ":low", ":high") else {"S": f"{key}-{n}"}
            for key in (":seq", ":zero", ":one", ":tag", ":low", ":high", ":a", ":b", ":prefix")
        }

    def parsed(n: int, lex) -> str:
        parser = ConditionExpressionParser(expression, names, values(n))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ConditionExpressionParser, "_lex_condition_expression", lex)
            return repr(parser.parse())

    cached = ConditionExpressionParser._lex_condition_expression
    assert cached is not moto_patches.LEX_CONDITION, "the patch is installed"
    for n in (1, 2, 1):
        assert parsed(n, cached) == parsed(n, moto_patches.LEX_CONDITION)
    assert parsed(1, cached) != parsed(2, cached) or ":" not in expression


def test_an_invalid_condition_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            ConditionExpressionParser("attribute_exists(", {}, {}).parse()
