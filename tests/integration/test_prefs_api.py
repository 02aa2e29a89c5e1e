"""`GET/PUT /api/prefs` driven by HTTP API (payload 2.0) events, on moto."""

from __future__ import annotations

import json

import pytest

from tests.support.events import http_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.sessions.tokens import issue_token

NIGHT = {"enabled": True, "startTime": "22:00", "endTime": "08:00", "timezone": "Europe/Berlin"}


@pytest.fixture(scope="module")
def api():
    return load_function("notifications/prefs_api.py")


@pytest.fixture
def token(connections, signing_key):
    make_chat("project-x", ["alice", "bob"])
    return issue_token("bob", signing_key)


def call(api, context, method, *, token=None, body=None):
    response = api.handler(http_event(method, "/api/prefs", token=token, body=body), context)
    return response["statusCode"], json.loads(response["body"])


def test_a_user_without_preferences_gets_the_defaults(api, context, token):
    status, body = call(api, context, "GET", token=token)
    assert status == 200
    assert body == {
        "global": {"desktop": True, "sound": True, "level": "all", "dndSchedule": None},
        "chatOverrides": {},
        "channelOverrides": {},
    }


def test_put_replaces_the_preferences_and_get_returns_them(api, context, token):
    document = {
        "global": {"desktop": False, "sound": True, "dndSchedule": NIGHT},
        "chatOverrides": {"project-x": {"level": "mentions_only", "sound": False, "pinned": True}},
        "channelOverrides": {"general": {"level": "off", "sound": False}},
    }
    status, saved = call(api, context, "PUT", token=token, body=document)
    assert status == 200
    assert saved["chatOverrides"]["project-x"] == {"level": "mentions_only", "sound": False, "pinned": True}
    assert call(api, context, "GET", token=token) == (200, saved)
    assert saved["global"]["dndSchedule"] == NIGHT


def test_preferences_mute_and_pin_in_the_chat_list(api, context, token):
    chats = load_function("chats/chats_api.py")
    call(api, context, "PUT", token=token, body={"chatOverrides": {"project-x": {"level": "off", "pinned": True}}})
    response = chats.handler(http_event("GET", "/api/chats", token=token), context)
    (chat,) = json.loads(response["body"])
    assert (chat["muted"], chat["pinned"]) == (True, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chatOverrides": {"project-x": {"level": "loud"}}}, "chatOverrides.project-x.level"),
        ({"global": {"dndSchedule": {**NIGHT, "timezone": "Nowhere/Land"}}}, "global.dndSchedule.timezone"),
        ({"global": {"dndSchedule": {**NIGHT, "startTime": "10pm"}}}, "global.dndSchedule.startTime"),
        ({"chatOverride": {}}, "chatOverride"),
    ],
)
def test_bad_preferences_are_a_400_naming_the_field(api, context, token, body, field):
    status, answer = call(api, context, "PUT", token=token, body=body)
    assert status == 400
    assert answer["error"]["code"] == "BAD_FRAME"
    assert field in answer["error"]["message"]
    assert call(api, context, "GET", token=token)[1]["chatOverrides"] == {}, "nothing was saved"


@pytest.mark.parametrize("body", ["{not json", "[]", '"all"'])
def test_a_body_that_is_not_a_json_object_is_a_400(api, context, token, body):
    response = api.handler(http_event("PUT", "/api/prefs", token=token, body=body), context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["message"] == "The body must be a JSON object"


def test_preferences_need_a_token(api, context, token):
    status, answer = call(api, context, "GET")
    assert (status, answer["error"]["code"]) == (401, "UNAUTHORIZED")
