"""CDK assertions for fan-out's delivery retries: the delay queue and its DLQ, the retry
function's subscription, and who may enqueue (docs/architecture.md "Fan-out")."""

from __future__ import annotations

from tests.infrastructure.synthesis import Synthesized
from tests.infrastructure.test_stack import _actions_on, _get_att, _ref, _role_statements
from tidings.messaging.declaration import DELIVERY, DELIVERY_RETRIES, DELIVERY_RETRY, RECEIPTS, SYNC, TYPING
from tidings.notifications.declaration import NOTIFY_RETRY


def _queue_id(synthesized: Synthesized) -> str:
    return synthesized.logical_id(synthesized.stack.queues.queue(DELIVERY_RETRIES))


def test_the_retry_queue_is_a_delay_queue_with_a_dead_letter_queue_and_outlasts_the_function(
    synthesized: Synthesized,
) -> None:
    properties = synthesized.resources[_queue_id(synthesized)]["Properties"]
    assert properties["DelaySeconds"] == 1
    assert properties["RedrivePolicy"]["maxReceiveCount"] == 3
    dlq_id = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[dlq_id]["Type"] == "AWS::SQS::Queue"
    assert properties["VisibilityTimeout"] >= 6 * DELIVERY_RETRY.timeout_seconds


def test_the_retry_function_consumes_the_queue_with_partial_batch_failures(synthesized: Synthesized) -> None:
    function_id = synthesized.logical_id(synthesized.stack.functions.function(DELIVERY_RETRY))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": _get_att(_queue_id(synthesized), "Arn"),
            "FunctionName": _ref(function_id),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_the_posting_consumers_may_enqueue_retries_and_typing_and_sync_may_not(synthesized: Synthesized) -> None:
    queue_arn = _get_att(_queue_id(synthesized), "Arn")
    for function in (DELIVERY, NOTIFY_RETRY, RECEIPTS, DELIVERY_RETRY):
        assert "sqs:SendMessage" in _actions_on(_role_statements(synthesized, function), queue_arn), function.id
    for function in (TYPING, SYNC):
        assert "sqs:SendMessage" not in _actions_on(_role_statements(synthesized, function), queue_arn), function.id
