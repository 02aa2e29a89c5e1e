"""CDK assertions specific to presence (issue 6): the tables, the 2 s batched stream consumer,
the timer queue, and least privilege around them. The generic loops in test_stack.py cover the
rest (keys, grants, environment) from the declaration."""

from __future__ import annotations

import json

from tests.infrastructure.synthesis import Synthesized
from tidings.app import APPLICATION
from tidings.presence.activity import ACTIVITY_FRAMES
from tidings.presence.declaration import PRESENCE_CHANGES, PRESENCE_TIMERS, PRESENCE_TIMERS_FUNCTION
from tidings.presence.models import PRESENCE, PRESENCE_SUBSCRIPTIONS


def _id(synthesized: Synthesized, construct: object) -> str:
    return synthesized.logical_id(construct)  # type: ignore[arg-type]


def test_the_presence_table_streams_both_images_and_keeps_its_items(synthesized: Synthesized) -> None:
    properties = synthesized.resources[_id(synthesized, synthesized.stack.tables.table(PRESENCE))]["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "userId", "KeyType": "HASH"}]
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert "TimeToLiveSpecification" not in properties, "lastSeen outlives the session"


def test_subscriptions_are_partitioned_by_the_watched_user_expire_and_are_indexed_by_subscriber(
    synthesized: Synthesized,
) -> None:
    table = synthesized.stack.tables.table(PRESENCE_SUBSCRIPTIONS)
    properties = synthesized.resources[_id(synthesized, table)]["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": "userId", "KeyType": "HASH"},
        {"AttributeName": "subscriberId", "KeyType": "RANGE"},
    ]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    [index] = properties["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "bySubscriber"
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["expiresAt"]}
    assert "StreamSpecification" not in properties, "subscribing costs no stream invocation"


def test_the_changes_consumer_batches_over_two_seconds(synthesized: Synthesized) -> None:
    table_id = _id(synthesized, synthesized.stack.tables.table(PRESENCE))
    function_id = _id(synthesized, synthesized.stack.functions.function(PRESENCE_CHANGES))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [table_id, "StreamArn"]},
            "FunctionName": {"Ref": function_id},
            "MaximumBatchingWindowInSeconds": 2,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "FilterCriteria": {
                "Filters": [{"Pattern": json.dumps({"eventName": ["INSERT", "MODIFY"]}, separators=(",", ":"))}]
            },
        },
    )


def test_the_timer_queue_feeds_the_timer_function_and_has_a_dead_letter_queue(synthesized: Synthesized) -> None:
    queue_id = _id(synthesized, synthesized.stack.queues.queue(PRESENCE_TIMERS))
    function_id = _id(synthesized, synthesized.stack.functions.function(PRESENCE_TIMERS_FUNCTION))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionName": {"Ref": function_id},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    queue = synthesized.resources[queue_id]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5


def test_every_function_that_serves_an_activity_frame_may_record_it(synthesized: Synthesized) -> None:
    """The grants themselves are checked for every function by test_stack.py."""
    for frame_type in sorted(ACTIVITY_FRAMES):
        route = APPLICATION.route(frame_type)
        assert route is not None, f"{frame_type} has no route"
        assert (PRESENCE, "read_write") in route.function.tables, f"{route.function.id} cannot record activity"
        variables = synthesized.resources[_id(synthesized, synthesized.stack.functions.function(route.function))][
            "Properties"
        ]["Environment"]["Variables"]
        assert "PRESENCE_TABLE" in variables and "PRESENCE_TIMERS_QUEUE_URL" in variables
