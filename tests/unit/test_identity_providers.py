"""Identity providers' tokens: verified against a JWKS endpoint on 127.0.0.1 with keys the test
generates; key rotation, an outage, wrong issuer or audience, `none` and HS/RS confusion, and
just-in-time provisioning on and off."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.jwks import LocalIdentityProvider
from tidings.chats.models import UserModel
from tidings.sessions.identity_providers import ProviderTokens
from tidings.sessions.provider_settings import IdentityProvider, IdentityProviderSettings, parse_providers
from tidings.sessions.session_service import TokenVerifier
from tidings.sessions.token_store import DynamoProvisioning, DynamoRevocations
from tidings.sessions.tokens import InvalidToken, UnknownUser, issue_token

TIDINGS_KEY = "unit-test-signing-key-that-is-long-enough-for-hs256"


@pytest.fixture
def idp():
    with LocalIdentityProvider() as provider:
        provider.add_key("key-1")
        yield provider


def provider_of(idp: LocalIdentityProvider, **overrides) -> IdentityProvider:
    return IdentityProvider.model_validate(idp.config(**overrides))


def tokens_of(idp: LocalIdentityProvider, *, cooldown: float = 0, max_age: float = 300, **overrides) -> ProviderTokens:
    return ProviderTokens([provider_of(idp, **overrides)], cooldown_seconds=cooldown, max_age_seconds=max_age)


def verify(tokens: ProviderTokens, token: str):
    provider = tokens.provider_of(token)
    assert provider is not None, "the token should name a configured issuer"
    return tokens.verify(token, provider)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed_hs256(claims: dict, secret: bytes) -> str:
    """An HS256 token made without PyJWT (which refuses a public key as an HMAC secret)."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


# --- verification ---------------------------------------------------------------------------


def test_an_rs256_token_of_the_provider_verifies_with_the_user_from_sub(idp):
    verified = verify(tokens_of(idp), idp.token("key-1", "ext-alice", name="Alice Liddell"))
    assert verified.identity.user_id == "ext-alice"
    assert verified.display_name == "Alice Liddell"
    assert verified.identity.expires_at == pytest.approx(time.time() + 600, abs=5)


def test_an_es256_token_verifies_where_the_provider_allows_es256(idp):
    idp.add_key("ec-1", "ES256")
    verified = verify(tokens_of(idp, algorithms=["ES256"]), idp.token("ec-1", "ext-bob", email="bob@example.test"))
    assert (verified.identity.user_id, verified.display_name) == ("ext-bob", "bob@example.test")


def test_the_user_id_comes_from_the_configured_claim(idp):
    token = idp.token("key-1", "opaque-subject", tidings_user="u-42")
    assert verify(tokens_of(idp, userIdClaim="tidings_user"), token).identity.user_id == "u-42"
    with pytest.raises(InvalidToken, match="lacks a required claim"):
        verify(tokens_of(idp, userIdClaim="tidings_user"), idp.token("key-1", "opaque-subject"))


def test_a_token_for_another_audience_is_refused(idp):
    with pytest.raises(InvalidToken, match="another audience"):
        verify(tokens_of(idp), idp.token("key-1", aud="some-other-app"))


def test_a_token_from_another_issuer_is_not_the_providers_and_fails_as_a_tidings_token(idp, aws):
    token = idp.token("key-1", iss="https://evil.example.test")
    tokens = tokens_of(idp)
    assert tokens.provider_of(token) is None
    verifier = TokenVerifier(lambda: TIDINGS_KEY, DynamoRevocations(), tokens)
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_alg_none_claiming_the_providers_issuer_is_refused(idp):
    claims = idp.claims()
    token = f"{b64(json.dumps({'alg': 'none', 'kid': 'key-1'}).encode())}.{b64(json.dumps(claims).encode())}."
    fetches = idp.fetches
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify(tokens_of(idp), token)
    assert idp.fetches == fetches  # refused before any key is looked up


