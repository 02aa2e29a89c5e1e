"""Mock routes and the HTTP API on a small synthetic application, so they are covered whatever
`APPLICATION` declares today: `ping` answered by API Gateway (the way app.py is moving to),
another mock route, HTTP routes sharing a function, a function used only by HTTP routes, and
browser origins from the context. cdk-nag runs, so every acknowledgment these need is in place."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure import api_assertions
from tidings.chats.models import USERS
from tidings.kernel.declaration import Application, Authorizer, Function, HttpRoute, MockRoute, Route
from tidings.sessions.models import CONNECTIONS
from tidings_infra import names
from tidings_infra.app import build_app
from tidings_infra.cors import CorsPolicy
from tidings_infra.http_api import cors_allowed_origins
from tidings_infra.mock_routes import response_template

GATE = Function("Gate", "sessions", "authorizer.handler", "authorizes $connect", tables=((USERS, "read"),))
CONNECT = Function("Hello", "sessions", "connect.handler", "stores connections", tables=((CONNECTIONS, "write"),))
FALLBACK = Function("Fallback", "sessions", "default.handler", "frames no route matched")
PREFS = Function("Prefs", "messaging", "chats_api.handler", "GET and PUT /api/prefs", tables=((USERS, "read_write"),))
PUSH = Function("Push", "sessions", "auth_api.handler", "push subscriptions, reached only over HTTP")

PING = MockRoute("ping", "pong")
PRESENCE = MockRoute("presence.ping", "presence.pong")
HTTP_ROUTES = (
    HttpRoute("GET", "/api/prefs", PREFS),
    HttpRoute("PUT", "/api/prefs", PREFS),
    HttpRoute("POST", "/api/push/subscriptions", PUSH),
    HttpRoute("DELETE", "/api/push/subscriptions/{subscriptionId}", PUSH),
)
VARIANT = Application(
    name="ApiVariant",
    tables=(CONNECTIONS, USERS),
    functions=(GATE, CONNECT, FALLBACK, PREFS, PUSH),
    authorizer=Authorizer(GATE),
    routes=(Route("$connect", CONNECT, two_way=False), Route("$default", FALLBACK)),
    mock_routes=(PING, PRESENCE),
    http_routes=HTTP_ROUTES,
)
ORIGINS = "https://app.example.com, https://admin.example.com:8443"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """The variant with cdk-nag on: the synth raises if any finding is left unacknowledged."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(
        application=VARIANT,
        context={names.CONTEXT_MANAGE_APIGW_ACCOUNT: "false", names.CONTEXT_CORS_ALLOWED_ORIGINS: ORIGINS},
        outdir=str(outdir),
    )
    template = app.synth().get_stack_artifact(stack.artifact_id).template
    yield json.loads(json.dumps(template)), outdir


@pytest.fixture(scope="module")
def template(synthesized: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return synthesized[0]


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template["Resources"])


def _api(resources: dict[str, dict[str, Any]], protocol: str) -> str:
    api = api_assertions.api_id(resources, protocol)
    assert api is not None
    return api


def _function_id(resources: dict[str, dict[str, Any]], declared: Function) -> str:
    (function_id,) = [
        k
        for k, v in api_assertions.of_type(resources, "AWS::Lambda::Function").items()
        if v["Properties"].get("Description") == declared.description
    ]
    return function_id


def test_cdk_nag_passes(synthesized: tuple[dict[str, Any], Path]) -> None:
    report = synthesized[1] / "validation-report.json"
    if report.exists():
        assert json.loads(report.read_text()).get("pluginReports", []) == []


# --- mock routes -------------------------------------------------------------------------


@pytest.mark.parametrize("route", VARIANT.mock_routes, ids=lambda r: r.key)
def test_mock_routes_are_answered_without_lambda(resources: dict[str, dict[str, Any]], route: MockRoute) -> None:
    api_assertions.assert_mock_route(resources, _api(resources, "WEBSOCKET"), route)


def test_lambda_is_invoked_only_for_lambda_routes_and_http_routes(resources: dict[str, dict[str, Any]]) -> None:
    """One permission per Lambda WebSocket route, the authorizer and each HTTP route; none for mocks."""
    permissions = api_assertions.of_type(resources, "AWS::Lambda::Permission")
    assert len(permissions) == len(VARIANT.routes) + 1 + len(VARIANT.http_routes)
    mock_integrations = [
        i
        for i in api_assertions.of_type(resources, "AWS::ApiGatewayV2::Integration").values()
        if i["Properties"]["IntegrationType"] == "MOCK"
    ]
    assert len(mock_integrations) == len(VARIANT.mock_routes)


