"""AWS-shaped events, as API Gateway and Lambda's event source mapping deliver them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

API_ID = "abcdef1234"
STAGE = "prod"
METHOD_ARN = f"arn:aws:execute-api:us-east-1:123456789012:{API_ID}/{STAGE}/$connect"


def _request_context(route_key: str, event_type: str, connection_id: str) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": str(uuid.uuid4()),
        "requestTime": "25/Nov/2026:10:00:00 +0000",
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": now_ms,
        "requestTimeEpoch": now_ms,
        "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
        "requestId": str(uuid.uuid4()),
        "domainName": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
        "connectionId": connection_id,
        "apiId": API_ID,
    }


def authorizer_event(*, header: str | None = None, query_token: str | None = None) -> dict[str, Any]:
    headers = {"Host": "example", "Sec-WebSocket-Version": "13"}
    if header is not None:
        headers["Authorization"] = header
    query = {"token": query_token} if query_token is not None else None
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "stageVariables": {},
        "requestContext": _request_context("$connect", "CONNECT", "conn-auth="),
    }


def _authorizer(user_id: str, expires_at: int, issued_at: int | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"principalId": user_id, "userId": user_id, "tokenExpiresAt": expires_at}
    if issued_at is not None:
        context["tokenIssuedAt"] = issued_at
    return {**context, "integrationLatency": 3}


def connect_event(
    connection_id: str, user_id: str, expires_at: int | None = None, issued_at: int | None = None
) -> dict[str, Any]:
    context = _request_context("$connect", "CONNECT", connection_id)
    context["authorizer"] = _authorizer(user_id, expires_at or int(time.time()) + 900, issued_at)
    headers = {"Host": "example"}
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def disconnect_event(connection_id: str) -> dict[str, Any]:
    context = _request_context("$disconnect", "DISCONNECT", connection_id)
    context.update(disconnectStatusCode=1001, disconnectReason="Going away")
    headers = {"Host": "example"}
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def message_event(connection_id: str, user_id: str, body: str | dict[str, Any], route_key: str) -> dict[str, Any]:
    context = _request_context(route_key, "MESSAGE", connection_id)
    context["messageId"] = str(uuid.uuid4())
    context["authorizer"] = _authorizer(user_id, int(time.time()) + 900)
    return {
        "requestContext": context,
        "body": body if isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


def client_frame(frame_type: str, payload: dict[str, Any], frame_id: str | None = None) -> dict[str, Any]:
    return {
        "type": frame_type,
        "id": frame_id or str(uuid.uuid4()),
        "timestamp": "2026-11-25T10:00:00.000Z",
        "payload": payload,
    }


def sqs_event(bodies: list[str], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:queue") -> dict[str, Any]:
    """An SQS event as Lambda's SQS event source mapping delivers it."""
    now_ms = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{index}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms,
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": now_ms,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    body: str | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event, as API Gateway sends it for `route_key`
    (e.g. `GET /api/chats/{chatId}/messages`; defaults to `METHOD path`). Header names are
    lower-case, as HTTP APIs deliver them."""
    all_headers = {"host": f"{API_ID}.execute-api.us-east-1.amazonaws.com", "user-agent": "pytest"}
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    now_ms = int(time.time() * 1000)
    raw_query = "&".join(f"{name}={value}" for name, value in (query or {}).items())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": "25/Nov/2026:10:00:00 +0000",
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event
