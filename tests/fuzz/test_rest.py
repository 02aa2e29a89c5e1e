"""Property-based fuzzing of every declared HTTP route (`APPLICATION.http_routes`), through the
real handlers on moto with API Gateway HTTP API (payload 2.0) events: hostile path parameters,
query strings, headers and bodies always get a JSON answer with a 2xx-4xx status (errors as
`{error: {code, message}}`), never a 500 or INTERNAL, and nothing logged as an error."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import World, assert_no_traceback, handler_of
from tests.fuzz.strategies import USERS, dumps, forged_tokens, hostile_text, http_text, json_text, model_payloads
from tests.support.events import http_event
from tests.support.lambdas import LambdaContext
from tidings.admin.wire import SessionRequest, UserPut
from tidings.app import APPLICATION
from tidings.chats.wire import CreateDm, CreateGroup, PutMember, UpdateChat
from tidings.kernel.declaration import HttpRoute
from tidings.kernel.errors import ErrorCode
from tidings.notifications.preferences import NotificationPreferences
from tidings.notifications.wire import DeviceTokenRegistration, WebPushRegistration

# The bodies the REST routes read, as shapes to fill with hostile values; every route gets all
# of them (a field another route reads is just an extra one), plus JSON and text of any shape.
BODY_MODELS = (
    NotificationPreferences,
    WebPushRegistration,
    DeviceTokenRegistration,
    CreateDm,
    CreateGroup,
    UpdateChat,
    PutMember,
    UserPut,
    SessionRequest,
)
PARAMETER = re.compile(r"\{(\w+)\}")
CODES = {code.value for code in ErrorCode}


def bodies(world: World) -> st.SearchStrategy[str | None]:
    shaped = st.one_of(*(model_payloads(model, world.context) for model in BODY_MODELS))
    refresh = st.fixed_dictionaries({"refreshToken": hostile_text})
    return st.one_of(
        st.none(),
        st.booleans().flatmap(lambda ascii_only: (shaped | refresh).map(lambda body: dumps(body, ascii_only))),
        json_text(),
        st.text(max_size=100),
        st.integers(min_value=1, max_value=3000).map(lambda depth: '{"global": ' + "[" * depth + "]" * depth + "}"),
    )


def authorizations(world: World) -> st.SearchStrategy[str | None]:
    user = st.sampled_from(USERS)
    return st.one_of(
        user.map(lambda u: f"Bearer {world.token(u)}"),
        user.map(lambda u: f"Bearer {world.token(u)}"),  # twice: most calls get past the edge
        forged_tokens(world.signing_key).map(lambda token: f"Bearer {token}"),
        st.none(),
        http_text,
    )


@st.composite
def requests(draw: st.DrawFn, world: World) -> tuple[HttpRoute, dict[str, Any]]:
    route = draw(st.sampled_from(APPLICATION.http_routes), label="route")
    parameters = {
        name: draw(st.sampled_from(world.context.get(name, ["general"])) | http_text.filter(bool), label=name)
        for name in PARAMETER.findall(route.path)
    }
    path = PARAMETER.sub(lambda m: quote(parameters[m.group(1)], safe=""), route.path)
    query = draw(st.dictionaries(http_text.filter(bool), http_text, max_size=3), label="query")
    authorization = draw(authorizations(world), label="authorization")
    body = draw(bodies(world), label="body")
    event = http_event(
        route.method,
        path,
        route_key=f"{route.method} {route.path}",
        headers={"authorization": authorization} if authorization is not None else None,
        path_parameters=parameters or None,
        body=body,
    )
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = urlencode(query)
    return route, event


def check(world: World, response: Any) -> None:
    lines = world.log_lines()
    assert isinstance(response, dict), response
    status = response.get("statusCode")
    assert isinstance(status, int) and 200 <= status < 500, response
    body = response.get("body") or ""
    body.encode("utf-8")  # sendable
    if status >= 400:
        error = json.loads(body)["error"]
        assert error["code"] in CODES and error["code"] != "INTERNAL", response
        assert isinstance(error["message"], str), response
    elif body:
        json.loads(body)
    assert_no_traceback(lines)


def test_every_declared_http_route_is_fuzzed():
    assert {(r.method, r.path) for r in APPLICATION.http_routes} >= {
        ("PUT", "/api/prefs"),
        ("POST", "/api/auth/refresh"),
        ("PUT", "/admin/users/{userId}"),
        ("POST", "/admin/sessions"),
    }


@given(data=st.data())
def test_every_http_route_answers_any_request_with_json_and_no_500(world, data):
    route, event = data.draw(requests(world), label="request")
    check(world, handler_of(route.function)(event, LambdaContext()))