def test_mock_and_lambda_routes_share_the_websocket_api(resources: dict[str, dict[str, Any]]) -> None:
    keys = set(api_assertions.routes(resources, _api(resources, "WEBSOCKET")))
    assert keys == {"$connect", "$default", "ping", "presence.ping"}
    answered = {
        r["Properties"]["RouteId"]["Ref"]
        for r in api_assertions.of_type(resources, "AWS::ApiGatewayV2::RouteResponse").values()
    }
    routes = api_assertions.routes(resources, _api(resources, "WEBSOCKET"))
    assert answered == {routes[key][0] for key in ("$default", "ping", "presence.ping")}


def test_reply_types_must_be_protocol_names() -> None:
    assert '"type": "presence.pong"' in response_template("presence.pong")
    for bad in ("", "Pong", 'pong", "x": "y', "$pong", "#set", "po ng"):
        with pytest.raises(ValueError, match="not a protocol frame type"):
            response_template(bad)


def test_a_key_cannot_be_both_a_lambda_route_and_a_mock_route(tmp_path: Path) -> None:
    both = Application(
        name="Both",
        tables=(CONNECTIONS, USERS),
        functions=(GATE, CONNECT, FALLBACK),
        authorizer=Authorizer(GATE),
        routes=(Route("$connect", CONNECT, two_way=False), Route("ping", FALLBACK)),
        mock_routes=(PING,),
    )
    with pytest.raises(ValueError, match="more than once"):
        build_app(application=both, nag=False, outdir=str(tmp_path))


# --- the HTTP API ------------------------------------------------------------------------


@pytest.mark.parametrize("route", HTTP_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_http_routes_as_declared(resources: dict[str, dict[str, Any]], route: HttpRoute) -> None:
    api_assertions.assert_http_route(resources, _api(resources, "HTTP"), route, _function_id(resources, route.function))


def test_a_function_serving_several_routes_has_one_integration(resources: dict[str, dict[str, Any]]) -> None:
    http_api = _api(resources, "HTTP")
    routes = api_assertions.routes(resources, http_api)
    targets = {key: api_assertions.target_integration(resources, props)[0] for key, (_, props) in routes.items()}
    assert targets["GET /api/prefs"] == targets["PUT /api/prefs"]
    assert targets["POST /api/push/subscriptions"] == targets["DELETE /api/push/subscriptions/{subscriptionId}"]
    assert targets["GET /api/prefs"] != targets["POST /api/push/subscriptions"]


def test_functions_reached_only_over_http_are_built(resources: dict[str, dict[str, Any]]) -> None:
    push = resources[_function_id(resources, PUSH)]["Properties"]
    assert push["Handler"] == PUSH.handler


def test_cors_origins_come_from_the_context(resources: dict[str, dict[str, Any]]) -> None:
    cors = resources[_api(resources, "HTTP")]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://app.example.com", "https://admin.example.com:8443"]


def test_the_stack_configures_the_cors_policy_the_local_runtime_applies(resources: dict[str, dict[str, Any]]) -> None:
    """One policy (`tidings_infra.cors.CorsPolicy`): what API Gateway is told is what
    `tidings dev` answers browsers with."""
    cors = resources[_api(resources, "HTTP")]["Properties"]["CorsConfiguration"]
    local = CorsPolicy()
    assert cors["AllowMethods"] == list(local.allow_methods)
    assert cors["AllowHeaders"] == list(local.allow_headers)
    assert cors["ExposeHeaders"] == list(local.expose_headers)
    assert cors["MaxAge"] == local.max_age_seconds
    assert cors["AllowCredentials"] is False


def test_http_api_url_output(template: dict[str, Any]) -> None:
    url = template["Outputs"][names.OUTPUT_HTTP_API_URL]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and {"Ref": _api(template["Resources"], "HTTP")} in url


def test_cors_origin_parsing() -> None:
    assert cors_allowed_origins(None) == ["*"]
    assert cors_allowed_origins(["https://a.example", "http://localhost:8080/"]) == [
        "https://a.example",
        "http://localhost:8080",
    ]
    for bad in ("", " , ", "*,https://a.example", "a.example", "https://a.example/app", "ftp://a.example"):
        with pytest.raises(ValueError, match=names.CONTEXT_CORS_ALLOWED_ORIGINS):
            cors_allowed_origins(bad)


def test_functions_must_be_declared(tmp_path: Path) -> None:
    undeclared = Application(
        name="Undeclared",
        tables=(CONNECTIONS, USERS),
        functions=(GATE, CONNECT),
        authorizer=Authorizer(GATE),
        routes=(Route("$connect", CONNECT, two_way=False),),
        http_routes=(HttpRoute("GET", "/api/prefs", PREFS),),
    )
    with pytest.raises(ValueError, match=r"not listed in Application.functions: \['Prefs'\]"):
        build_app(application=undeclared, nag=False, outdir=str(tmp_path))
