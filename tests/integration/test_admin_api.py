"""The administration API driven by HTTP API (payload 2.0) events of IAM-authorized routes, on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.events import client_frame, http_event, message_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.admin.wire import SessionResponse, UserExport, UserResponse
from tidings.chats.models import UserModel
from tidings.notifications.models import PushSubscriptionModel
from tidings.sessions.tokens import verify_token

IAM = {
    "accessKey": "AKIAPLATFORMBACKEND0",
    "accountId": "123456789012",
    "callerId": "AROAPLATFORM:backend",
    "cognitoIdentity": None,
    "principalOrgId": None,
    "userArn": "arn:aws:sts::123456789012:assumed-role/platform-backend/backend",
    "userId": "AROAPLATFORM:backend",
}


@pytest.fixture(scope="module")
def api():
    return load_function("admin/admin_api.py")


@pytest.fixture(scope="module")
def messaging():
    return {
        "send": load_function("messaging/message_send.py"),
        "events": load_function("messaging/chat_event_frames.py"),
    }


def call(api, context, method: str, route: str, path: str, *, body: Any = None, **parameters: str):
    event = http_event(method, path, route_key=f"{method} {route}", path_parameters=parameters or None, body=body)
    event["requestContext"]["authorizer"] = {"iam": IAM}
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def put_user(api, context, user_id: str, body: Any):
    return call(api, context, "PUT", "/admin/users/{userId}", f"/admin/users/{user_id}", body=body, userId=user_id)


def get_user(api, context, user_id: str):
    return call(api, context, "GET", "/admin/users/{userId}", f"/admin/users/{user_id}", userId=user_id)


def test_put_creates_then_updates_a_user_and_get_returns_it(api, context, connections):
    profile = {"displayName": "Zoë", "email": "zoe@example.com", "avatarUrl": "https://cdn.example.com/z.png"}
    assert put_user(api, context, "zoe@platform", profile) == (201, {"user": {"userId": "zoe@platform", **profile}})
    assert get_user(api, context, "zoe@platform") == (200, {"user": {"userId": "zoe@platform", **profile}})
    UserResponse.model_validate(get_user(api, context, "zoe@platform")[1])
    status, body = put_user(api, context, "zoe@platform", {"displayName": "Zoë B."})
    assert status == 200
    assert body == {"user": {"userId": "zoe@platform", "displayName": "Zoë B."}}  # left out: cleared
    assert get_user(api, context, "zoe@platform")[1] == body


def test_an_update_keeps_what_other_features_store_on_the_user(api, context, connections):
    UserModel("bob", display_name="Bob", revoked_before=1_700_000_000, total_unread=3).save()
    assert put_user(api, context, "bob", {"displayName": "Robert"})[0] == 200
    stored = UserModel.get("bob")
    assert (stored.display_name, stored.revoked_before, stored.total_unread) == ("Robert", 1_700_000_000, 3)


def test_an_unknown_user_is_404(api, context, connections):
    status, body = get_user(api, context, "nobody")
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "displayName"),
        ({"displayName": "   "}, "displayName"),
        ({"displayName": "x" * 101}, "displayName"),
        ({"displayName": "Z", "email": "not an email"}, "email"),
        ({"displayName": "Z", "avatarUrl": "javascript:alert(1)"}, "avatarUrl"),
        ({"displayName": "Z", "avatarUrl": "http://cdn.example.com/z.png"}, "avatarUrl"),
        ({"displayName": "Z", "avatarUrl": "https:///nohost"}, "avatarUrl"),
        ({"displayName": "Z", "avatarURL": "https://cdn.example.com/z.png"}, "avatarURL"),
    ],
)
def test_a_bad_profile_is_a_400_naming_the_field(api, context, connections, body, field):
    status, answer = put_user(api, context, "zoe", body)
    assert status == 400
    assert answer["error"]["code"] == "BAD_FRAME"
    assert answer["error"]["message"].startswith(field)
    assert get_user(api, context, "zoe")[0] == 404  # nothing stored


def test_a_body_that_is_not_a_json_object_is_a_400(api, context, connections):
    assert put_user(api, context, "zoe", "[1, 2]")[0] == 400


@pytest.mark.parametrize("user_id", ["a" * 129, "zoë", "a b", "<script>", "a%2Fb"])  # "" and "a/b" match no route
def test_a_bad_user_id_is_a_400_naming_it(api, context, connections, user_id):
    status, answer = put_user(api, context, user_id, {"displayName": "Z"})
    assert status == 400
    assert answer["error"]["message"].startswith("userId")


def test_a_session_is_issued_for_a_known_user_and_its_refresh_token_works(api, context, connections, signing_key):
    put_user(api, context, "zoe", {"displayName": "Zoë"})
    status, session = call(
        api, context, "POST", "/admin/sessions", "/admin/sessions", body={"userId": "zoe", "ttlSeconds": 120}
    )
    assert status == 200
    SessionResponse.model_validate(session)
    identity = verify_token(session["token"], signing_key)
    assert identity.user_id == "zoe"
    assert identity.expires_at - identity.issued_at == 120
    refresh = load_function("sessions/auth_api.py").handler(
        http_event("POST", "/api/auth/refresh", body={"refreshToken": session["refreshToken"]}), context
    )
    assert refresh["statusCode"] == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"userId": "nobody"}, 404, None),
        ({"userId": "zoe", "ttlSeconds": 0}, 400, "ttlSeconds"),
        ({"userId": "zoe", "ttlSeconds": 86_401}, 400, "ttlSeconds"),
        ({"userId": "zoe", "ttlSeconds": "60"}, 400, "ttlSeconds"),
        ({"userId": "bad id"}, 400, "userId"),
        ({}, 400, "userId"),
    ],
)
def test_a_session_for_an_unknown_user_or_a_bad_request_is_refused(api, context, connections, body, status, field):
    put_user(api, context, "zoe", {"displayName": "Zoë"})
    answer_status, answer = call(api, context, "POST", "/admin/sessions", "/admin/sessions", body=body)
    assert answer_status == status
    if field:
        assert answer["error"]["message"].startswith(field)


def test_the_export_holds_everything_stored_about_the_user(api, context, connections, messaging, frozen_rate_limits):
    make_chat("project-x", ["alice", "bob"], admins=("alice",))
    put_user(api, context, "alice", {"displayName": "Alice", "email": "alice@example.com"})

    def frame(user: str, frame_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        handler = messaging["send" if frame_type == "message.send" else "events"]
        response = handler.handler(
            message_event("conn-1=", user, client_frame(frame_type, payload), frame_type), context
        )
        ack = json.loads(response["body"])
        assert ack["payload"]["status"] == "ok", ack
        return ack["payload"]

    mine = frame("alice", "message.send", {"chatId": "project-x", "content": "hello from alice"})["message"]
    theirs = frame("bob", "message.send", {"chatId": "project-x", "content": "hi alice"})["message"]
    frame("alice", "message.edit", {"messageId": mine["messageId"], "content": "hello, edited"})
    frame("alice", "message.react", {"messageId": theirs["messageId"], "emoji": "👍", "action": "add"})
    frame("alice", "message.react", {"messageId": theirs["messageId"], "emoji": "🎉", "action": "add"})
    frame("alice", "message.react", {"messageId": theirs["messageId"], "emoji": "🎉", "action": "remove"})
    PushSubscriptionModel(
        "alice", "sub-1", platform="webpush", endpoint="https://push.example/1", created_at="2026-11-25T00:00:00.000Z"
    ).save()

    status, export = call(
        api, context, "GET", "/admin/users/{userId}/export", "/admin/users/alice/export", userId="alice"
    )
    assert status == 200
    UserExport.model_validate(export)  # the documented shape (docs/openapi.yaml)
    assert export["user"] == {"userId": "alice", "displayName": "Alice", "email": "alice@example.com"}
    [membership] = export["memberships"]
    assert membership["chatId"] == "project-x" and membership["role"] == "admin" and membership["type"] == "group"
    assert membership["lastReadSeq"] >= 1 and "unreadCount" in membership
    assert [(m["messageId"], m["content"]) for m in export["messages"]] == [(mine["messageId"], "hello, edited")]
    assert [(r["messageId"], r["emoji"]) for r in export["reactions"]] == [(theirs["messageId"], "👍")]
    assert export["pushSubscriptions"] == [
        {
            "subscriptionId": "sub-1",
            "platform": "webpush",
            "createdAt": "2026-11-25T00:00:00.000Z",
            "endpoint": "https://push.example/1",
        }
    ]
    assert "preferences" in export and export["exportedAt"]
    assert "hi alice" not in json.dumps(export)  # bob's words are not alice's data


def test_the_export_of_an_unknown_user_is_404(api, context, connections):
    status, _ = call(api, context, "GET", "/admin/users/{userId}/export", "/admin/users/x/export", userId="x")
    assert status == 404
