import base64
import json
import time

import jwt
import pytest

from tidings.sessions.tokens import InvalidToken, issue_token, verify_token

KEY = "unit-test-signing-key-that-is-long-enough-for-hs256-and-for-hs512-too!"


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_fresh_token_names_its_user_and_expiry():
    token = issue_token("alice", KEY, ttl_seconds=60)
    identity = verify_token(token, KEY)
    assert identity.user_id == "alice"
    assert identity.expires_at - time.time() == pytest.approx(60, abs=2)


def test_an_expired_token_is_refused():
    token = issue_token("alice", KEY, ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(token, KEY)


def test_a_token_signed_with_another_key_is_refused():
    token = issue_token("alice", "another-signing-key-that-is-also-long-enough")
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verify_token(token, KEY)


def test_alg_none_is_refused():
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 60, "iss": "tidings", "aud": "tidings"}
    with pytest.raises(InvalidToken):
        verify_token(_unsigned(claims), KEY)


def test_an_algorithm_outside_the_pinned_list_is_refused():
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 60, "iss": "tidings", "aud": "tidings"}
    token = jwt.encode(claims, KEY, algorithm="HS512")
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify_token(token, KEY)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..."])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(InvalidToken):
        verify_token(token, KEY)


def test_a_token_without_subject_is_refused():
    now = int(time.time())
    token = jwt.encode({"iat": now, "exp": now + 60, "iss": "tidings", "aud": "tidings"}, KEY, algorithm="HS256")
    with pytest.raises(InvalidToken, match="sub"):
        verify_token(token, KEY)


@pytest.mark.parametrize("claim", ["sub", "iat", "exp", "iss", "aud"])
def test_every_claim_is_required_and_the_refusal_names_them_all(claim):
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 60, "iss": "tidings", "aud": "tidings"}
    del claims[claim]
    with pytest.raises(InvalidToken) as refused:
        verify_token(jwt.encode(claims, KEY, algorithm="HS256"), KEY)
    assert str(refused.value) == "the token lacks a required claim (sub, iat, exp, iss, aud)"


def test_a_token_for_another_audience_is_refused():
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 60, "iss": "tidings", "aud": "someone-else"}
    with pytest.raises(InvalidToken, match=r"(?i)audience"):
        verify_token(jwt.encode(claims, KEY, algorithm="HS256"), KEY)


def test_a_token_over_8_kib_is_refused_before_it_is_parsed():
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 60, "iss": "tidings", "aud": "tidings", "pad": "x" * 9000}
    token = jwt.encode(claims, KEY, algorithm="HS256")  # validly signed, only too large
    assert len(token) > 8192
    with pytest.raises(InvalidToken, match="larger than 8192 bytes") as refused:
        verify_token(token, KEY)
    assert refused.value.__cause__ is None  # PyJWT never saw it


def test_a_refusal_never_quotes_the_token():
    """The reason is logged (the authorizer's `token refused`) and sent to clients: PyJWT's own
    messages may quote parts of the token (here: "Unsupported critical extension: ..."), ours never do."""
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 60, "iss": "tidings", "aud": "tidings"}
    token = jwt.encode(claims, KEY, algorithm="HS256", headers={"crit": ["SECRET-MARKER"]})
    with pytest.raises(InvalidToken) as refused:
        verify_token(token, KEY)
    assert "SECRET-MARKER" not in str(refused.value)
    assert token[:20] not in str(refused.value)
