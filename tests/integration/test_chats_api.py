"""The chat list (`ChatsApi`) and history (`HistoryApi`) handlers driven by API Gateway HTTP API
(payload 2.0) events, on moto."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.events import http_event
from tests.support.fakes import NoLimits
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.sending import MessageService, SendMessage
from tidings.sessions.token_store import DynamoRevocations
from tidings.sessions.tokens import issue_token

MESSAGES_ROUTE = "GET /api/chats/{chatId}/messages"


class ChatsRestApi:
    """Both functions behind their routes, as the HTTP API routes to them."""

    def __init__(self) -> None:
        self.chats = load_function("chats/chats_api.py")
        self.history = load_function("messaging/history_api.py")

    def handler(self, event, context):
        function = self.history if event["rawPath"].endswith("/messages") else self.chats
        return function.handler(event, context)


@pytest.fixture(scope="module")
def api():
    return ChatsRestApi()


@pytest.fixture
def chats(connections, signing_key):
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    make_chat("general", ["alice", "bob", "carol", "dave", "erin"], chat_type="channel")
    sending = MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)
    for i in range(5):
        sending.send("alice", SendMessage(f"f{i}", "project-x", f"m{i}"))
    return signing_key


def get(api, context, path, *, token=None, query=None, path_parameters=None, route_key=None):
    response = api.handler(
        http_event("GET", path, token=token, query=query, path_parameters=path_parameters, route_key=route_key),
        context,
    )
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def messages(api, context, key, chat_id, user="bob", query=None):
    return get(
        api,
        context,
        f"/api/chats/{chat_id}/messages",
        token=issue_token(user, key),
        query=query,
        path_parameters={"chatId": chat_id},
        route_key=MESSAGES_ROUTE,
    )


def test_get_chats_lists_the_callers_chats(api, context, chats):
    status, body = get(api, context, "/api/chats", token=issue_token("carol", chats))
    assert status == 200
    assert isinstance(body, list)
    by_id = {chat["chatId"]: chat for chat in body}
    assert set(by_id) == {"project-x", "general"}
    project = by_id["project-x"]
    assert (project["type"], project["headSeq"], project["lastReadSeq"]) == ("group", 5, 0)
    assert {m["userId"]: m["role"] for m in project["members"]} == {
        "alice": "admin",
        "bob": "member",
        "carol": "member",
    }
    assert (project["unreadCount"], project["mentionCount"], project["muted"], project["pinned"]) == (
        0,
        0,
        False,
        False,
    )


@pytest.mark.parametrize(
    "token",
    [None, "not-a-jwt", issue_token("alice", "another-key-that-is-long-enough-for-hs256-signing")],
    ids=["missing", "malformed", "bad-signature"],
)
def test_without_a_valid_token_the_answer_is_401(api, context, chats, token):
    status, body = get(api, context, "/api/chats", token=token)
    assert status == 401
    assert body["error"]["code"] == "UNAUTHORIZED"


def test_a_token_issued_before_a_revocation_is_401(api, context, chats):
    token = issue_token("carol", chats, now=int(time.time()) - 60)
    assert get(api, context, "/api/chats", token=token)[0] == 200
    DynamoRevocations().revoke("carol", int(time.time()) - 30)
    status, body = get(api, context, "/api/chats", token=token)
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
    assert get(api, context, "/api/chats", token=issue_token("carol", chats))[0] == 200


def test_messages_page_newest_first_with_next_before(api, context, chats):
    status, page = messages(api, context, chats, "project-x", query={"limit": "2"})
    assert status == 200
    assert [m["content"] for m in page["messages"]] == ["m4", "m3"]
    assert page["nextBefore"] == 4
    status, older = messages(api, context, chats, "project-x", query={"limit": "10", "before": "4"})
    assert [m["content"] for m in older["messages"]] == ["m2", "m1", "m0"]
    assert older["nextBefore"] is None


def test_messages_default_page(api, context, chats):
    status, page = messages(api, context, chats, "project-x")
    assert status == 200
    assert [m["seq"] for m in page["messages"]] == [5, 4, 3, 2, 1]
    assert page["nextBefore"] is None


def test_messages_are_for_members_only(api, context, chats):
    status, body = messages(api, context, chats, "project-x", user="dave")
    assert status == 403
    assert body["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"before": "abc"}, "before"),
        ({"before": "0"}, "before"),
        ({"before": "1" * 41}, "before"),  # a number DynamoDB cannot hold (over 38 digits)
        ({"before": str(2**53)}, "before"),
        ({"limit": "101"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api, context, chats, query, named):
    status, body = messages(api, context, chats, "project-x", query=query)
    assert status == 400
    assert body["error"]["code"] == "BAD_FRAME"
    assert body["error"]["message"].startswith(named)


def test_an_unknown_path_is_404(api, context, chats):
    status, body = get(api, context, "/api/nope", token=issue_token("bob", chats))
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


def test_a_chat_id_with_a_colon_reads_its_history_as_api_gateway_decodes_it(api, context, chats):
    """The raw path carries `team%3Aalpha`; the id is what `pathParameters` says (the resolver's
    own match would keep the percent-encoding and find no such chat)."""
    make_chat("team:alpha", ["alice", "bob"])
    MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time).send(
        "alice", SendMessage("f-colon", "team:alpha", "hello")
    )
    status, page = get(
        api,
        context,
        "/api/chats/team%3Aalpha/messages",
        token=issue_token("bob", chats),
        path_parameters={"chatId": "team:alpha"},
        route_key=MESSAGES_ROUTE,
    )
    assert status == 200, page
    assert [m["content"] for m in page["messages"]] == ["hello"]
