"""Stub $connect: refuses with the status in `?refuse=STATUS`; with `?probe=1`, tries to post
to and delete its own connection first and answers what the @connections API said (API Gateway
ignores the extra key)."""

import os

import boto3


def _answer(call) -> str:
    try:
        call()
    except Exception as exc:  # the error botocore raised, by name
        return type(exc).__name__
    return "ok"


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    refuse = query.get("refuse")
    answer = {"statusCode": int(refuse) if refuse else 200}
    if query.get("probe"):
        management = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WEBSOCKET_CALLBACK_URL"])
        connection_id = event["requestContext"]["connectionId"]
        answer["probe"] = {
            "post": _answer(lambda: management.post_to_connection(ConnectionId=connection_id, Data=b"{}")),
            "delete": _answer(lambda: management.delete_connection(ConnectionId=connection_id)),
        }
    return answer
