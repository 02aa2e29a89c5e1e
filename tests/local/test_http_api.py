"""The HTTP API emulation: declared routes, payload format 2.0 events and responses."""

from __future__ import annotations

import aiohttp
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model
from botocore.credentials import Credentials

from tests.local.stub_app import REST
from tidings_infra.cors import CorsPolicy
from tidings_local import sigv4
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


# --- CORS, as API Gateway applies the HTTP API's CORS configuration -------------------------------

PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}


@pytest.mark.parametrize("path", ["/api/things", "/api/no-such-route"])
async def test_a_preflight_is_answered_by_the_gateway_without_invoking_a_function(
    runtime: LocalRuntime, http: aiohttp.ClientSession, path: str
) -> None:
    headers = {**PREFLIGHT, "Access-Control-Request-Headers": "authorization,content-type"}
    async with http.options(f"{runtime.url}{path}", headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "GET,POST,PUT,PATCH,DELETE"
        assert response.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
        assert response.headers["Access-Control-Max-Age"] == "3600"
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert "Vary" not in response.headers  # `*` does not depend on the origin
        assert await response.read() == b""
    assert events(runtime) == []


async def test_an_options_request_that_is_no_preflight_is_routed_like_any_other(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    async with http.options(f"{runtime.url}/api/things", headers={"Origin": "https://app.example.com"}) as response:
        assert response.status == 404  # no OPTIONS route, and no Access-Control-Request-Method
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_cross_origin_response_gets_the_allowed_origin_and_exposed_headers_not_the_functions(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    origin = {"Origin": "https://app.example.com"}
    async with http.post(f"{runtime.url}/api/things", json={"name": "x"}, headers=origin) as response:
        assert response.status == 201
        assert response.headers.getall("Access-Control-Allow-Origin") == ["*"]  # the function's is dropped
        assert response.headers["Access-Control-Expose-Headers"] == "retry-after"
        assert response.headers["X-Thing"] == "made"
    async with http.get(f"{runtime.url}/api/things/t-1", headers=origin) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_same_origin_request_gets_no_cors_headers(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{runtime.url}/api/things", json={"name": "x"}) as response:
        assert response.status == 201
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]


async def test_listed_origins_are_echoed_with_vary_and_others_get_no_cors_headers(start_runtime) -> None:
    runtime = await start_runtime(cors=CorsPolicy(allow_origins=("https://app.example.com", "http://localhost:3000")))
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{runtime.url}/api/things", headers=PREFLIGHT) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
            assert response.headers["Vary"] == "Origin"
        other = {**PREFLIGHT, "Origin": "https://evil.example"}
        async with http.options(f"{runtime.url}/api/things", headers=other) as response:
            assert response.status == 204
            assert not [name for name in response.headers if name.lower().startswith("access-control-")]
        async with http.get(f"{runtime.url}/api/things/t-1", headers={"Origin": "http://localhost:3000"}) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
            assert response.headers["Vary"] == "Origin"
        async with http.get(f"{runtime.url}/api/things/t-1", headers={"Origin": "https://evil.example"}) as response:
            assert response.status == 200  # the function ran; the browser withholds the answer
            assert "Access-Control-Allow-Origin" not in response.headers


# --- IAM authorization, as API Gateway applies it before invoking the function ------------------


async def test_an_iam_route_takes_a_sigv4_signed_request_and_gives_the_function_the_iam_identity(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    url = f"{runtime.url}/admin/things/t-1?x=1"
    body = b'{"name": "x"}'
    headers = sigv4.sign("PUT", url, body, {"Content-Type": "application/json"})
    async with http.put(url, data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    assert answer["body"] == body.decode()
    assert answer["iam"]["accessKey"] == sigv4.DEV_ACCESS_KEY
    assert answer["iam"]["userArn"].endswith(":user/tidings-local")
    assert events(runtime)[0]["requestContext"]["authorizer"]["iam"]["accountId"]


async def test_an_iam_route_refuses_unsigned_and_wrongly_signed_requests_without_invoking(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    url = f"{runtime.url}/admin/things/t-1"
    async with http.put(url, data=b"{}") as response:
        assert response.status == 403
        assert await response.json() == {"message": "Forbidden"}
    wrong = sigv4.sign("PUT", url, b"{}", credentials=Credentials(sigv4.DEV_ACCESS_KEY, "not-the-secret"))
    async with http.put(url, data=b"{}", headers=wrong) as response:
        assert response.status == 403
        assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
        assert (await response.json())["message"].startswith("The request signature we calculated does not match")
    tampered = sigv4.sign("PUT", url, b"{}")
    async with http.put(url, data=b'{"a": 1}', headers=tampered) as response:
        assert response.status == 403
    assert events(runtime) == []
