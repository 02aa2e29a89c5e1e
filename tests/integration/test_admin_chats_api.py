"""The administration API's chats and members (`AdminChats`) driven by HTTP API (payload 2.0)
events of IAM-authorized routes, on moto: each route, each error, and the chat events a change
stores (the same a client's change stores)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_admin_api import IAM
from tests.support.events import http_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.chats.membership import PLATFORM, dm_chat_id
from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.chats.wire import ChatResponse, MemberResponse
from tidings.messaging.models import MessageModel

MEMBER_ROUTE = "/admin/chats/{chatId}/members/{userId}"


@pytest.fixture(scope="module")
def admin_chats():
    return load_function("admin/admin_chats.py")


@pytest.fixture
def world(connections):
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    for user_id in ("dave", "erin"):
        UserModel(user_id, display_name=user_id.capitalize()).save()


class Admin:
    def __init__(self, function, context) -> None:
        self._function, self._context = function, context

    def call(self, method: str, route: str, path: str, body: Any = None, **parameters: str) -> tuple[int, Any]:
        event = http_event(method, path, route_key=f"{method} {route}", path_parameters=parameters or None, body=body)
        event["requestContext"]["authorizer"] = {"iam": IAM}
        response = self._function.handler(event, self._context)
        return response["statusCode"], json.loads(response["body"]) if response.get("body") else None

    def create(self, body: Any) -> tuple[int, Any]:
        return self.call("POST", "/admin/chats", "/admin/chats", body)

    def patch(self, chat_id: str, body: Any) -> tuple[int, Any]:
        return self.call("PATCH", "/admin/chats/{chatId}", f"/admin/chats/{chat_id}", body, chatId=chat_id)

    def member(self, method: str, chat_id: str, user_id: str, body: Any = None) -> tuple[int, Any]:
        path = f"/admin/chats/{chat_id}/members/{user_id}"
        return self.call(method, MEMBER_ROUTE, path, body, chatId=chat_id, userId=user_id)


@pytest.fixture
def admin(admin_chats, context, world) -> Admin:
    return Admin(admin_chats, context)


def events_of(chat_id: str) -> list[tuple[int, str, str | None, str | None, str]]:
    return [(int(i.seq), i.kind, i.subject_id, i.role, i.sender_id) for i in MessageModel.query(chat_id)]


def roles_of(chat_id: str) -> dict[str, str]:
    return {m.user_id: m.role for m in MemberModel.query(chat_id, consistent_read=True)}


# --- POST /admin/chats --------------------------------------------------------------------------


def test_a_group_is_created_with_the_given_id_admins_and_members(admin):
    body = {"type": "group", "chatId": "team:42", "name": "Team", "members": ["dave", "erin"], "admins": ["carol"]}
    status, answer = admin.create(body)
    assert status == 201
    ChatResponse.model_validate(answer)
    chat = answer["chat"]
    assert (chat["chatId"], chat["type"], chat["name"], chat["visibility"]) == ("team:42", "group", "Team", "private")
    assert {m["userId"]: m["role"] for m in chat["members"]} == {"carol": "admin", "dave": "member", "erin": "member"}
    assert chat["headSeq"] == 1
    # The creation is recorded as the platform's: an actor id no user can have.
    assert events_of("team:42") == [(1, "chat_created", None, None, PLATFORM.actor_id)]


def test_a_chat_without_an_id_gets_a_new_one_and_may_have_no_admin(admin):
    status, answer = admin.create({"type": "channel", "name": "news", "members": ["dave"]})
    assert status == 201
    assert answer["chat"]["visibility"] == "public"
    assert roles_of(answer["chat"]["chatId"]) == {"dave": "member"}


def test_a_taken_chat_id_is_409_and_changes_nothing(admin):
    status, answer = admin.create({"type": "group", "chatId": "project-x", "name": "Mine", "members": ["dave"]})
    assert (status, answer["error"]["code"]) == (409, "CONFLICT")
    assert answer["error"]["message"].startswith("chatId")
    assert ChatModel.get("project-x").name == "project-x"
    assert "dave" not in roles_of("project-x")


def test_the_dm_of_a_pair_is_created_once_then_answered_with_200(admin):
    status, first = admin.create({"type": "dm", "members": ["dave", "erin"]})
    assert status == 201
    assert first["chat"]["chatId"] == dm_chat_id("dave", "erin")
    assert {m["userId"] for m in first["chat"]["members"]} == {"dave", "erin"}
    status, again = admin.create({"type": "dm", "members": ["erin", "dave"]})
    assert (status, again["chat"]["chatId"]) == (200, first["chat"]["chatId"])
    assert len(events_of(first["chat"]["chatId"])) == 1


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"type": "dm", "members": ["dave"]}, "dm.members"),
        ({"type": "dm", "members": ["dave", "erin", "alice"]}, "dm.members"),
        ({"type": "dm", "members": ["dave", "dave"]}, "members"),
        ({"type": "dm", "members": ["dave", "erin"], "chatId": "x"}, "dm.chatId"),
        ({"type": "group", "members": ["dave"]}, "group.name"),
        ({"type": "group", "name": "x"}, "group.members"),
        ({"type": "group", "name": "x", "members": ["bad id"]}, "group.members.0"),
        ({"type": "group", "name": "x", "members": [], "admins": ["bad id"]}, "group.admins.0"),
        ({"type": "group", "name": "x", "members": [], "chatId": "a b"}, "group.chatId"),
        (
            {
                "type": "group",
                "name": "x",
                "members": [f"u{i}" for i in range(30)],
                "admins": [f"a{i}" for i in range(30)],
            },
            "group",
        ),
        ({"type": "group", "name": "x", "members": [], "visibility": "public"}, "visibility"),
        ({"type": "group", "name": "x", "members": [], "owner": "dave"}, "group.owner"),
        ({"type": "room", "name": "x", "members": []}, ""),
    ],
)
def test_bad_create_requests_are_400_naming_the_field(admin, body, named):
    status, answer = admin.create(body)
    assert (status, answer["error"]["code"]) == (400, "BAD_FRAME")
    assert answer["error"]["message"].startswith(named)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "dm", "members": ["dave", "nobody"]},
        {"type": "group", "name": "x", "members": ["nobody"]},
        {"type": "group", "name": "x", "members": [], "admins": ["nobody"]},
    ],
)
def test_creating_with_an_unknown_user_is_404_naming_it(admin, body):
    status, answer = admin.create(body)
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")
    assert answer["error"]["message"] == "userId: no user 'nobody'"


# --- PATCH /admin/chats/{chatId} ----------------------------------------------------------------


def test_the_platform_updates_a_chat_it_is_no_member_of_as_a_chat_event(admin):
    status, answer = admin.patch("project-x", {"name": "Project Y", "archived": True})
    assert status == 200
    assert (answer["chat"]["name"], answer["chat"]["archived"]) == ("Project Y", True)
    assert events_of("project-x") == [(1, "chat_updated", None, None, PLATFORM.actor_id)]
    assert MessageModel.get("project-x", 1).chat["name"] == "Project Y"


def test_patch_errors(admin):
    status, answer = admin.patch("nope", {"name": "x"})
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")
    status, answer = admin.patch("project-x", {"archived": "yes"})
    assert (status, answer["error"]["message"].split(":")[0]) == (400, "archived")
    status, answer = admin.patch("project-x", {"colour": "red"})
    assert (status, answer["error"]["message"].split(":")[0]) == (400, "colour")
    assert admin.patch("bad id", {"name": "x"})[0] == 400


def test_a_dm_does_not_change_for_the_platform_either(admin):
    _, answer = admin.create({"type": "dm", "members": ["dave", "erin"]})
    chat_id = answer["chat"]["chatId"]
    assert admin.patch(chat_id, {"name": "x"})[0] == 403
    assert admin.member("PUT", chat_id, "alice")[0] == 403
    assert admin.member("DELETE", chat_id, "dave")[0] == 403


# --- PUT / DELETE /admin/chats/{chatId}/members/{userId} ---------------------------------------


def test_the_platform_adds_a_member_and_promotes_them(admin):
    status, answer = admin.member("PUT", "project-x", "dave")
    assert (status, answer) == (201, {"chatId": "project-x", "userId": "dave", "role": "member"})
    MemberResponse.model_validate(answer)
    assert admin.member("PUT", "project-x", "dave")[0] == 200  # already there: nothing changes
    assert admin.member("PUT", "project-x", "erin", {"role": "admin"}) == (
        201,
        {"chatId": "project-x", "userId": "erin", "role": "admin"},
    )
    assert admin.member("PUT", "project-x", "dave", {"role": "admin"})[0] == 200
    assert events_of("project-x") == [
        (1, "member_joined", "dave", "member", PLATFORM.actor_id),
        (2, "member_joined", "erin", "admin", PLATFORM.actor_id),
        (3, "member_role", "dave", "admin", PLATFORM.actor_id),
    ]


def test_member_errors(admin):
    status, answer = admin.member("PUT", "project-x", "nobody")
    assert (status, answer["error"]["message"]) == (404, "userId: no user 'nobody'")
    status, answer = admin.member("PUT", "nope", "dave")
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")
    status, answer = admin.member("PUT", "project-x", "dave", {"role": "owner"})
    assert (status, answer["error"]["message"].split(":")[0]) == (400, "role")
    status, answer = admin.member("PUT", "project-x", "bad id")
    assert (status, answer["error"]["message"].split(":")[0]) == (400, "userId")
    status, answer = admin.member("DELETE", "project-x", "dave")
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")
    assert answer["error"]["message"].startswith("userId")
    assert admin.member("DELETE", "nope", "dave")[0] == 404


def test_the_platform_removes_anyone_even_the_last_admin_and_promotes_nobody(admin):
    assert admin.member("DELETE", "project-x", "bob") == (204, None)
    assert admin.member("PUT", "project-x", "alice", {"role": "member"})[0] == 200  # the last admin steps down
    assert admin.member("PUT", "project-x", "alice", {"role": "admin"})[0] == 200
    assert admin.member("DELETE", "project-x", "alice") == (204, None)  # the last admin goes
    assert roles_of("project-x") == {"carol": "member"}
    assert [(kind, subject) for _, kind, subject, _, _ in events_of("project-x")] == [
        ("member_left", "bob"),
        ("member_role", "alice"),
        ("member_role", "alice"),
        ("member_left", "alice"),
    ]


def test_a_removal_takes_the_chats_badges_off_the_users_totals(admin):
    MemberModel("project-x", "bob").update(actions=[MemberModel.unread_count.set(3), MemberModel.mention_count.set(1)])
    UserModel("bob").update(actions=[UserModel.total_unread.set(5), UserModel.total_mentions.set(2)])
    assert admin.member("DELETE", "project-x", "bob")[0] == 204
    bob = UserModel.get("bob")
    assert (bob.total_unread, bob.total_mentions) == (2, 1)