@pytest.mark.parametrize("secret", ["pem", "jwk"])
def test_hs256_signed_with_the_providers_public_key_is_refused(idp, secret):
    """Algorithm confusion: the public key, which anyone can fetch, used as an HMAC secret."""
    public = idp.private_keys["key-1"].public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key = pem if secret == "pem" else json.dumps(idp.public_jwk("key-1")).encode()
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify(tokens_of(idp), hand_signed_hs256(idp.claims(), key))


def test_an_algorithm_the_provider_does_not_allow_is_refused_even_with_a_published_key(idp):
    idp.add_key("ec-1", "ES256")
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify(tokens_of(idp), idp.token("ec-1"))  # the provider is pinned to RS256


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(idp):
    idp.add_key("forged", publish=False)
    with pytest.raises(InvalidToken, match="not one of the identity provider's"):
        verify(tokens_of(idp), idp.token("forged"))


def test_a_token_that_lives_longer_than_a_day_is_refused(idp):
    now = int(time.time())
    with pytest.raises(InvalidToken, match="lives longer"):
        verify(tokens_of(idp), idp.token("key-1", iat=now, exp=now + 3 * 86400))


# --- the key set: caching, rotation, outage ------------------------------------------------------


def test_the_key_set_is_fetched_once_for_many_tokens(idp):
    tokens = tokens_of(idp)
    for n in range(5):
        verify(tokens, idp.token("key-1", f"user-{n}"))
    assert idp.fetches == 1


def test_a_rotated_in_key_is_fetched_on_its_first_unknown_kid(idp):
    tokens = tokens_of(idp)
    verify(tokens, idp.token("key-1"))
    idp.add_key("key-2")  # the provider rotates: its new tokens name a kid the cache lacks
    assert verify(tokens, idp.token("key-2", "ext-carol")).identity.user_id == "ext-carol"
    assert idp.fetches == 2


def test_unknown_kids_refetch_at_most_once_per_cooldown(idp):
    tokens = tokens_of(idp, cooldown=60)
    verify(tokens, idp.token("key-1"))
    idp.add_key("made-up", publish=False)
    for _ in range(3):
        with pytest.raises(InvalidToken):
            verify(tokens, idp.token("made-up"))
    assert idp.fetches == 1  # within the cooldown after the first fetch, nothing refetches


def test_with_the_jwks_down_a_cached_key_still_verifies_and_an_unknown_one_is_refused(idp):
    tokens = tokens_of(idp, max_age=0.05)
    verify(tokens, idp.token("key-1"))
    idp.down = True
    idp.add_key("key-2")
    time.sleep(0.1)  # the cached set is now stale: every lookup tries the endpoint first
    assert verify(tokens, idp.token("key-1", "ext-dave")).identity.user_id == "ext-dave"
    with pytest.raises(InvalidToken, match="cannot be fetched"):
        verify(tokens, idp.token("key-2"))


def test_with_the_jwks_down_from_the_start_every_token_is_refused(idp):
    idp.down = True
    with pytest.raises(InvalidToken, match="cannot be fetched"):
        verify(tokens_of(idp), idp.token("key-1"))


def test_a_withdrawn_key_stops_verifying_once_the_set_is_refetched(idp):
    tokens = tokens_of(idp, max_age=0.05)
    verify(tokens, idp.token("key-1"))
    idp.add_key("key-2")
    idp.withdraw("key-1")
    time.sleep(0.1)
    with pytest.raises(InvalidToken, match="not one of the identity provider's"):
        verify(tokens, idp.token("key-1"))


# --- with Tidings' own tokens, users and revocation ------------------------------------------------


def test_tidings_own_tokens_still_verify_beside_a_provider(idp, aws):
    verifier = TokenVerifier(lambda: TIDINGS_KEY, DynamoRevocations(), tokens_of(idp))
    assert verifier.verify(issue_token("alice", TIDINGS_KEY)).user_id == "alice"


