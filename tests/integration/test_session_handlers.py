"""Session handlers driven by AWS-shaped events: $connect (limit, timer), hello, auth.renew,
chat.focus, the token timer consumer (SQS, partial batch failures) and the authorizer."""

import json
import os
import time

import boto3
import pytest

from tests.support.events import authorizer_event, client_frame, connect_event, message_event, sqs_event
from tests.support.seed import make_chat
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.models import ConnectionModel
from tidings.sessions.records import token_timer_body
from tidings.sessions.token_expiry import TokenTimer
from tidings.sessions.token_store import DynamoRevocations
from tidings.sessions.tokens import issue_token


def frames(connections, connection_id):
    return [json.loads(data) for data in connections.sent.get(connection_id, [])]


def session_frame(functions, context, frame, user="alice", connection="alice-1"):
    event = message_event(connection, user, frame, frame["type"])
    return functions["session"].handler(event, context)


def reply(response):
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def queued_timers():
    """The timers waiting in the TokenTimers queue, with their delays (moto keeps them)."""
    sqs = boto3.client("sqs")
    url = os.environ["TOKEN_TIMERS_QUEUE_URL"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesDelayed"])


# --- $connect -----------------------------------------------------------------------------------


def test_connect_stores_the_connection_and_arms_its_token_timer(functions, context, connections):
    assert functions["connect"].handler(connect_event("alice-1", "alice", expires_at=2_000_000_000), context) == {
        "statusCode": 200
    }
    assert ConnectionModel.get("alice-1").token_expires_at == 2_000_000_000
    assert queued_timers() == 1
    assert connections.sent == {}


def test_a_sixth_connection_closes_the_oldest_with_connection_limit(functions, context, connections):
    for n in range(1, 7):
        functions["connect"].handler(connect_event(f"alice-{n}", "alice"), context)
        time.sleep(0.002)  # distinct connectedAt (epoch milliseconds), as real connects have
    functions["connect"].handler(connect_event("bob-1", "bob"), context)

    [error] = frames(connections, "alice-1")
    assert (error["type"], error["payload"]["code"]) == ("error", "CONNECTION_LIMIT")
    assert connections.closed == ["alice-1"]
    assert DynamoConnectionStore().for_user("alice") == [f"alice-{n}" for n in range(2, 7)]
    assert DynamoConnectionStore().for_user("bob") == ["bob-1"]


def test_a_connect_whose_session_was_revoked_after_the_authorizer_ran_is_refused_with_403(
    functions, context, connections, signing_key
):
    now = int(time.time())
    token = issue_token("alice", signing_key, now=now - 10)
    allowed = functions["authorizer"].handler(authorizer_event(query_token=token), context)
    assert allowed["context"]["tokenIssuedAt"] == now - 10  # handed to $connect
    DynamoRevocations().revoke("alice", now)  # POST /api/auth/revoke, before $connect stores it

    event = connect_event("alice-1", "alice", issued_at=allowed["context"]["tokenIssuedAt"])
    assert functions["connect"].handler(event, context) == {"statusCode": 403}
    assert DynamoConnectionStore().get("alice-1") is None
    assert DynamoConnectionStore().for_user("alice") == []
    fresh = connect_event("alice-2", "alice", issued_at=now + 1)
    assert functions["connect"].handler(fresh, context) == {"statusCode": 200}


def test_an_evicted_connection_still_in_its_handshake_is_closed_by_a_queued_close_once_it_opens(
    functions, context, connections
):
    """API Gateway answers 410 until a connection's $connect has returned: the eviction keeps
    its record and queues the close on TokenTimers, whose consumer delivers it."""
    for n in range(1, 6):
        functions["connect"].handler(connect_event(f"alice-{n}", "alice"), context)
        time.sleep(0.002)
    connections.gone.add("alice-1")  # still inside its own $connect
    functions["connect"].handler(connect_event("alice-6", "alice"), context)
    assert frames(connections, "alice-1") == [] and connections.closed == []
    assert DynamoConnectionStore().get("alice-1") is not None
    assert DynamoConnectionStore().for_user("alice") == [f"alice-{n}" for n in range(2, 7)]

    sqs = boto3.client("sqs")
    url = os.environ["TOKEN_TIMERS_QUEUE_URL"]
    time.sleep(1.1)  # the close waits a second in the queue, as the handshake completes
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in messages]
    [close] = [body for body in bodies if json.loads(body)["kind"] == "close"]
    connections.gone.discard("alice-1")  # the handshake completed: it is open now
    assert functions["session_timers"].handler(sqs_event([close]), context) == {"batchItemFailures": []}
    [error] = frames(connections, "alice-1")
    assert (error["type"], error["payload"]["code"]) == ("error", "CONNECTION_LIMIT")
    assert connections.closed == ["alice-1"]
    assert DynamoConnectionStore().get("alice-1") is None


