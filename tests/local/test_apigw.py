"""API Gateway semantics as pure functions: policy evaluation, authorizer context, route choice."""

from __future__ import annotations

import pytest

from tests.local.stub_app import APP
from tidings_local.apigw import (
    AuthorizerConfigurationError,
    authorizer_context,
    method_arn,
    new_id,
    policy_allows,
    select_route,
)

ARN = method_arn("$connect")


def policy(*statements: dict) -> dict:
    return {"principalId": "alice", "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}


def statement(effect: str, resource: str | list[str] = ARN, action: str = "execute-api:Invoke") -> dict:
    return {"Effect": effect, "Resource": resource, "Action": action}


@pytest.mark.parametrize(
    ("response", "allowed"),
    [
        (policy(statement("Allow")), True),
        (policy(statement("Allow", "arn:aws:execute-api:*:*:local/*")), True),
        (policy(statement("Allow", ["arn:other", ARN])), True),
        (policy(statement("Allow", action="execute-api:*")), True),
        (policy(statement("Allow"), statement("Deny", "*")), False),
        (policy(statement("Deny")), False),
        (policy(statement("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/*")), False),
        (policy(), False),
    ],
)
def test_policy_evaluation(response: dict, allowed: bool) -> None:
    assert policy_allows(response, ARN) is allowed


@pytest.mark.parametrize("response", [None, {"policyDocument": {}}, {"principalId": "a"}, policy({"Effect": "Maybe"})])
def test_malformed_authorizer_responses_are_configuration_errors(response: object) -> None:
    with pytest.raises(AuthorizerConfigurationError):
        policy_allows(response, ARN)


def test_authorizer_context_values_become_strings() -> None:
    response = {**policy(), "context": {"userId": "alice", "expiresAt": 1700000000, "admin": False, "ratio": 0.5}}
    assert authorizer_context(response, 7) == {
        "userId": "alice",
        "expiresAt": "1700000000",
        "admin": "false",
        "ratio": "0.5",
        "principalId": "alice",
        "integrationLatency": 7,
    }
    with pytest.raises(AuthorizerConfigurationError):
        authorizer_context({**policy(), "context": {"roles": ["admin"]}}, 0)


def test_route_selection_falls_back_to_default() -> None:
    assert select_route(APP, '{"type": "echo"}').key == "echo"
    assert select_route(APP, '{"type": "$disconnect"}').key == "$default"
    assert select_route(APP, b'{"type": "echo"}').key == "$default"
    no_default = APP.__class__(**{**APP.__dict__, "routes": tuple(r for r in APP.routes if r.key != "$default")})
    assert select_route(no_default, "nope") is None


def test_connection_ids_look_like_api_gateway_ids() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 16 and i.endswith("=") and "/" not in i and "+" not in i for i in ids)
