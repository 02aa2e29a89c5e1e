"""The chats and members calls (`ChatChanges`, `ChatsApi` for the channel directory) driven by API
Gateway HTTP API (payload 2.0) events, on moto: each route, its errors, and the chat events a
change stores."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.events import http_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.chats.membership import ChatAdministration
from tidings.chats.membership_store import DynamoChatChanges
from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.messaging.models import MessageModel
from tidings.sessions.tokens import issue_token

MEMBER_ROUTE = "{method} /api/chats/{{chatId}}/members/{{userId}}"


@pytest.fixture(scope="module")
def changes():
    return load_function("chats/chat_changes.py")


@pytest.fixture(scope="module")
def listing():
    return load_function("chats/chats_api.py")


@pytest.fixture
def world(connections, signing_key):
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    make_chat("general", ["alice", "bob"], admins=("alice",), chat_type="channel")
    for user_id in ("dave", "erin"):
        UserModel(user_id, display_name=user_id.capitalize()).save()
    return signing_key


class Api:
    def __init__(self, changes, listing, context, key) -> None:
        self._changes, self._listing, self._context, self._key = changes, listing, context, key

    def call(
        self,
        user: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        route_key: str | None = None,
        path_parameters: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        function = self._listing if method == "GET" else self._changes
        event = http_event(
            method,
            path,
            token=issue_token(user, self._key),
            body=body,
            route_key=route_key,
            path_parameters=path_parameters,
            query=query,
        )
        response = function.handler(event, self._context)
        return response["statusCode"], json.loads(response["body"]) if response.get("body") else None

    def create(self, user: str, body: Any) -> tuple[int, Any]:
        return self.call(user, "POST", "/api/chats", body)

    def patch(self, user: str, chat_id: str, body: Any) -> tuple[int, Any]:
        return self.call(
            user,
            "PATCH",
            f"/api/chats/{chat_id}",
            body,
            route_key="PATCH /api/chats/{chatId}",
            path_parameters={"chatId": chat_id},
        )

    def member(self, user: str, method: str, chat_id: str, member: str, body: Any = None) -> tuple[int, Any]:
        return self.call(
            user,
            method,
            f"/api/chats/{chat_id}/members/{member}",
            body,
            route_key=MEMBER_ROUTE.format(method=method),
            path_parameters={"chatId": chat_id, "userId": member},
        )

    def channels(self, user: str, **query: str) -> tuple[int, Any]:
        return self.call(user, "GET", "/api/channels", query=query)


@pytest.fixture
def api(changes, listing, context, world) -> Api:
    return Api(changes, listing, context, world)


def events_of(chat_id: str) -> list[tuple[int, str, str | None, str | None]]:
    return [(int(i.seq), i.kind, i.subject_id, i.role) for i in MessageModel.query(chat_id)]


def role(chat_id: str, user_id: str) -> str | None:
    found = (
        MemberModel.get(chat_id, user_id, consistent_read=True)
        if MemberModel.count(chat_id, MemberModel.user_id == user_id)
        else None
    )
    return found.role if found else None


# --- POST /api/chats --------------------------------------------------------------------------


def test_a_group_is_created_with_the_caller_as_its_admin(api):
    status, body = api.create("carol", {"type": "group", "name": "Launch", "members": ["dave", "erin"]})
    assert status == 201
    chat = body["chat"]
    assert (chat["type"], chat["name"], chat["visibility"], chat["archived"]) == ("group", "Launch", "private", False)
    assert {m["userId"]: m["role"] for m in chat["members"]} == {"carol": "admin", "dave": "member", "erin": "member"}
    assert events_of(chat["chatId"]) == [(1, "chat_created", None, None)]
    assert chat["headSeq"] == 1


def test_a_channel_is_public_by_default(api):
    status, body = api.create("bob", {"type": "channel", "name": "random"})
    assert (status, body["chat"]["visibility"]) == (201, "public")
    status, body = api.create("bob", {"type": "channel", "name": "secret", "visibility": "private"})
    assert (status, body["chat"]["visibility"]) == (201, "private")


def test_the_dm_of_a_pair_is_one_chat_whoever_opens_it(api):
    status, first = api.create("alice", {"type": "dm", "members": ["dave"]})
    assert status == 201
    status, again = api.create("dave", {"type": "dm", "members": ["alice"]})
    assert status == 200
    assert again["chat"]["chatId"] == first["chat"]["chatId"]
    assert {m["userId"] for m in first["chat"]["members"]} == {"alice", "dave"}


def test_the_side_that_loses_the_race_to_create_the_dm_gets_the_winners(api):
    """Both sides read "no DM yet"; the other side's create commits first: the conditional
    put of the pair record refuses this one, which answers with the DM that won."""

    class LateStore(DynamoChatChanges):
        raced = False

        def dm_between(self, user_id: str, other_id: str) -> str | None:
            if not self.raced:
                self.raced = True
                ChatAdministration(DynamoChatChanges(), now=time.time).open_dm(other_id, user_id)
                return None  # what this side read before the other's write
            return super().dm_between(user_id, other_id)

    view, created = ChatAdministration(LateStore(), now=time.time).open_dm("dave", "erin")
    assert created is False
    assert [c.chat_id for c in ChatModel.by_type.query("dm")] == [view.chat.chat_id]
    assert {m.user_id for m in view.members} == {"dave", "erin"}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"type": "dm", "members": []}, "dm.members"),
        ({"type": "dm", "members": ["a", "b"]}, "dm.members"),
        ({"type": "dm", "members": ["bad id"]}, "dm.members.0"),
        ({"type": "dm", "members": ["x" * 129]}, "dm.members.0"),
        ({"type": "group"}, "group.name"),
        ({"type": "group", "name": ""}, "group.name"),
        ({"type": "group", "name": "x", "visibility": "secret"}, "group.visibility"),
        ({"type": "group", "name": "x", "extra": 1}, "group.extra"),
        ({"type": "room", "name": "x"}, ""),
        ({"type": "group", "name": "x", "visibility": "public"}, "visibility"),
        ({"type": "dm", "members": ["alice"]}, "members"),
    ],
)
def test_bad_create_requests_are_400_naming_the_field(api, body, named):
    status, answer = api.create("alice", body)
    assert (status, answer["error"]["code"]) == (400, "BAD_FRAME")
    assert answer["error"]["message"].startswith(named)


def test_creating_with_an_unknown_user_is_404_naming_user_id(api):
    for body in ({"type": "dm", "members": ["nobody"]}, {"type": "group", "name": "x", "members": ["nobody"]}):
        status, answer = api.create("alice", body)
        assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")
        assert answer["error"]["message"].startswith("userId")


# --- PATCH /api/chats/{chatId} ----------------------------------------------------------------


def test_an_admin_updates_the_chat_and_the_change_is_a_chat_event(api):
    status, body = api.patch("alice", "project-x", {"name": "Project Y", "description": "the next one"})
    assert status == 200
    assert (body["chat"]["name"], body["chat"]["description"]) == ("Project Y", "the next one")
    item = MessageModel.get("project-x", 1)
    assert item.kind == "chat_updated"
    assert item.chat["name"] == "Project Y"
    assert ChatModel.get("project-x").head_seq == 1


def test_patch_refusals(api):
    assert api.patch("bob", "project-x", {"name": "mine"})[0] == 403
    assert api.patch("dave", "project-x", {"name": "mine"})[0] == 404  # not a member: not seen
    assert api.patch("alice", "nope", {"name": "x"})[0] == 404
    status, body = api.patch("alice", "project-x", {"archived": "yes"})
    assert (status, body["error"]["message"].split(":")[0]) == (400, "archived")


@pytest.mark.parametrize("value", [-1, 36_501, "30", 1.5, True])
def test_a_retention_the_chat_cannot_keep_is_400_naming_the_field(api, value):
    status, body = api.patch("alice", "project-x", {"retentionDays": value})
    assert (status, body["error"]["message"].split(":")[0]) == (400, "retentionDays")


def test_an_admin_sets_the_chat_s_retention_and_0_gives_it_back_to_the_deployment(api):
    status, body = api.patch("alice", "project-x", {"retentionDays": 90})
    assert (status, body["chat"]["retentionDays"]) == (200, 90)
    assert ChatModel.get("project-x").retention_days == 90
    assert MessageModel.get("project-x", 1).chat["retentionDays"] == 90  # members see it in chat.updated
    status, body = api.patch("alice", "project-x", {"retentionDays": 0})
    assert (status, body["chat"]["retentionDays"]) == (200, None)
    assert ChatModel.get("project-x").retention_days is None
    assert api.patch("bob", "project-x", {"retentionDays": 1})[0] == 403  # not an admin


# --- PUT / DELETE /api/chats/{chatId}/members/{userId} ---------------------------------------


def test_an_admin_adds_a_member_then_changes_their_role(api):
    assert api.member("alice", "PUT", "project-x", "dave") == (
        201,
        {"chatId": "project-x", "userId": "dave", "role": "member"},
    )
    assert api.member("alice", "PUT", "project-x", "dave")[0] == 200  # already there
    assert api.member("alice", "PUT", "project-x", "dave", {"role": "admin"}) == (
        200,
        {"chatId": "project-x", "userId": "dave", "role": "admin"},
    )
    assert events_of("project-x") == [(1, "member_joined", "dave", "member"), (2, "member_role", "dave", "admin")]


def test_anyone_joins_a_public_channel_but_not_a_private_chat(api):
    assert api.member("dave", "PUT", "general", "dave")[0] == 201
    status, body = api.member("dave", "PUT", "project-x", "dave")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert api.member("bob", "PUT", "project-x", "dave")[0] == 403  # members do not add others
    assert api.member("dave", "PUT", "general", "dave", {"role": "admin"})[0] == 403


def test_adding_an_unknown_user_is_404_naming_user_id(api):
    status, body = api.member("alice", "PUT", "project-x", "nobody")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert body["error"]["message"].startswith("userId")


def test_an_id_with_at_and_colon_arrives_encoded_in_the_raw_path_and_decoded_in_the_parameters(api):
    UserModel("bob@example.com", display_name="Bob E").save()
    status, body = api.call(
        "alice",
        "PUT",
        "/api/chats/project-x/members/bob%40example.com",
        {},
        route_key=MEMBER_ROUTE.format(method="PUT"),
        path_parameters={"chatId": "project-x", "userId": "bob@example.com"},
    )
    assert (status, body["userId"]) == (201, "bob@example.com")


def test_bad_member_requests_are_400(api):
    status, body = api.member("alice", "PUT", "project-x", "dave", {"role": "owner"})
    assert (status, body["error"]["message"].split(":")[0]) == (400, "role")
    status, body = api.member("alice", "PUT", "project-x", "bad id")
    assert (status, body["error"]["message"].split(":")[0]) == (400, "userId")


def test_members_leave_and_admins_remove(api):
    assert api.member("bob", "DELETE", "project-x", "bob") == (204, None)
    assert api.member("carol", "DELETE", "project-x", "alice")[0] == 403
    assert api.member("alice", "DELETE", "project-x", "carol") == (204, None)
    assert api.member("alice", "DELETE", "project-x", "carol")[0] == 404
    assert [kind for _, kind, _, _ in events_of("project-x")] == ["member_left", "member_left"]
    assert role("project-x", "bob") is None


def test_the_last_admin_cannot_leave_or_step_down(api):
    status, body = api.member("alice", "DELETE", "project-x", "alice")
    assert (status, body["error"]["code"]) == (409, "CONFLICT")
    status, body = api.member("alice", "PUT", "project-x", "alice", {"role": "member"})
    assert status == 409
    assert api.member("alice", "PUT", "project-x", "bob", {"role": "admin"})[0] == 200
    assert api.member("alice", "DELETE", "project-x", "alice")[0] == 204


def test_a_removal_takes_the_chats_badges_off_the_users_totals(api):
    MemberModel("project-x", "bob").update(actions=[MemberModel.unread_count.set(3), MemberModel.mention_count.set(1)])
    UserModel("bob").update(actions=[UserModel.total_unread.set(5), UserModel.total_mentions.set(2)])
    assert api.member("alice", "DELETE", "project-x", "bob")[0] == 204
    bob = UserModel.get("bob")
    assert (bob.total_unread, bob.total_mentions) == (2, 1)


def test_a_dm_has_no_member_changes(api):
    _, body = api.create("alice", {"type": "dm", "members": ["bob"]})
    chat_id = body["chat"]["chatId"]
    assert api.member("alice", "PUT", chat_id, "carol")[0] == 403
    assert api.member("alice", "DELETE", chat_id, "bob")[0] == 403


# --- GET /api/channels ------------------------------------------------------------------------


def test_the_channel_directory_lists_public_channels(api):
    api.create("bob", {"type": "channel", "name": "Random"})
    api.create("bob", {"type": "channel", "name": "hidden", "visibility": "private"})
    status, page = api.channels("erin")
    assert status == 200
    assert sorted(c["name"] for c in page["channels"]) == ["Random", "general"]
    assert page["nextCursor"] is None
    status, page = api.channels("erin", query="rand")
    assert [c["name"] for c in page["channels"]] == ["Random"]
