"""The HTTP API emulation: declared routes, payload format 2.0 events and responses."""

from __future__ import annotations

import aiohttp
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from tests.local.stub_app import REST
from tidings_local.runtime import LocalRuntime


def events(runtime: LocalRuntime) -> list[dict]:
    return runtime.lambdas.events(REST)


@pytest.mark.parametrize(
    ("path", "route_key", "parameters"),
    [
        ("/api/things/t-1", "GET /api/things/{thingId}", {"thingId": "t-1"}),
        ("/api/things/special", "GET /api/things/special", None),  # the literal route wins
        ("/api/files/a/b/c.txt", "GET /api/files/{path+}", {"path": "a/b/c.txt"}),
    ],
)
async def test_routes_are_matched_and_the_inferred_response_is_json(
    runtime: LocalRuntime, http: aiohttp.ClientSession, path: str, route_key: str, parameters: dict | None
) -> None:
    async with http.get(f"{runtime.url}{path}") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"routeKey": route_key, "pathParameters": parameters}
        assert response.headers["apigw-requestid"]


async def test_the_event_is_payload_2_0(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Bearer x", "X-Multi": "1", "Cookie": "a=1; b=2"}
    async with http.get(f"{runtime.url}/api/things/t-1?limit=2&limit=3", headers=headers) as response:
        assert response.status == 200
    [event] = events(runtime)
    parsed = APIGatewayProxyEventV2Model.model_validate(event)
    assert parsed.routeKey == "GET /api/things/{thingId}"
    assert parsed.rawPath == "/api/things/t-1"
    assert parsed.rawQueryString == "limit=2&limit=3"
    assert parsed.queryStringParameters == {"limit": "2,3"}
    assert parsed.pathParameters == {"thingId": "t-1"}
    assert parsed.cookies == ["a=1", "b=2"]
    assert event["headers"]["authorization"] == "Bearer x"
    assert "cookie" not in event["headers"]
    assert parsed.requestContext.http.method == "GET"
    assert "body" not in event


async def test_a_full_response_keeps_status_headers_cookies_and_body(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{runtime.url}/api/things", json={"name": "x"}) as response:
        assert response.status == 201
        assert response.headers["X-Thing"] == "made"
        assert response.headers["Set-Cookie"] == "session=abc; Path=/"
        assert await response.json() == {"got": {"name": "x"}}
    assert events(runtime)[0]["isBase64Encoded"] is False


async def test_failures_and_unknown_routes(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{runtime.url}/api/things/t-1?fail=1") as response:
        assert response.status == 500
        assert await response.json() == {"message": "Internal Server Error"}
    for method, path in (("DELETE", "/api/things/t-1"), ("GET", "/api/nothing")):
        async with http.request(method, f"{runtime.url}{path}") as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "NOT_FOUND"
    async with http.get(f"{runtime.url}/_local/stats") as response:
        assert (await response.json())["httpRequests"] == 1
