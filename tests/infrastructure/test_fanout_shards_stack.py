"""CDK assertions for big chats' sharded fan-out: the FanoutShards queue, its DLQ and alarm,
the fan-out worker's subscription and grants (docs/architecture.md "Fan-out")."""

from __future__ import annotations

import json

from tests.infrastructure.monitoring_assertions import alarms_by_name
from tests.infrastructure.synthesis import Synthesized
from tests.infrastructure.test_stack import _actions_on, _get_att, _ref, _role_statements
from tidings.kernel.connections_api import DELIVERY_RETRIES
from tidings.messaging.declaration import DELIVERY, DELIVERY_RETRY, FANOUT_SHARDS, FANOUT_WORKER, RECEIPTS, TYPING
from tidings.notifications.declaration import NOTIFICATION_RETRIES, PUSH_JOBS


def _queue_id(synthesized: Synthesized) -> str:
    return synthesized.logical_id(synthesized.stack.queues.queue(FANOUT_SHARDS))


def test_the_shard_queue_has_a_dead_letter_queue_that_alarms_and_outlasts_the_worker(
    synthesized: Synthesized,
) -> None:
    properties = synthesized.resources[_queue_id(synthesized)]["Properties"]
    assert properties["RedrivePolicy"]["maxReceiveCount"] == 3
    assert properties["VisibilityTimeout"] >= 6 * FANOUT_WORKER.timeout_seconds
    assert "DelaySeconds" not in properties or properties["DelaySeconds"] == 0, "a shard is due at once"
    dlq_id = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[dlq_id]["Type"] == "AWS::SQS::Queue"
    alarm = alarms_by_name(synthesized.resources)[f"{FANOUT_SHARDS.id}DlqNotEmpty"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]


def test_the_worker_takes_one_shard_an_invocation_with_partial_batch_failures(synthesized: Synthesized) -> None:
    function_id = synthesized.logical_id(synthesized.stack.functions.function(FANOUT_WORKER))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": _get_att(_queue_id(synthesized), "Arn"),
            "FunctionName": _ref(function_id),
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_only_the_delivery_consumer_enqueues_shards_and_the_worker_may_retry_and_post(
    synthesized: Synthesized,
) -> None:
    shards = _get_att(_queue_id(synthesized), "Arn")
    assert "sqs:SendMessage" in _actions_on(_role_statements(synthesized, DELIVERY), shards)
    for function in (FANOUT_WORKER, DELIVERY_RETRY, RECEIPTS, TYPING):
        assert "sqs:SendMessage" not in _actions_on(_role_statements(synthesized, function), shards), function.id
    worker = _role_statements(synthesized, FANOUT_WORKER)
    retries = _get_att(synthesized.logical_id(synthesized.stack.queues.queue(DELIVERY_RETRIES)), "Arn")
    assert "sqs:SendMessage" in _actions_on(worker, retries)
    assert any("execute-api:ManageConnections" in _as_list(s["Action"]) for s in worker)
    tables = {
        resource if isinstance(resource, str) else json.dumps(resource)
        for s in worker
        if any(a.startswith("dynamodb:") for a in _as_list(s["Action"]))
        for resource in _as_list(s["Resource"])
    }
    # A message shard's notification work: badges (members, users), toast groups (ephemeral),
    # DND (presence), the chat's name; and no table it does not write or read for that.
    assert {"Connections", "Members", "Users", "Chats", "Ephemeral", "Presence"} <= {
        name for name in _TABLE_NAMES if any(name in table for table in tables)
    }
    assert not any(name in table for name in ("Idempotency", "Audit", "Attachments") for table in tables)
    for queue in (NOTIFICATION_RETRIES, PUSH_JOBS):
        arn = _get_att(synthesized.logical_id(synthesized.stack.queues.queue(queue)), "Arn")
        assert "sqs:SendMessage" in _actions_on(worker, arn), queue.id


_TABLE_NAMES = ("Connections", "Members", "Users", "Chats", "Ephemeral", "Presence")


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
