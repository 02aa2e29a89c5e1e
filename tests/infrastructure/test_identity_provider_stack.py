"""The `tidings:identityProviders` context reaches exactly the functions that verify tokens, as
their `IDENTITY_PROVIDERS` variable; a bad entry fails the synth naming the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidings.chats.models import USERS
from tidings.kernel.declaration import Application, Authorizer, Function, Route
from tidings.sessions.declaration import TOKEN_VERIFICATION_SETTINGS
from tidings.sessions.models import CONNECTIONS
from tidings_infra import names
from tidings_infra.app import build_app

GATE = Function(
    "Gate",
    "sessions",
    "authorizer.handler",
    "authorizes $connect",
    tables=((USERS, "read_write"),),
    settings=TOKEN_VERIFICATION_SETTINGS,
)
CONNECT = Function("Hello", "sessions", "connect.handler", "stores connections", tables=((CONNECTIONS, "write"),))
VARIANT = Application(
    name="IdentityVariant",
    tables=(CONNECTIONS, USERS),
    functions=(GATE, CONNECT),
    authorizer=Authorizer(GATE),
    routes=(Route("$connect", CONNECT, two_way=False),),
)
PROVIDERS = [
    {"issuer": "https://login.example.com", "audience": "chat", "jwksUrl": "https://login.example.com/jwks"},
    {
        "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
        "audience": "client-id",
        "jwksUrl": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json",
        "userIdClaim": "username",
        "algorithms": ["RS256"],
        "justInTimeProvisioning": True,
    },
]


def synthesize(tmp_path, providers: Any) -> dict[str, dict[str, str]]:
    """Each function's environment variables, by the function's description."""
    app, stack = build_app(
        application=VARIANT,
        context={names.CONTEXT_MANAGE_APIGW_ACCOUNT: "false", names.CONTEXT_IDENTITY_PROVIDERS: providers},
        outdir=str(tmp_path),
    )
    template = app.synth().get_stack_artifact(stack.artifact_id).template
    return {
        resource["Properties"]["Description"]: resource["Properties"]["Environment"]["Variables"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and "Environment" in resource["Properties"]
    }


@pytest.mark.parametrize("form", ["list", "json string"])
def test_the_providers_reach_the_functions_that_verify_tokens_and_no_other(tmp_path, form):
    value = PROVIDERS if form == "list" else json.dumps(PROVIDERS)
    environments = synthesize(tmp_path, value)
    configured = json.loads(environments["authorizes $connect"]["IDENTITY_PROVIDERS"])
    assert [p["issuer"] for p in configured] == [p["issuer"] for p in PROVIDERS]
    assert configured[1]["userIdClaim"] == "username" and configured[1]["justInTimeProvisioning"] is True
    assert configured[0]["algorithms"] == ["RS256"] and configured[0]["userIdClaim"] == "sub"  # the defaults
    assert "IDENTITY_PROVIDERS" not in environments["stores connections"]


def test_a_bad_provider_entry_fails_the_synth_naming_the_context_key(tmp_path):
    with pytest.raises(ValueError, match=r"tidings:identityProviders.*jwksUrl"):
        synthesize(tmp_path, [{"issuer": "https://idp", "audience": "a", "jwksUrl": "http://idp.example.com/jwks"}])
