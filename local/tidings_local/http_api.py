"""API Gateway HTTP API, locally: the declared `HttpRoute`s with Lambda payload format 2.0.

`HttpApi` serves them under the same port as the WebSocket API (`gateway.py` routes to it
whatever no other route takes), from these pure functions:

- routing: `METHOD /path/{param}` templates (and greedy `{param+}`), the most specific match
  first (most literal segments), as API Gateway selects routes;
- the event (payload 2.0): `version`, `routeKey`, `rawPath`, `rawQueryString`, lower-cased
  `headers` (repeated values joined by commas), `cookies`, `queryStringParameters`,
  `pathParameters`, `requestContext.http`, `body` / `isBase64Encoded`;
- the response: a dict with `statusCode` is used as is (`headers`, `cookies`, `body`,
  `isBase64Encoded`); anything else is "inferred" as API Gateway does: 200, JSON body.

CORS is the stack's policy (`tidings_infra.cors.CorsPolicy`, `tidings dev --cors-origin`), applied
as API Gateway applies an HTTP API's CORS configuration: a preflight (OPTIONS with `Origin` and
`Access-Control-Request-Method`) is answered here, 204, for any path and without invoking a
function; any other response to a request with an `Origin` gets the allowed origin and the
exposed headers, and CORS headers a function returned are dropped (API Gateway ignores them).

Routes declared with IAM authorization are let through only with a valid SigV4 signature of the
development credentials (`sigv4.py`), refused as API Gateway refuses them (403 and its JSON
`{"message"}`, no invocation), and their event carries `requestContext.authorizer.iam`.

Differences from AWS: the HTTP API shares the WebSocket API's host and port (on AWS it has its
own endpoint), and a path that no route matches gets the runtime's own 404 JSON.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from tidings.kernel.declaration import Application, HttpRoute
from tidings_infra.cors import PREFLIGHT_STATUS, CorsPolicy
from tidings_local import sigv4
from tidings_local.apigw import new_id
from tidings_local.aws import ACCOUNT_ID
from tidings_local.lambdas import FunctionError, Lambdas
from tidings_local.log import logger
from tidings_local.stats import Stats

API_ID = "local-http"
INTEGRATION_TIMEOUT_SECONDS = 30  # the HTTP API's maximum; a longer function is cut off


@dataclass(frozen=True)
class CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str]
    literal_segments: int

    @property
    def key(self) -> str:
        return self.route.key


def compile_routes(application: Application) -> list[CompiledRoute]:
    """The declared routes, most specific first."""
    compiled = []
    for route in application.http_routes:
        parts, literals = [], 0
        for segment in route.path.strip("/").split("/"):
            if match := re.fullmatch(r"\{(\w+)(\+?)\}", segment):
                name, greedy = match.groups()
                parts.append(f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)")
            else:
                parts.append(re.escape(segment))
                literals += 1
        compiled.append(CompiledRoute(route, re.compile("/" + "/".join(parts)), literals))
    return sorted(compiled, key=lambda c: -c.literal_segments)


def match_route(routes: list[CompiledRoute], method: str, path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
    for compiled in routes:
        if compiled.route.method == method and (found := compiled.pattern.fullmatch(path)):
            return compiled, found.groupdict()
    return None


@dataclass(frozen=True)
class HttpRequest:
    """What the gateway read from the HTTP request."""

    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    body: bytes
    source_ip: str
    domain_name: str


def http_event(compiled: CompiledRoute, path_parameters: dict[str, str], request: HttpRequest) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        if name.lower() == "cookie":
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
            continue
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in request.query:
        query[name] = f"{query[name]},{value}" if name in query else value
    now = int(time.time() * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": compiled.key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": request.domain_name,
            "domainPrefix": request.domain_name.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": new_id(),
            "routeKey": compiled.key,
            "stage": "$default",
            "time": datetime.fromtimestamp(now / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": now,
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


def signed_request(request: HttpRequest) -> sigv4.SignedRequest:
    """The request as SigV4 sees it: the URL the client addressed (the `Host` it sent), the raw
    path and query, every header and the body."""
    query = f"?{request.raw_query}" if request.raw_query else ""
    headers: dict[str, str] = {}
    for name, value in request.headers:  # a repeated header is signed as its values joined by commas
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return sigv4.SignedRequest(
        method=request.method,
        url=f"http://{request.domain_name}{request.path}{query}",
        headers=headers,
        body=request.body,
    )


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_response(result: Any) -> HttpResponse:
    """The function's result, read as API Gateway reads a payload 2.0 response."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("Content-Type", "application/json")], body.encode())
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", cookie) for cookie in result.get("cookies") or []]
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpResponse(int(result["statusCode"]), headers, raw)


def json_error(status: int, code: str, message: str) -> web.Response:
    """The runtime's own JSON error (an unknown path, a wrong method), not API Gateway's."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class HttpApi:
    """The HTTP API's routes: each request is its route's function's payload 2.0 event."""

    def __init__(self, application: Application, lambdas: Lambdas, stats: Stats, cors: CorsPolicy) -> None:
        self.lambdas = lambdas
        self.stats = stats
        self.cors = cors
        self._routes = compile_routes(application)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if self.cors.is_preflight(request.method, request.headers):
            return web.Response(status=PREFLIGHT_STATUS, headers=self.cors.preflight_headers(origin))
        response = await self._route(request)
        for name in [name for name in response.headers if name.lower().startswith("access-control-")]:
            del response.headers[name]
        response.headers.update(self.cors.response_headers(origin))
        return response

    async def _route(self, request: web.Request) -> web.Response:
        found = match_route(self._routes, request.method, request.path)
        if found is None:
            return json_error(404, "NOT_FOUND", f"No such path: {request.path}")
        compiled, path_parameters = found
        self.stats.http_request()
        received = HttpRequest(
            method=request.method,
            path=request.rel_url.raw_path,
            raw_query=request.rel_url.raw_query_string,
            headers=list(request.headers.items()),
            query=list(request.query.items()),
            body=await request.read(),
            source_ip=request.remote or "127.0.0.1",
            domain_name=request.host,
        )
        event = http_event(compiled, path_parameters, received)
        if compiled.route.authorization == "iam":
            try:
                event["requestContext"]["authorizer"] = {"iam": sigv4.verify(signed_request(received))}
            except sigv4.SignatureRefused as refused:
                return web.json_response(
                    refused.body(),
                    status=refused.status,
                    headers={
                        "x-amzn-ErrorType": refused.error_type,
                        "apigw-requestid": event["requestContext"]["requestId"],
                    },
                )
        try:
            result = await asyncio.wait_for(
                self.lambdas.invoke(compiled.route.function, event), INTEGRATION_TIMEOUT_SECONDS
            )
            response = http_response(result)
        except TimeoutError:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        except FunctionError as exc:
            logger.error("HTTP route failed", extra={"route": compiled.key, "errorType": exc.error_type})
            return web.json_response({"message": "Internal Server Error"}, status=500)
        except Exception:
            logger.exception("HTTP route failed", extra={"route": compiled.key})
            return web.json_response({"message": "Internal Server Error"}, status=500)
        headers = CIMultiDict(response.headers)
        headers.setdefault("apigw-requestid", event["requestContext"]["requestId"])
        return web.Response(status=response.status, headers=headers, body=response.body)
