"""An identity provider's tokens at the edges, as Lambda runs them: the `$connect` authorizer
(Allow, Deny = 403, just-in-time provisioning) and the HTTP API (401/403 JSON), with
`IDENTITY_PROVIDERS` set as the deployment sets it and a JWKS endpoint on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from tests.support.events import authorizer_event, http_event
from tests.support.jwks import LocalIdentityProvider
from tests.support.lambdas import load_function
from tidings.chats.models import UserModel
from tidings.kernel.environment import ColdStart


@pytest.fixture
def idp():
    with LocalIdentityProvider() as provider:
        provider.add_key("key-1")
        yield provider


def configure(monkeypatch, idp: LocalIdentityProvider, **overrides) -> None:
    monkeypatch.setenv("IDENTITY_PROVIDERS", json.dumps([idp.config(**overrides)]))
    ColdStart.forget_all()  # a new deployment: containers start cold


def effect(response) -> str:
    return response["policyDocument"]["Statement"][0]["Effect"]


def test_the_authorizer_allows_a_known_users_provider_token(functions, context, connections, idp, monkeypatch):
    configure(monkeypatch, idp)
    UserModel("ext-alice", display_name="Alice").save()
    response = functions["authorizer"].handler(authorizer_event(query_token=idp.token("key-1")), context)
    assert effect(response) == "Allow"
    assert response["context"]["userId"] == "ext-alice"


def test_the_authorizer_denies_an_unknown_user_when_provisioning_is_off(
    functions, context, connections, idp, monkeypatch
):
    configure(monkeypatch, idp)
    response = functions["authorizer"].handler(authorizer_event(query_token=idp.token("key-1", "ext-nobody")), context)
    assert effect(response) == "Deny"  # API Gateway answers 403
    assert UserModel.count("ext-nobody") == 0


def test_the_authorizer_provisions_a_new_user_when_provisioning_is_on(
    functions, context, connections, idp, monkeypatch
):
    configure(monkeypatch, idp, justInTimeProvisioning=True)
    token = idp.token("key-1", "ext-new", email="new@example.test")
    response = functions["authorizer"].handler(authorizer_event(header=f"Bearer {token}"), context)
    assert effect(response) == "Allow"
    assert UserModel.get("ext-new").display_name == "new@example.test"


def test_a_warm_authorizer_fetches_the_key_set_once(functions, context, connections, idp, monkeypatch):
    configure(monkeypatch, idp, justInTimeProvisioning=True)
    for n in range(4):
        response = functions["authorizer"].handler(authorizer_event(query_token=idp.token("key-1", f"u{n}")), context)
        assert effect(response) == "Allow"
    assert idp.fetches == 1


@pytest.mark.parametrize(("known", "status"), [(True, 200), (False, 403)])
def test_the_http_api_takes_a_provider_token_and_refuses_an_unknown_user_with_403(
    connections, context, idp, monkeypatch, known, status
):
    configure(monkeypatch, idp, justInTimeProvisioning=True)
    if known:
        UserModel("ext-rest", display_name="Rest").save()
    chats = load_function("chats/chats_api.py")
    response = chats.handler(http_event("GET", "/api/chats", token=idp.token("key-1", "ext-rest")), context)
    assert response["statusCode"] == status, response["body"]
    if not known:
        assert "connect the WebSocket once" in json.loads(response["body"])["error"]["message"]
