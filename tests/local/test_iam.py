"""IAM, locally: each function may do exactly what its declaration grants, refused at the service
with the service's own error, as AWS refuses it."""

from __future__ import annotations

import aiohttp
import pytest

from tests.local.conftest import probe
from tests.local.stub_app import CONNECT, NOBODY, PROBE, READER
from tidings_local.runtime import LocalRuntime

NOTES = "local-test-notes"
NOTE = {"noteId": {"S": "n-1"}}


def dynamodb(operation: str, **params: object) -> dict:
    return {"do": "aws", "service": "dynamodb", "operation": operation, "params": params}


async def test_a_function_without_a_grant_on_a_table_is_refused_as_dynamodb_refuses(runtime: LocalRuntime) -> None:
    [refused] = (await probe(runtime, NOBODY, dynamodb("get_item", TableName=NOTES, Key=NOTE)))["steps"]

    assert refused["error"] == "AccessDeniedException"
    assert refused["status"] == 400
    assert refused["message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/Stub-Nobody-role/Stub-Nobody is not authorized to perform: "
        f"dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{NOTES} "
        "because no identity-based policy allows the dynamodb:GetItem action"
    )
    assert refused["retries"] == 0, "an access denial is not retried"


async def test_read_access_reads_but_cannot_write(runtime: LocalRuntime) -> None:
    read, write, batch = (
        await probe(
            runtime,
            READER,
            dynamodb("get_item", TableName=NOTES, Key=NOTE),
            dynamodb("put_item", TableName=NOTES, Item=NOTE),
            dynamodb("batch_write_item", RequestItems={NOTES: [{"PutRequest": {"Item": NOTE}}]}),
        )
    )["steps"]
    assert read == {"ok": True, "retries": 0}
    assert write["error"] == batch["error"] == "AccessDeniedException"
    assert "dynamodb:PutItem" in write["message"] and "dynamodb:BatchWriteItem" in batch["message"]


async def test_nobody_may_scan_not_even_with_read_write_access(runtime: LocalRuntime) -> None:
    [scan] = (await probe(runtime, PROBE, dynamodb("scan", TableName=NOTES)))["steps"]
    assert scan["error"] == "AccessDeniedException"
    assert "not authorized to perform: dynamodb:Scan" in scan["message"]


async def test_a_transaction_needs_each_items_action_on_each_items_table(runtime: LocalRuntime) -> None:
    """IAM checks a TransactWriteItems item by item: Probe may write Notes and Events, not Users."""
    put_notes = {"Put": {"TableName": NOTES, "Item": NOTE}}
    put_events = {"Put": {"TableName": "local-test-events", "Item": {"pk": {"S": "p"}, "sk": {"N": "1"}}}}
    elsewhere = {
        "ConditionCheck": {"TableName": "elsewhere", "Key": NOTE, "ConditionExpression": "attribute_exists(x)"}
    }
    allowed, refused = (
        await probe(
            runtime,
            PROBE,
            dynamodb("transact_write_items", TransactItems=[put_notes, put_events]),
            dynamodb("transact_write_items", TransactItems=[put_notes, elsewhere]),
        )
    )["steps"]
    assert allowed == {"ok": True, "retries": 0}
    assert refused["error"] == "AccessDeniedException"
    assert (
        "dynamodb:ConditionCheckItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/elsewhere"
        in (refused["message"])
    )


async def test_queues_and_secrets_are_refused_in_their_own_formats(runtime: LocalRuntime) -> None:
    queue_url = runtime.provisioned.queue_urls["ConsumerFailures"]
    secret = runtime.provisioned.secret_arns["StubKey"]
    send = {
        "do": "aws",
        "service": "sqs",
        "operation": "send_message",
        "params": {"QueueUrl": queue_url, "MessageBody": "x"},
    }
    read = {"do": "aws", "service": "secretsmanager", "operation": "get_secret_value", "params": {"SecretId": secret}}

    sent, secret_denied = (await probe(runtime, NOBODY, send, read))["steps"]
    [secret_read] = (await probe(runtime, READER, read))["steps"]

    assert sent["error"] == "AccessDenied", "SQS keeps its query-protocol error code"
    assert "is not authorized to perform: sqs:sendmessage on resource: arn:aws:sqs:" in sent["message"]
    assert secret_denied["error"] == "AccessDeniedException"
    assert "secretsmanager:GetSecretValue" in secret_denied["message"]
    assert secret_read == {"ok": True, "retries": 0}


async def test_a_function_that_does_not_manage_connections_gets_403_from_connections(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    ws = await http.ws_connect(f"{runtime.ws_url}?token=alice")
    connection_id = runtime.lambdas.events(CONNECT)[0]["requestContext"]["connectionId"]
    post = {
        "do": "aws",
        "service": "apigatewaymanagementapi",
        "operation": "post_to_connection",
        "endpoint": runtime.url,
        "params": {"ConnectionId": connection_id, "Data": "hello"},
    }
    [refused] = (await probe(runtime, PROBE, post))["steps"]
    assert refused["status"] == 403
    assert refused["error"] == "AccessDeniedException"
    assert refused["message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/Stub-Probe-role/Stub-Probe is not authorized to perform: "
        "execute-api:ManageConnections on resource: "
        "arn:aws:execute-api:us-east-1:123456789012:local/local/POST/@connections/{connectionId}"
    )
    await ws.send_str('{"type": "echo"}')
    assert (await ws.receive_json(timeout=5))["route"] == "echo", "the connection is untouched"
    await ws.close()


@pytest.mark.parametrize("function_id", ["Probe", "Nobody"])
async def test_the_stats_attribute_each_call_to_its_function(runtime: LocalRuntime, function_id: str) -> None:
    function = runtime.application.function(function_id)
    await probe(runtime, function, dynamodb("get_item", TableName=NOTES, Key=NOTE))
    by_function = runtime.stats.snapshot()["awsCallsByFunction"]
    assert by_function == {function_id: {"dynamodb": {"GetItem": 1}}}, "refused or not, the call was made"