def test_an_unknown_user_is_refused_when_just_in_time_provisioning_is_off(idp, aws):
    verifier = TokenVerifier(lambda: TIDINGS_KEY, DynamoRevocations(), tokens_of(idp), DynamoProvisioning())
    with pytest.raises(UnknownUser):
        verifier.verify(idp.token("key-1", "ext-erin"))
    assert UserModel.count("ext-erin") == 0
    UserModel("ext-erin", display_name="Erin").save()  # provisioned by the platform
    assert verifier.verify(idp.token("key-1", "ext-erin")).user_id == "ext-erin"


def test_a_first_token_creates_the_user_when_just_in_time_provisioning_is_on(idp, aws):
    tokens = tokens_of(idp, justInTimeProvisioning=True)
    verifier = TokenVerifier(lambda: TIDINGS_KEY, DynamoRevocations(), tokens, DynamoProvisioning())
    assert verifier.verify(idp.token("key-1", "ext-frank", name="Frank")).user_id == "ext-frank"
    assert UserModel.get("ext-frank").display_name == "Frank"
    verifier.verify(idp.token("key-1", "ext-frank", name="Renamed"))  # an existing user is left alone
    assert UserModel.get("ext-frank").display_name == "Frank"


def test_where_nothing_may_provision_an_unknown_user_is_refused_even_with_jit_on(idp, aws):
    tokens = tokens_of(idp, justInTimeProvisioning=True)
    with pytest.raises(UnknownUser, match="connect the WebSocket once"):
        TokenVerifier(lambda: TIDINGS_KEY, DynamoRevocations(), tokens).verify(idp.token("key-1", "ext-gina"))


def test_revocation_refuses_a_providers_token_issued_before_it(idp, aws):
    verifier = TokenVerifier(lambda: TIDINGS_KEY, DynamoRevocations(), tokens_of(idp), DynamoProvisioning())
    UserModel("ext-hal", display_name="Hal").save()
    token = idp.token("key-1", "ext-hal", iat=int(time.time()) - 10)
    DynamoRevocations().revoke("ext-hal", int(time.time()) - 5)
    with pytest.raises(InvalidToken, match="revoked"):
        verifier.verify(token)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"issuer": "tidings", "audience": "a", "jwksUrl": "https://idp/jwks"}, "Tidings' own"),
        ({"issuer": "https://idp", "audience": "a", "jwksUrl": "http://idp.example.com/jwks"}, "https"),
        ({"issuer": "https://idp", "audience": "a", "jwksUrl": "https://idp/jwks", "algorithms": ["HS256"]}, "RS256"),
        ({"issuer": "https://idp", "audience": "a", "jwksUrl": "https://idp/jwks", "algorithms": []}, "at least 1"),
        ({"issuer": "https://idp", "audience": "a", "jwksUrl": "https://idp/jwks", "secret": "x"}, "Extra inputs"),
    ],
)
def test_a_bad_provider_entry_is_refused_naming_the_problem(entry, problem):
    with pytest.raises(ValueError, match=problem):
        parse_providers([entry])


def test_an_issuer_configured_twice_is_refused():
    entry = {"issuer": "https://idp", "audience": "a", "jwksUrl": "https://idp/jwks"}
    with pytest.raises(ValueError, match="more than once"):
        parse_providers([entry, {**entry, "audience": "b"}])


def test_several_issuers_are_read_from_one_variable():
    value = json.dumps(
        [
            {"issuer": "https://one", "audience": "a", "jwksUrl": "https://one/jwks"},
            {"issuer": "https://two", "audience": "b", "jwksUrl": "https://two/jwks", "algorithms": ["ES256"]},
        ]
    )
    settings = IdentityProviderSettings.from_environ({"IDENTITY_PROVIDERS": value})
    assert [(p.issuer, p.algorithms, p.user_id_claim) for p in settings.providers] == [
        ("https://one", ("RS256",), "sub"),
        ("https://two", ("ES256",), "sub"),
    ]
    assert IdentityProviderSettings.from_environ({}).providers == []


def test_provider_tokens_accept_only_a_configured_issuer(idp):
    other = jwt.encode({"iss": "https://idp.example.test/"}, "k" * 32, algorithm="HS256")  # a trailing slash
    assert tokens_of(idp).provider_of(other) is None
