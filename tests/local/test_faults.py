"""Fault injection (`tidings_local.faults`): the grammar, and each fault arriving the way the
real failure would (botocore retrying DynamoDB's throttles, Powertools reporting a failed
record, the search engine's own error path, the push transport refusing)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import boto3
import botocore.exceptions
import pytest
import requests
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from tests.local.conftest import eventually
from tests.local.stub_app import CONNECT, EventModel, NoteModel
from tests.support.push_service import LocalPushService
from tidings.search.embedded_engine import EmbeddedSearchEngine
from tidings.search.port import SearchUnavailable
from tidings.search.query import parse as parse_query
from tidings_local import faults as fault_injection
from tidings_local.faults import Faults, FaultSpecError, InjectedCrash, parse
from tidings_local.runtime import LocalRuntime
from tidings_local.stats import Stats, handler_scope

# --- the grammar -------------------------------------------------------------------------------


def test_a_spec_is_rules_separated_by_commas_with_keys_and_alternatives() -> None:
    throttle, down = parse("dynamodb:throttle:op=PutItem+UpdateItem:function=Send:p=0.25:count=3, search:down")

    assert (throttle.target, throttle.error) == ("dynamodb", "throttle")
    assert throttle.filters == {"op": {"PutItem", "UpdateItem"}, "function": {"Send"}}
    assert (throttle.probability, throttle.remaining, throttle.applied) == (0.25, 3, False)
    assert (down.target, down.error, down.filters, down.remaining) == ("search", "down", {}, None)
    assert parse("dynamodb:500:applied=true")[0].applied
    assert parse("stream:crash:function=Fanout:record=2")[0].record == 2
    assert parse("push:503")[0].error == "503"


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "no fault rule"),
        ("redis:down", "unknown target 'redis'"),
        ("dynamodb:slow", "dynamodb has no error 'slow'"),
        ("push:404", "push has no error '404' (one of down, 500..599)"),
        ("dynamodb:500:shard=1", "dynamodb takes no key 'shard'"),
        ("dynamodb:500:op", "'op' is not KEY=VALUE"),
        ("dynamodb:500:op=PutThing", "DynamoDB has no operation PutThing"),
        ("connections:500:op=PostToConnection+Wave", "the @connections operations are"),
        ("search:down:p=0", "p=0: a probability is more than 0"),
        ("search:down:p=often", "p=often"),
        ("search:down:count=0", "count=0: a whole number of at least 1"),
        ("dynamodb:500:applied=yes", "applied=yes: true or false"),
        ("stream:error:record=1", "a stream fault needs function="),
    ],
)
def test_a_bad_spec_is_refused_naming_the_rule_and_the_problem(spec: str, complaint: str) -> None:
    with pytest.raises(FaultSpecError) as raised:
        parse(spec)
    assert complaint in str(raised.value)


def test_functions_and_tables_must_be_declared_and_a_table_may_be_named_by_its_id() -> None:
    faults = Faults(Stats(), frozenset({"Send"}), {"Messages": "tidings-messages"})

    with pytest.raises(FaultSpecError, match="no declared function Sned"):
        faults.add("dynamodb:500:function=Sned")
    with pytest.raises(FaultSpecError, match="no declared table Mesages"):
        faults.add("dynamodb:500:table=Mesages")
    (rule,) = faults.add("dynamodb:500:table=Messages")
    assert rule.filters["table"] == {"tidings-messages"}
    assert faults.add("dynamodb:500:table=tidings-messages")[0].filters["table"] == {"tidings-messages"}


def test_count_spends_a_rule_and_the_stats_count_what_fired() -> None:
    stats = Stats()
    faults = Faults(stats, frozenset(), {})
    faults.add("connections:500:user=bob:count=2")

    fired = [faults.fire("connections", op="PostToConnection", user=user) for user in ("bob", "carol", "bob", "bob")]

    assert [rule is not None for rule in fired] == [True, False, True, False]
    assert faults.describe() == [{"rule": "connections:500:user=bob:count=2", "fired": 2, "remaining": 0}]
    assert stats.snapshot()["faults"] == {"connections:500:user=bob:count=2": 2}


def test_record_n_poisons_the_nth_record_and_only_it_on_every_retry() -> None:
    faults = Faults(Stats(), frozenset({"Fanout"}), {})
    faults.add("stream:error:function=Fanout:record=2")

    def fails(record_id: str, function: str = "Fanout") -> bool:
        return faults.fire("stream", record_id=record_id, function=function) is not None

    assert not fails("100", function="Notify")  # another function's records do not count
    assert [fails(r) for r in ("100", "100", "200", "100", "300", "200")] == [False, False, True, False, False, True]


# --- the hooks, in this process ------------------------------------------------------------------


@pytest.fixture
def faults() -> Iterator[Faults]:
    installed = Faults(Stats(), frozenset({"Consumer", "Echo"}), {"Notes": "local-test-notes"})
    fault_injection.install(installed)
    yield installed
    fault_injection.uninstall(installed)


def _stream_record(sequence: str, chat_id: str) -> dict[str, Any]:
    return {
        "eventID": sequence,
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"chatId": {"S": chat_id}, "seq": {"N": sequence}},
            "NewImage": {"chatId": {"S": chat_id}, "seq": {"N": sequence}},
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def test_a_stream_error_fails_just_that_record_through_powertools(faults: Faults) -> None:
    faults.add("stream:error:function=Consumer:chat=poisoned")
    handled: list[str] = []
    event = {"Records": [_stream_record("1", "fine"), _stream_record("2", "poisoned"), _stream_record("3", "fine")]}

    with handler_scope(Stats(), "Consumer"):
        response = process_partial_response(
            event=event,
            record_handler=lambda record: handled.append(record.dynamodb.sequence_number),
            processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
        )

    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert handled == ["1", "3"]


def test_a_stream_crash_fails_the_whole_invocation_after_the_records_before_it(faults: Faults) -> None:
    faults.add("stream:crash:function=Consumer:record=2")
    handled: list[str] = []
    event = {"Records": [_stream_record("1", "a"), _stream_record("2", "a"), _stream_record("3", "a")]}

    with handler_scope(Stats(), "Consumer"), pytest.raises(InjectedCrash):
        process_partial_response(
            event=event,
            record_handler=lambda record: handled.append(record.dynamodb.sequence_number),
            processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
        )
    assert handled == ["1"]


def test_a_record_handler_outside_a_faulted_function_is_untouched(faults: Faults) -> None:
    faults.add("stream:error:function=Echo")
    with handler_scope(Stats(), "Consumer"):
        response = process_partial_response(
            event={"Records": [_stream_record("1", "a")]},
            record_handler=lambda record: None,
            processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
        )
    assert response == {"batchItemFailures": []}


def test_search_down_is_the_engines_own_unavailable(faults: Faults, tmp_path) -> None:
    engine = EmbeddedSearchEngine(str(tmp_path / "search.db"))
    faults.add("search:down:count=1")

    with handler_scope(Stats(), "Echo"):
        with pytest.raises(SearchUnavailable) as raised:
            engine.search_messages(parse_query("hello", user_id="alice", now=datetime.now(UTC)), ["general"], 0, 10)
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        assert (
            engine.search_messages(
                parse_query("hello", user_id="alice", now=datetime.now(UTC)), ["general"], 0, 10
            ).hits
            == []
        )  # the rule is spent


async def test_the_push_service_down_or_failing_reaches_the_sender_as_requests_errors(runtime: LocalRuntime) -> None:
    # In a running runtime: moto's `responses` mock then stands in for requests' transport.
    with LocalPushService() as push_service:
        runtime.faults.add("push:down:count=1,push:503:count=1")

        def post() -> requests.Response:
            return requests.post(push_service.url("/push/a"), data=b"x", timeout=5)

        with pytest.raises(requests.ConnectionError, match="refused"):
            await _in_handler(post)
        assert (await _in_handler(post)).status_code == 503
        assert (await _in_handler(post)).status_code == 201
        assert len(push_service.requests) == 1  # the faulted ones never left the process


# --- the hooks, in a running runtime -------------------------------------------------------------


def _dynamodb(runtime: LocalRuntime):
    return boto3.client("dynamodb", region_name="us-east-1")


def _in_handler(call, function_id: str = "Echo") -> Any:
    """Runs `call` the way handler code runs: on a worker thread, in a handler scope."""

    def run() -> Any:
        with handler_scope(Stats(), function_id):
            return call()

    return asyncio.to_thread(run)


async def test_a_throttle_is_retried_by_botocore_before_the_handler_sees_it(runtime: LocalRuntime) -> None:
    client = _dynamodb(runtime)
    runtime.faults.add("dynamodb:throttle:op=GetItem:count=2")

    response = await _in_handler(lambda: client.get_item(TableName="local-test-notes", Key={"noteId": {"S": "n"}}))

    assert response["ResponseMetadata"]["RetryAttempts"] == 2  # two throttles, retried away
    assert runtime.stats.snapshot()["faults"] == {"dynamodb:throttle:op=GetItem:count=2": 2}


async def test_throttling_past_the_retries_reaches_the_handler_as_aws_error_codes(runtime: LocalRuntime) -> None:
    client = _dynamodb(runtime)
    runtime.faults.add("dynamodb:throttling:op=PutItem,dynamodb:500:op=Query")

    with pytest.raises(botocore.exceptions.ClientError) as throttled:
        await _in_handler(lambda: client.put_item(TableName="local-test-notes", Item={"noteId": {"S": "n"}}))
    with pytest.raises(botocore.exceptions.ClientError) as failed:
        await _in_handler(
            lambda: client.query(
                TableName="local-test-notes",
                KeyConditionExpression="noteId = :n",
                ExpressionAttributeValues={":n": {"S": "n"}},
            )
        )

    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert failed.value.response["Error"]["Code"] == "InternalServerError"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert failed.value.response["ResponseMetadata"]["RetryAttempts"] > 0
    assert NoteModel.count() == 0  # a throttled write never happened


async def test_an_applied_500_takes_effect_and_the_retry_meets_it(runtime: LocalRuntime) -> None:
    client = _dynamodb(runtime)
    runtime.faults.add("dynamodb:500:op=PutItem:applied=true:count=1")

    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        await _in_handler(
            lambda: client.put_item(
                TableName="local-test-notes",
                Item={"noteId": {"S": "once"}},
                ConditionExpression="attribute_not_exists(noteId)",
            )
        )
    assert NoteModel.get("once").note_id == "once"


async def test_dynamodb_faults_hit_only_handler_code_of_the_chosen_function_and_table(runtime: LocalRuntime) -> None:
    client = _dynamodb(runtime)
    runtime.faults.add("dynamodb:500:function=Consumer:table=Notes")

    def put() -> Any:
        return client.put_item(TableName="local-test-notes", Item={"noteId": {"S": "n"}})

    await asyncio.to_thread(put)  # platform code: not a handler
    await _in_handler(put, "Echo")  # another function
    await _in_handler(
        lambda: client.put_item(TableName="local-test-events", Item={"pk": {"S": "p"}, "sk": {"N": "1"}}), "Consumer"
    )
    with pytest.raises(botocore.exceptions.ClientError):
        await _in_handler(put, "Consumer")
    assert EventModel.count("p") == 1


async def test_the_connections_api_answers_injected_errors_for_the_chosen_user(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    management = boto3.client("apigatewaymanagementapi", endpoint_url=runtime.url, region_name="us-east-1")
    alice = await http.ws_connect(f"{runtime.ws_url}?token=alice")
    bob = await http.ws_connect(f"{runtime.ws_url}?token=bob")
    connects = await eventually(lambda: len(runtime.lambdas.module(CONNECT).EVENTS) == 2)
    assert connects
    ids = {
        event["requestContext"]["authorizer"]["principalId"]: event["requestContext"]["connectionId"]
        for event in runtime.lambdas.module(CONNECT).EVENTS
    }
    runtime.faults.add("connections:429:user=bob:count=1,connections:500:user=bob:op=PostToConnection")

    def post(user: str) -> Any:
        return management.post_to_connection(ConnectionId=ids[user], Data=b'{"n": 1}')

    await asyncio.to_thread(post, "alice")
    with pytest.raises(botocore.exceptions.ClientError) as failed:
        await asyncio.to_thread(post, "bob")

    assert json.loads(await alice.receive_str(timeout=5)) == {"n": 1}
    assert failed.value.response["Error"]["Code"] == "InternalServerErrorException"
    assert failed.value.response["ResponseMetadata"]["RetryAttempts"] > 0  # botocore retried the 429 and 500s
    fired = runtime.stats.snapshot()["faults"]
    assert fired["connections:429:user=bob:count=1"] == 1
    assert fired["connections:500:user=bob:op=PostToConnection"] >= 1
    described = await asyncio.to_thread(management.get_connection, ConnectionId=ids["bob"])  # not PostToConnection
    assert "ConnectedAt" in described
    await alice.close()
    await bob.close()


async def test_faults_are_added_listed_and_cleared_over_http(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{runtime.url}/_local/faults", json={"faults": "search:dwn"}) as response:
        assert response.status == 400
        assert "search has no error 'dwn'" in (await response.json())["error"]["message"]
    async with http.post(
        f"{runtime.url}/_local/faults", json={"faults": ["search:down", "push:down:count=2"]}
    ) as response:
        assert response.status == 200
        assert [f["rule"] for f in (await response.json())["added"]] == ["search:down", "push:down:count=2"]
    async with http.get(f"{runtime.url}/_local/faults") as response:
        assert (await response.json())["faults"] == [
            {"rule": "search:down", "fired": 0, "remaining": None},
            {"rule": "push:down:count=2", "fired": 0, "remaining": 2},
        ]
    async with http.delete(f"{runtime.url}/_local/faults") as response:
        assert (await response.json()) == {"faults": []}
    assert runtime.faults.describe() == []


async def test_a_bad_spec_at_start_is_refused() -> None:
    with pytest.raises(FaultSpecError, match="no declared function Nobody"):
        LocalRuntime(port=0, faults=["stream:error:function=Nobody"])


async def test_a_queue_is_shown_without_being_received(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = runtime.provisioned.queue_urls["ConsumerFailures"]
    await asyncio.to_thread(sqs.send_message, QueueUrl=url, MessageBody='{"condition": "RetryAttemptsExhausted"}')

    for _ in range(2):  # looking twice finds it twice: nothing was received
        async with http.get(f"{runtime.url}/_local/queues/ConsumerFailures") as response:
            [message] = (await response.json())["messages"]
            assert message["body"] == {"condition": "RetryAttemptsExhausted"}
            assert message["receiveCount"] == 0
    async with http.get(f"{runtime.url}/_local/queues/Nope") as response:
        assert response.status == 404
