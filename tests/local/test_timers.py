"""The SQS event source mapping and EventBridge schedules."""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsModel

from tests.local.conftest import StartRuntime, eventually
from tests.local.stub_app import FAILING_SCHEDULE_APP, FAILING_TICK, JOBS, TICK, TICK_FAILURES, TIMERS_APP, WORKER
from tidings_local import async_invocations


async def test_queue_messages_are_delivered_and_failed_ones_kept(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(TIMERS_APP)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = runtime.provisioned.queue_urls[JOBS.id]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "1", "MessageBody": "a", "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "x"}}},
            {"Id": "2", "MessageBody": "fail"},
            {"Id": "3", "MessageBody": "b"},
        ],
    )
    [event] = await eventually(lambda: runtime.lambdas.events(WORKER))
    parsed = SqsModel.model_validate(event)
    assert [r.body for r in parsed.Records] == ["a", "fail", "b"]
    assert parsed.Records[0].messageAttributes["kind"].stringValue == "x"
    assert parsed.Records[0].eventSourceARN == runtime.provisioned.queue_arns[JOBS.id]

    def counts() -> tuple[str, str]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]

    # The two successes are deleted; the failure waits out its visibility timeout.
    await eventually(lambda: counts() == ("0", "1"))


async def test_schedules_invoke_their_function_with_a_scheduled_event(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(TIMERS_APP)
    [event] = await eventually(lambda: runtime.lambdas.events(TICK), timeout=3)
    parsed = EventBridgeModel.model_validate(event)
    assert parsed.detail_type == "Scheduled Event"
    assert parsed.source == "aws.events"


async def test_a_failing_scheduled_run_is_retried_twice_then_parked_in_the_on_failure_queue(
    start_runtime: StartRuntime, monkeypatch
) -> None:
    """As Lambda's asynchronous invocation does (the retention sweep runs this way): the same
    event three times, then the event and the error in the schedule's on-failure queue."""
    monkeypatch.setattr(async_invocations, "RETRY_DELAYS", (0.05, 0.05))
    runtime = await start_runtime(FAILING_SCHEDULE_APP)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = runtime.provisioned.queue_urls[TICK_FAILURES.id]

    def parked() -> list[dict]:
        return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])

    [message] = await eventually(parked, timeout=10)
    record = json.loads(message["Body"])
    assert record["requestContext"] == {"condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"]["detail-type"] == "Scheduled Event"
    assert "the sweep broke" in record["responsePayload"]["errorMessage"]
    attempts = [e for e in runtime.lambdas.events(FAILING_TICK) if e["id"] == record["requestPayload"]["id"]]
    assert len(attempts) == 3, "the same event, retried twice"


async def test_activity_counts_the_messages_a_consumed_queue_still_holds(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(TIMERS_APP)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = runtime.provisioned.queue_urls[JOBS.id]
    assert runtime.activity()["queueMessages"] == {JOBS.id: 0}
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    # Delayed (not receivable yet) is still work to come: a benchmark waits for it.
    assert runtime.activity()["queueMessages"] == {JOBS.id: 1}