# --- hello ------------------------------------------------------------------------------------


@pytest.fixture
def alice(connections):
    DynamoConnectionStore().add("alice-1", "alice", int(time.time() * 1000), int(time.time()) + 60)
    return "alice-1"


def test_hello_gets_welcome_and_the_version_is_stored(functions, context, alice, connections):
    frame = client_frame("hello", {"protocolVersion": 1, "client": "pytest/1.0"})
    welcome = reply(session_frame(functions, context, frame))
    assert welcome["type"] == "welcome"
    payload = welcome["payload"]
    assert payload["refId"] == frame["id"]
    assert (payload["connectionId"], payload["userId"], payload["protocolVersion"]) == ("alice-1", "alice", 1)
    assert payload["supportedVersions"] == [1, 2]
    assert payload["heartbeatIntervalMs"] == 30000
    assert payload["serverTime"].endswith("Z")
    assert ConnectionModel.get("alice-1").protocol_version == 1
    assert connections.sent == {}


def test_hello_with_an_unsupported_version_posts_upgrade_required_closes_and_replies_nothing(
    functions, context, alice, connections
):
    frame = client_frame("hello", {"protocolVersion": 99})
    response = session_frame(functions, context, frame)
    assert response == {"statusCode": 200}, "no body: the reply went through @connections before the close"
    [error] = frames(connections, "alice-1")
    assert error["type"] == "error"
    assert error["payload"]["code"] == "UPGRADE_REQUIRED"
    assert error["payload"]["refId"] == frame["id"]
    assert error["payload"]["upgradeUrl"].startswith("https://")
    assert connections.closed == ["alice-1"]


@pytest.mark.parametrize("payload", [{}, {"protocolVersion": "1"}, {"protocolVersion": True}, {"protocolVersion": 1.5}])
def test_hello_without_an_integer_version_is_a_bad_frame(functions, context, alice, connections, payload):
    frame = client_frame("hello", payload)
    ack = reply(session_frame(functions, context, frame))
    assert (ack["type"], ack["payload"]["error"]["code"]) == ("ack", "BAD_FRAME")
    assert connections.closed == []


# --- auth.renew -------------------------------------------------------------------------------


def test_auth_renew_extends_the_expiry_and_arms_a_new_timer(functions, context, alice, connections, signing_key):
    before = queued_timers()
    token = issue_token("alice", signing_key, ttl_seconds=900)
    frame = client_frame("auth.renew", {"token": token})
    ack = reply(session_frame(functions, context, frame))
    assert ack["payload"]["status"] == "ok"
    assert ack["payload"]["refId"] == frame["id"]
    expires_at = ConnectionModel.get("alice-1").token_expires_at
    assert expires_at == pytest.approx(time.time() + 900, abs=5)
    assert ack["payload"]["expiresAt"].endswith("Z")
    assert queued_timers() == before + 1


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda key: "garbage", "UNAUTHORIZED"),
        (lambda key: issue_token("alice", key, ttl_seconds=-5), "UNAUTHORIZED"),
        (lambda key: issue_token("bob", key, ttl_seconds=900), "FORBIDDEN"),
    ],
    ids=["invalid", "expired", "another-user"],
)
def test_auth_renew_refusals(functions, context, alice, connections, signing_key, make_token, code):
    frame = client_frame("auth.renew", {"token": make_token(signing_key)})
    ack = reply(session_frame(functions, context, frame))
    assert ack["payload"]["status"] == "error"
    assert ack["payload"]["error"]["code"] == code
    assert ConnectionModel.get("alice-1").token_expires_at == pytest.approx(time.time() + 60, abs=5)


