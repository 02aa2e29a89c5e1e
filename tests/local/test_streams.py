"""The DynamoDB Streams event source mapping: batching, partial failures, retries, on-failure."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamLambdaOnFailureDestinationModel,
    DynamoDBStreamModel,
)
from botocore.config import Config
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from tests.local.conftest import StartRuntime, eventually
from tests.local.stub_app import APP, CONSUMER, CONSUMER_FAILURES, EventModel, with_subscription
from tidings_local.aws import ACCOUNT_ID, LocalAws
from tidings_local.moto_patches import stream_records
from tidings_local.runtime import LocalRuntime
from tidings_local.streams import PollerSettings, StreamPoller, lambda_record, lane_of


def write(*behaviours: str) -> None:
    """One BatchWriteItem, so the records reach the stream together and form one batch."""
    with EventModel.batch_write() as batch:
        for sk, behaviour in enumerate(behaviours, start=1):
            batch.save(EventModel(pk="chat", sk=sk, behaviour=behaviour))


def invocations(runtime: LocalRuntime) -> list[list[int]]:
    """The `sk` of every record, per invocation of the consumer."""
    return [
        [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in event["Records"]] for event in runtime.lambdas.events(CONSUMER)
    ]


def on_failure_messages(runtime: LocalRuntime) -> list[dict]:
    url = runtime.provisioned.queue_urls[CONSUMER_FAILURES.id]
    messages = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


async def test_a_partial_failure_is_retried_from_the_failed_record(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(with_subscription(bisect_batch_on_error=False))
    write("ok", "fail-once", "ok")
    await eventually(lambda: len(invocations(runtime)) == 2)
    assert invocations(runtime) == [[1, 2, 3], [2, 3]]


async def test_the_event_is_lambda_shaped_and_only_wanted_event_names_are_delivered(
    start_runtime: StartRuntime,
) -> None:
    runtime = await start_runtime()

    def seen() -> list[dict]:
        return runtime.lambdas.events(CONSUMER)

    write("ok")
    EventModel(pk="chat", sk=1, behaviour="changed").save()  # MODIFY: filtered out
    write("ok", "ok")  # sk 1 (MODIFY again) and sk 2 (INSERT)
    await eventually(lambda: sum(len(e["Records"]) for e in seen()) == 2)
    parsed = [DynamoDBStreamModel.model_validate(event) for event in seen()]
    records = [record for event in parsed for record in event.Records]
    assert [r.eventName for r in records] == ["INSERT", "INSERT"]
    assert [r.dynamodb.Keys["sk"] for r in records] == [1, 2]
    assert records[0].eventSourceARN == runtime.provisioned.stream_arns["Events"]
    assert isinstance(seen()[0]["Records"][0]["dynamodb"]["ApproximateCreationDateTime"], int)


async def test_a_poison_record_goes_to_the_on_failure_queue_and_the_rest_is_delivered(
    start_runtime: StartRuntime,
) -> None:
    runtime = await start_runtime(with_subscription(retry_attempts=2, bisect_batch_on_error=True))
    write("ok", "fail-always", "ok")
    await eventually(lambda: invocations(runtime) and invocations(runtime)[-1] == [3])
    # The batch fails at 2, is checkpointed there and bisected (no retry used) down to [2],
    # which fails once and is retried twice, then it is sent away and 3 is delivered.
    assert invocations(runtime) == [[1, 2, 3], [2], [2], [2], [3]]

    [failure] = on_failure_messages(runtime)
    record = DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(failure)
    assert record.request_context.condition == "RetryAttemptsExhausted"
    assert record.request_context.approximate_invoke_count == 4
    assert record.request_context.function_arn.endswith(":function:Stub-Consumer")
    assert record.ddb_stream_batch_info.batch_size == 1
    assert record.ddb_stream_batch_info.start_sequence_number == record.ddb_stream_batch_info.end_sequence_number
    assert record.ddb_stream_batch_info.stream_arn == runtime.provisioned.stream_arns["Events"]


async def test_an_exception_fails_the_whole_batch_which_is_sent_away_without_bisecting(
    start_runtime: StartRuntime,
) -> None:
    runtime = await start_runtime(with_subscription(retry_attempts=1, bisect_batch_on_error=False))
    write("ok", "raise")
    await eventually(lambda: on_failure_messages(runtime) or None)
    assert invocations(runtime) == [[1, 2], [1, 2]]
    write_after = EventModel(pk="chat", sk=3, behaviour="ok")
    write_after.save()
    await eventually(lambda: invocations(runtime)[-1] == [3])


async def test_the_on_failure_record_describes_the_whole_failed_batch(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(with_subscription(retry_attempts=0, bisect_batch_on_error=False))
    write("raise", "ok")
    [failure] = await eventually(lambda: on_failure_messages(runtime) or None)
    record = DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(failure)
    assert record.ddb_stream_batch_info.batch_size == 2
    assert record.response_context.function_error == "Unhandled"
    assert invocations(runtime) == [[1, 2]]


async def test_delivery_survives_a_failed_transaction(start_runtime: StartRuntime) -> None:
    """moto rolls a failed TransactWriteItems back by swapping in a copy of the table (and of
    its stream shard); the poller must follow the new shard, neither stalling nor repeating."""
    runtime = await start_runtime()
    write("ok")
    await eventually(lambda: invocations(runtime) == [[1]])
    with pytest.raises(TransactWriteError), TransactWrite(connection=Connection(region="us-east-1")) as transaction:
        transaction.save(EventModel(pk="chat", sk=1), condition=EventModel.pk.does_not_exist())
    EventModel(pk="chat", sk=2).save()
    await eventually(lambda: invocations(runtime) == [[1], [2]])


@pytest.mark.parametrize(("position", "delivered"), [("LATEST", [2]), ("TRIM_HORIZON", [1, 2])])
def test_the_starting_position_decides_whether_existing_records_are_delivered(
    position: str, delivered: list[int]
) -> None:
    aws = LocalAws(APP)
    aws.start()
    try:
        EventModel(pk="chat", sk=1).save()  # already on the stream when the poller starts
        subscription = replace(APP.stream_subscriptions[0], starting_position=position)
        poller = StreamPoller(subscription, aws.provisioned.stream_arns["Events"], "", None, None, PollerSettings())  # type: ignore[arg-type]
        poller._open()
        EventModel(pk="chat", sk=2).save()
        poller._route(poller._read_wanted())
        assert [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in poller.buffered()] == delivered
    finally:
        aws.stop()


def test_the_poller_reads_the_records_get_records_returns() -> None:
    """The pollers read moto's stream shard directly (no iterator, no GetRecords request): the
    Lambda records they make are those the Streams API's records make, from the start and after
    any record, for every kind of change and attribute type."""
    aws = LocalAws(APP)
    aws.start()
    try:
        arn = aws.provisioned.stream_arns["Events"]
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        table = EventModel.Meta.table_name
        item = {
            "pk": {"S": "chat"},
            "sk": {"N": "1"},
            "blob": {"B": b"\x00\xff"},
            "blobs": {"BS": [b"a"]},
            "list": {"L": [{"NULL": True}, {"BOOL": True}, {"N": "1.50"}]},
            "map": {"M": {"set": {"SS": ["x"]}}},
        }
        dynamodb.put_item(TableName=table, Item=item)
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": "chat"}, "sk": {"N": "1"}},
            UpdateExpression="SET behaviour = :b",
            ExpressionAttributeValues={":b": {"S": "changed"}},
        )
        write("ok", "ok")
        dynamodb.delete_item(TableName=table, Key={"pk": {"S": "chat"}, "sk": {"N": "2"}})

        streams = boto3.client(
            "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
        )
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

        def through_the_api(**position: str) -> list[dict]:
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **position)["ShardIterator"]
            return [lambda_record(r, arn) for r in streams.get_records(ShardIterator=iterator)["Records"]]

        direct = [lambda_record(r, arn) for r in stream_records(arn, None, ACCOUNT_ID, "us-east-1")]
        assert direct == through_the_api(ShardIteratorType="TRIM_HORIZON")
        assert [r["eventName"] for r in direct] == ["INSERT", "MODIFY", "MODIFY", "INSERT", "REMOVE"]
        second = direct[1]["dynamodb"]["SequenceNumber"]
        after = [lambda_record(r, arn) for r in stream_records(arn, second, ACCOUNT_ID, "us-east-1")]
        assert after == through_the_api(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=second)
        assert after == direct[2:]
        assert stream_records(arn, direct[-1]["dynamodb"]["SequenceNumber"], ACCOUNT_ID, "us-east-1") == []
    finally:
        aws.stop()


def _keys_in_two_lanes() -> tuple[str, str]:
    """Two partition keys that a parallelization factor of 2 puts in different lanes."""
    lane = {pk: lane_of({"S": pk}, 2) for pk in ("a", "b", "c", "d")}
    first = "a"
    return first, next(pk for pk in lane if lane[pk] != lane[first])


def _completed(runtime: LocalRuntime) -> list[list[tuple[str, int]]]:
    """(pk, sk) of each invocation's records, in the order the invocations finished."""
    return [
        [(r["dynamodb"]["Keys"]["pk"]["S"], int(r["dynamodb"]["Keys"]["sk"]["N"])) for r in event["Records"]]
        for event in runtime.lambdas.events(CONSUMER)
    ]


async def test_with_a_parallelization_factor_a_slow_key_does_not_hold_up_another(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(with_subscription(parallelization_factor=2))
    slow_key, other_key = _keys_in_two_lanes()
    EventModel(pk=slow_key, sk=1, behaviour="slow").save()
    await eventually(lambda: runtime.lambdas.in_flight == 1)
    EventModel(pk=other_key, sk=1).save()

    await eventually(lambda: len(_completed(runtime)) == 2, timeout=20)
    assert _completed(runtime) == [[(other_key, 1)], [(slow_key, 1)]], "the other key's batch ran beside the slow one"


async def test_with_a_parallelization_factor_one_keys_records_stay_in_order(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(with_subscription(parallelization_factor=2))
    EventModel(pk="a", sk=1, behaviour="slow").save()
    await eventually(lambda: runtime.lambdas.in_flight == 1)
    EventModel(pk="a", sk=2).save()

    await eventually(lambda: sum(len(batch) for batch in _completed(runtime)) == 2, timeout=20)
    assert [record for batch in _completed(runtime) for record in batch] == [("a", 1), ("a", 2)]


def test_a_parallelization_factor_outside_lambdas_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match=r"parallelization_factor .* must be 1 to 10"):
        with_subscription(parallelization_factor=11)
