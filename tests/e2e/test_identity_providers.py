"""An OpenID Connect provider's tokens end to end: `tidings dev --identity-providers FILE`
pointing at a JWKS endpoint this test serves on 127.0.0.1, with keys it generates; the SDK
connects with the provider's tokens over a real WebSocket and sends a message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.support.jwks import LocalIdentityProvider
from tidings_client import HandshakeError

pytestmark = pytest.mark.e2e

STRICT_ISSUER = "https://strict-idp.example.test"  # just-in-time provisioning off


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[LocalIdentityProvider, LocalIdentityProvider]]:
    with LocalIdentityProvider() as open_idp, LocalIdentityProvider(issuer=STRICT_ISSUER) as strict_idp:
        open_idp.add_key("open-1")
        strict_idp.add_key("strict-1", "ES256")
        yield open_idp, strict_idp


@pytest.fixture(scope="module")
def idp_server(providers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    open_idp, strict_idp = providers
    config: Path = tmp_path_factory.mktemp("idp") / "identity-providers.json"
    config.write_text(
        json.dumps(
            [
                open_idp.config(justInTimeProvisioning=True),
                strict_idp.config(algorithms=["ES256"], userIdClaim="preferred_username"),
            ]
        )
    )
    process, server, _ = start_server("--identity-providers", str(config), log_name="tidings-dev-idp")
    yield server
    stop_server(process)


async def test_a_providers_token_connects_and_sends_a_message(idp_server, providers):
    """`alice` of the demo data, signed in by the platform's provider (no JIT needed: she exists)."""
    open_idp, _ = providers
    alice = await idp_server.connect(token=open_idp.token("open-1", "alice"))
    bob = await idp_server.connect("bob", raw=True)  # Tidings' own token, beside the provider's
    try:
        assert alice.user_id == "alice"
        message = await alice.send("dm-alice-bob", "signed in by the platform's provider")
        assert message["senderId"] == "alice" and message["seq"] >= 1
        delivered = await bob.wait_for(
            lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message["messageId"]
        )
        assert delivered["payload"]["message"]["content"] == "signed in by the platform's provider"
    finally:
        await alice.close()
        await bob.close()


async def test_a_new_user_is_provisioned_on_first_connect_and_then_known_to_the_http_api(idp_server, providers):
    open_idp, _ = providers
    token = open_idp.token("open-1", "ext-newcomer", name="New Comer")
    rest = idp_server.rest(token=token)
    before = await rest.fetch("GET", "/api/chats", None)
    assert before.status == 403, before.text  # unknown until its first $connect
    client = await idp_server.connect(token=token)
    try:
        assert client.user_id == "ext-newcomer"
    finally:
        await client.close()
    after = await rest.fetch("GET", "/api/chats", None)
    assert after.status == 200, after.text
    assert after.json() == []  # provisioned, in no chat yet


async def test_an_unknown_user_of_a_provider_without_provisioning_is_refused_with_403(idp_server, providers):
    _, strict_idp = providers
    token = strict_idp.token("strict-1", "ignored-sub", preferred_username="ext-stranger")
    with pytest.raises(HandshakeError) as refused:
        await idp_server.connect(token=token, raw=True)
    assert refused.value.status == 403
    known = strict_idp.token("strict-1", "ignored-sub", preferred_username="carol")  # carol is in the demo data
    client = await idp_server.connect(token=known, raw=True)
    await client.close()


@pytest.mark.parametrize("wrong", ["audience", "algorithm"])
async def test_a_wrong_audience_or_algorithm_is_refused_with_403(idp_server, providers, wrong):
    open_idp, strict_idp = providers
    if wrong == "audience":
        token = open_idp.token("open-1", "alice", aud="another-app")
    else:  # an RS256 token for the issuer pinned to ES256, from a key of the other provider
        token = open_idp.token("open-1", "alice", iss=STRICT_ISSUER, aud=strict_idp.audience)
    with pytest.raises(HandshakeError) as refused:
        await idp_server.connect(token=token, raw=True)
    assert refused.value.status == 403