# --- chat.focus -------------------------------------------------------------------------------


def test_chat_focus_stores_the_chat_and_null_clears_it(functions, context, alice, connections):
    make_chat("project-x", ["alice", "bob"])
    ack = reply(session_frame(functions, context, client_frame("chat.focus", {"chatId": "project-x"})))
    assert (ack["payload"]["status"], ack["payload"]["chatId"]) == ("ok", "project-x")
    assert ConnectionModel.get("alice-1").focus_chat_id == "project-x"
    ack = reply(session_frame(functions, context, client_frame("chat.focus", {"chatId": None})))
    assert ack["payload"]["status"] == "ok"
    assert ConnectionModel.get("alice-1").focus_chat_id is None


def test_chat_focus_on_a_chat_of_others_is_forbidden(functions, context, alice, connections):
    make_chat("secret", ["bob"])
    ack = reply(session_frame(functions, context, client_frame("chat.focus", {"chatId": "secret"})))
    assert ack["payload"]["error"]["code"] == "FORBIDDEN"
    assert ConnectionModel.get("alice-1").focus_chat_id is None


def test_chat_focus_needs_the_chat_id_key(functions, context, alice, connections):
    ack = reply(session_frame(functions, context, client_frame("chat.focus", {})))
    assert ack["payload"]["error"]["code"] == "BAD_FRAME"


# --- the token timer consumer -----------------------------------------------------------------


def test_timers_refresh_and_expire_and_a_failing_timer_fails_alone(functions, context, connections):
    now = int(time.time())
    store = DynamoConnectionStore()
    store.add("due", "alice", (now - 60) * 1000, now + 30)
    store.add("expired", "alice", (now - 60) * 1000, now - 1)
    store.add("broken", "bob", (now - 60) * 1000, now + 30)
    store.add("later", "carol", (now - 60) * 1000, now + 3600)
    connections.broken.add("broken")
    event = sqs_event(
        [
            token_timer_body(TokenTimer("refresh", "due", now + 30, now - 40)),
            "not a timer",
            token_timer_body(TokenTimer("expire", "expired", now - 1, now - 1)),
            token_timer_body(TokenTimer("refresh", "broken", now + 30, now - 40)),
            token_timer_body(TokenTimer("refresh", "later", now + 3600, now + 3530)),
            token_timer_body(TokenTimer("refresh", "gone", now + 30, now - 40)),
        ]
    )
    before = queued_timers()

    response = functions["session_timers"].handler(event, context)

    ids = [record["messageId"] for record in event["Records"]]
    assert response == {"batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[3]}]}
    [refresh] = frames(connections, "due")
    assert refresh["type"] == "token.refresh"
    assert refresh["payload"]["expiresAt"].endswith("Z")
    [error] = frames(connections, "expired")
    assert (error["type"], error["payload"]["code"]) == ("error", "UNAUTHORIZED")
    assert connections.closed == ["expired"]
    assert store.get("expired") is None
    assert frames(connections, "later") == []
    # The refresh chained its expire timer; the far-off one re-enqueued itself.
    assert queued_timers() == before + 2


# --- the authorizer ---------------------------------------------------------------------------


def test_the_authorizer_denies_a_token_issued_before_the_users_revocation(functions, context, signing_key):
    now = int(time.time())
    token = issue_token("alice", signing_key, now=now - 10)
    allowed = functions["authorizer"].handler(authorizer_event(query_token=token), context)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"

    DynamoRevocations().revoke("alice", now - 5)
    denied = functions["authorizer"].handler(authorizer_event(query_token=token), context)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"

    fresh = functions["authorizer"].handler(authorizer_event(query_token=issue_token("alice", signing_key)), context)
    assert fresh["policyDocument"]["Statement"][0]["Effect"] == "Allow"
