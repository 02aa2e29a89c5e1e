"""The $connect authorizer: 401 without a token, Deny for a bad one, Allow with context."""

import time

import pytest

from tests.support.events import authorizer_event
from tests.support.services import signing_key as secret_signing_key
from tidings.sessions.authorizing import Unauthorized, authorize
from tidings.sessions.session_service import TokenVerifier, UserStanding
from tidings.sessions.tokens import issue_token


class NoRevocations:
    def revoked_before(self, user_id: str) -> int | None:
        return None

    def standing(self, user_id: str) -> UserStanding | None:
        return UserStanding(revoked_before=None)

    def revoke(self, user_id: str, at: int) -> None:
        raise AssertionError("the authorizer revokes nothing")


# Tidings' own tokens, the key read as the authorizer reads it.
VERIFIER = TokenVerifier(secret_signing_key, NoRevocations())


def test_no_token_at_all_raises_unauthorized_which_api_gateway_answers_with_401(signing_key):
    with pytest.raises(Unauthorized) as raised:
        authorize(authorizer_event(), VERIFIER)
    assert str(raised.value) == "Unauthorized"


def test_a_bearer_header_token_is_allowed_with_the_user_in_the_context(signing_key):
    token = issue_token("alice", signing_key, ttl_seconds=120)
    response = authorize(authorizer_event(header=f"Bearer {token}"), VERIFIER)
    assert response["principalId"] == "alice"
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["context"]["userId"] == "alice"
    assert response["context"]["tokenExpiresAt"] == pytest.approx(time.time() + 120, abs=3)
    # $connect checks it against a revocation written after this check.
    assert response["context"]["tokenIssuedAt"] == pytest.approx(time.time(), abs=3)


def test_a_query_string_token_is_accepted_for_browsers(signing_key):
    token = issue_token("bob", signing_key)
    response = authorize(authorizer_event(query_token=token), VERIFIER)
    assert response["principalId"] == "bob"
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        # alg: none, with valid-looking claims
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OSwiaWF0IjoxLCJpc3MiOiJ0aWRpbmdzIiwiYXVkIjoidGlkaW5ncyJ9.",
    ],
)
def test_a_bad_token_is_denied(signing_key, token):
    response = authorize(authorizer_event(query_token=token), VERIFIER)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in response or not response.get("context")


def test_an_expired_token_is_denied(signing_key):
    token = issue_token("alice", signing_key, ttl_seconds=10, now=time.time() - 60)
    response = authorize(authorizer_event(header=f"Bearer {token}"), VERIFIER)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_a_token_signed_with_another_key_is_denied(signing_key):
    token = issue_token("alice", "an-attackers-key-that-is-long-enough-for-hs256!")
    response = authorize(authorizer_event(header=f"Bearer {token}"), VERIFIER)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"


@pytest.mark.parametrize("where", ["header", "query"])
def test_a_token_over_8_kib_is_denied_and_the_log_says_why_without_quoting_it(signing_key, caplog, where):
    token = issue_token("alice", signing_key) + "A" * 9000  # a real token's start, far too long
    event = authorizer_event(header=f"Bearer {token}") if where == "header" else authorizer_event(query_token=token)
    with caplog.at_level("INFO"):
        response = authorize(event, VERIFIER)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    [refused] = [record for record in caplog.records if record.getMessage() == "token refused"]
    assert refused.reason == "the token is larger than 8192 bytes"
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert "eyJ" not in logged  # no part of any JWT (every one starts so)
