"""POST /api/auth/refresh and POST /api/auth/revoke, driven by HTTP API (payload 2.0) events."""

import json
import time

import pytest

from tests.support.events import http_event
from tidings.sessions.compose import issue_session
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.tokens import issue_token, verify_token


def call(functions, context, method, path, **kwargs):
    response = functions["auth_api"].handler(http_event(method, path, **kwargs), context)
    return response["statusCode"], json.loads(response["body"]), response


@pytest.fixture
def session(connections, signing_key):
    return issue_session("alice")


def test_refresh_returns_a_new_access_token_and_a_rotated_refresh_token(functions, context, session, signing_key):
    status, body, response = call(
        functions, context, "POST", "/api/auth/refresh", body={"refreshToken": session["refreshToken"]}
    )
    assert status == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert set(body) == {"token", "refreshToken", "expiresAt"}
    assert body["refreshToken"] != session["refreshToken"]
    identity = verify_token(body["token"], signing_key)
    assert identity.user_id == "alice"
    assert identity.expires_at == pytest.approx(time.time() + 900, abs=5)
    assert body["expiresAt"].endswith("Z")

    # The used one stops working (a reuse: 401), and so does its successor (the family is gone).
    status, body_again, _ = call(
        functions, context, "POST", "/api/auth/refresh", body={"refreshToken": session["refreshToken"]}
    )
    assert status == 401
    assert body_again["error"]["code"] == "UNAUTHORIZED"
    status, _, _ = call(functions, context, "POST", "/api/auth/refresh", body={"refreshToken": body["refreshToken"]})
    assert status == 401


def test_each_refresh_token_works_once_along_the_chain(functions, context, session):
    token = session["refreshToken"]
    for _ in range(3):
        status, body, _ = call(functions, context, "POST", "/api/auth/refresh", body={"refreshToken": token})
        assert status == 200
        token = body["refreshToken"]


@pytest.mark.parametrize(
    "body",
    ['{"refreshToken": ', "[]", {}, {"refreshToken": ""}, {"refreshToken": 42}],
    ids=["not-json", "not-an-object", "missing", "empty", "not-a-string"],
)
def test_a_malformed_refresh_request_is_400(functions, context, session, body):
    status, answer, _ = call(functions, context, "POST", "/api/auth/refresh", body=body)
    assert status == 400
    assert answer["error"]["code"] == "BAD_FRAME"
    assert answer["error"]["message"]


def test_an_unknown_refresh_token_is_401(functions, context, session):
    status, answer, _ = call(functions, context, "POST", "/api/auth/refresh", body={"refreshToken": "made-up"})
    assert (status, answer["error"]["code"]) == (401, "UNAUTHORIZED")


def test_revoke_needs_a_valid_bearer_token(functions, context, session, signing_key):
    assert call(functions, context, "POST", "/api/auth/revoke")[0] == 401
    assert call(functions, context, "POST", "/api/auth/revoke", token="garbage")[0] == 401
    expired = issue_token("alice", signing_key, ttl_seconds=-5)
    assert call(functions, context, "POST", "/api/auth/revoke", token=expired)[0] == 401


def test_revoke_closes_every_connection_and_refuses_the_old_credentials(
    functions, context, connections, session, signing_key
):
    store = DynamoConnectionStore()
    for n in (1, 2, 3):
        store.add(f"alice-{n}", "alice", n, 2_000_000_000)
    store.add("bob-1", "bob", 4, 2_000_000_000)
    old_token = issue_token("alice", signing_key, now=time.time() - 10)

    status, body, _ = call(functions, context, "POST", "/api/auth/revoke", token=old_token)

    assert (status, body) == (200, {"revoked": True})
    for n in (1, 2, 3):
        [frame] = [json.loads(data) for data in connections.sent[f"alice-{n}"]]
        assert (frame["type"], frame["payload"]["code"]) == ("error", "UNAUTHORIZED")
    assert sorted(connections.closed) == ["alice-1", "alice-2", "alice-3"]
    assert store.for_user("alice") == []
    assert store.for_user("bob") == ["bob-1"]
    # The token it was called with, and the refresh token, no longer work.
    assert call(functions, context, "POST", "/api/auth/revoke", token=old_token)[0] == 401
    status, _, _ = call(functions, context, "POST", "/api/auth/refresh", body={"refreshToken": session["refreshToken"]})
    assert status == 401


def test_unknown_auth_paths_are_404(functions, context, session):
    status, body, _ = call(functions, context, "POST", "/api/auth/nope")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
