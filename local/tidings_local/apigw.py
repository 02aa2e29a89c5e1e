"""API Gateway WebSocket API semantics as pure functions: events, ids, route selection, policies.

Kept apart from the aiohttp server (`gateway.py`) so the shapes can be read and tested alone.
Event shapes follow what API Gateway sends to a Lambda proxy integration and to a REQUEST
authorizer (they parse with Powertools' `APIGatewayWebSocket*EventModel`s):

- the authorizer event (`type: REQUEST`, `methodArn` ending in `$connect`, headers, query string),
- `$connect` (eventType CONNECT), messages (eventType MESSAGE, `body`, `isBase64Encoded`) and
  `$disconnect` (eventType DISCONNECT, `disconnectStatusCode`, `disconnectReason`).

After an Allow, the authorizer's `context` plus `principalId` (and `integrationLatency`) becomes
`requestContext.authorizer` of every event of that connection. Context values are flat
strings, numbers or booleans; like API Gateway we hand numbers and booleans to the routes as
strings (`"1"`, `"true"`), so handler code that works here does not break on AWS.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from tidings.kernel.declaration import Application, Route
from tidings_local.aws import ACCOUNT_ID, region

API_ID = "local"
STAGE = "local"
RESERVED_ROUTES = frozenset({"$connect", "$disconnect", "$default"})


class AuthorizerConfigurationError(Exception):
    """The authorizer returned something API Gateway cannot use (it answers HTTP 500)."""


def new_id() -> str:
    """An API-Gateway-like id: 16 characters of base64 ending in `=` (URL-safe alphabet,
    because connection ids travel in @connections URL paths)."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def method_arn(route_key: str = "$connect") -> str:
    return f"arn:aws:execute-api:{region()}:{ACCOUNT_ID}:{API_ID}/{STAGE}/{route_key}"


def _request_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


@dataclass
class ConnectionRequest:
    """What API Gateway remembers about a connection from its handshake."""

    connection_id: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    headers: dict[str, str]
    multi_value_headers: dict[str, list[str]]
    query: dict[str, str]
    multi_value_query: dict[str, list[str]]
    connected_at: int = field(default_factory=lambda: int(time.time() * 1000))
    authorizer: dict[str, Any] | None = None

    def request_context(self, route_key: str, event_type: str) -> dict[str, Any]:
        now = int(time.time() * 1000)
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": new_id(),
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": self.connected_at,
            "requestTimeEpoch": now,
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
            "requestId": new_id(),
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": API_ID,
        }
        if self.authorizer is not None:
            context["authorizer"] = dict(self.authorizer)
        return context


def authorizer_event(request: ConnectionRequest) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": method_arn("$connect"),
        "headers": dict(request.headers),
        "multiValueHeaders": dict(request.multi_value_headers),
        "queryStringParameters": dict(request.query),
        "multiValueQueryStringParameters": dict(request.multi_value_query),
        "stageVariables": {},
        "requestContext": request.request_context("$connect", "CONNECT"),
    }


def connect_event(request: ConnectionRequest) -> dict[str, Any]:
    event: dict[str, Any] = {
        "headers": dict(request.headers),
        "multiValueHeaders": dict(request.multi_value_headers),
        "requestContext": request.request_context("$connect", "CONNECT"),
        "isBase64Encoded": False,
    }
    if request.query:
        event["queryStringParameters"] = dict(request.query)
        event["multiValueQueryStringParameters"] = dict(request.multi_value_query)
    return event


def message_event(request: ConnectionRequest, route_key: str, data: str | bytes) -> dict[str, Any]:
    context = request.request_context(route_key, "MESSAGE")
    context["messageId"] = new_id()
    if isinstance(data, bytes):
        return {"requestContext": context, "body": base64.b64encode(data).decode(), "isBase64Encoded": True}
    return {"requestContext": context, "body": data, "isBase64Encoded": False}


def disconnect_event(request: ConnectionRequest, status_code: int, reason: str) -> dict[str, Any]:
    # API Gateway sends a reduced header set on $disconnect; Powertools' model requires both maps.
    headers = {"Host": request.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = request.request_context("$disconnect", "DISCONNECT")
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def select_route(application: Application, data: str | bytes) -> Route | None:
    """`$request.body.type`: a JSON object's string `type` naming a declared route, else
    `$default` (None when the API has no `$default`). Binary frames always go to `$default`."""
    if isinstance(data, str):
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):  # nested too deep to parse is not JSON either
            body = None
        key = body.get("type") if isinstance(body, dict) else None
        if isinstance(key, str) and key not in RESERVED_ROUTES:
            route = application.route(key)
            if route is not None:
                return route
    return application.route("$default")


def mock_reply(application: Application, data: str | bytes, request_id: str) -> str | None:
    """What API Gateway's MOCK integration answers for a frame of a declared mock route (the
    same reply the deployed mapping templates build), or None when no mock route matches."""
    if not isinstance(data, str) or not application.mock_routes:
        return None
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    mock = next((m for m in application.mock_routes if m.key == body.get("type")), None)
    if mock is None:
        return None
    ref_id = body.get("id")
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"type": mock.reply_type, "id": request_id, "timestamp": timestamp, "payload": {"refId": ref_id}})


def policy_allows(response: Any, arn: str) -> bool:
    """Evaluates the authorizer's IAM policy for `execute-api:Invoke` on `arn`: an explicit
    Deny wins, otherwise some Allow must match. A malformed response raises."""
    if not isinstance(response, dict) or not isinstance(response.get("principalId"), str):
        raise AuthorizerConfigurationError("the authorizer response has no principalId")
    document = response.get("policyDocument")
    statements = document.get("Statement") if isinstance(document, dict) else None
    if not isinstance(statements, list):
        raise AuthorizerConfigurationError("the authorizer response has no policyDocument.Statement list")
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise AuthorizerConfigurationError("a policy statement has no Effect")
        if _matches(statement.get("Action"), "execute-api:Invoke") and _matches(statement.get("Resource"), arn):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def _matches(patterns: Any, value: str) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    return isinstance(patterns, list) and any(isinstance(p, str) and fnmatchcase(value, p) for p in patterns)


def authorizer_context(response: dict[str, Any], latency_ms: int) -> dict[str, Any]:
    """`requestContext.authorizer` for every event of an allowed connection."""
    context = response.get("context") or {}
    if not isinstance(context, dict):
        raise AuthorizerConfigurationError("the authorizer context is not a map")
    result: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            result[key] = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            result[key] = str(value)
        else:
            raise AuthorizerConfigurationError(f"authorizer context value {key!r} is not a string, number or boolean")
    result["principalId"] = response["principalId"]
    result["integrationLatency"] = latency_ms
    return result


def gateway_error(message: str, request: ConnectionRequest) -> str:
    """The frame API Gateway itself sends when a route cannot be served."""
    return json.dumps({"message": message, "connectionId": request.connection_id, "requestId": new_id()})
