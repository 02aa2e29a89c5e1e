"""API Gateway, locally: one aiohttp application on one port, put together from its parts.

| routes | module |
|---|---|
| `GET /ws` | the WebSocket API (`websocket_api.py`) |
| `POST\\|GET\\|DELETE /@connections/{connectionId}` | its management API (`management_api.py`) |
| `GET /healthz`, `/_local/stats`, `/_local/sessions`, `/_local/reindex` | `local_endpoints.py` |
| `/_local/faults`, `GET /_local/queues/{queueId}` | fault injection (`faults.routes`) |
| `POST /_local/schedules/{scheduleId}` | a schedule fired now (`schedules.routes`) |
| `GET /`, `/app/...`, `/sdk/...`, `/config.json` | the web client (`static.py`) |
| everything else | the HTTP API's declared routes (`http_api.py`), else 404 JSON |

In front of all of them, API Gateway's request limits: a request whose request line and header
values exceed 10,240 bytes is refused with 413, and a WebSocket URL over 4,096 characters with
414, before any function runs (`_request_limits`).

Differences from AWS, on purpose: the HTTP API shares the WebSocket API's host and port (on AWS
it has its own endpoint).

The local-only endpoints (`/@connections/*`, `/_local/*`) answer 403 to any peer but this machine
unless `allow_remote_local_endpoints` (`local_only.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from tidings.kernel.declaration import Application
from tidings_infra.cors import CorsPolicy
from tidings_local.faults import Faults
from tidings_local.http_api import HttpApi, json_error
from tidings_local.iam import Policies
from tidings_local.lambdas import Lambdas
from tidings_local.local_endpoints import LocalEndpoints
from tidings_local.local_only import peer_check
from tidings_local.log import logger
from tidings_local.management_api import ManagementApi
from tidings_local.static import add_web_client_routes
from tidings_local.stats import Stats
from tidings_local.websocket_api import MAX_MESSAGE_BYTES, Connection, WebSocketApi

# API Gateway's documented request limits (HTTP API and REST API quotas: "total combined size
# of request line and header values", 10,240 bytes; WebSocket API quotas: "length of the URL",
# 4,096 characters). AWS documents the limits, not the status they are answered with; these are
# the statuses of its REQUEST_TOO_LARGE gateway response (413) and of its own answer to an
# over-long URI (414). Nothing behind the gateway runs, so nothing is stored.
MAX_REQUEST_LINE_AND_HEADER_BYTES = 10_240
MAX_WEBSOCKET_URL_CHARACTERS = 4_096
# aiohttp's own parser limits (8 KiB a line by default) sit well above API Gateway's, so that
# the limits above decide and aiohttp never answers (or logs) an oversized request itself.
PARSER_LINE_LIMIT = 64 * 1024

__all__ = ["MAX_MESSAGE_BYTES", "Connection", "Gateway"]


class _WithoutRequestExcerpts(logging.Filter):
    """aiohttp logs a request it cannot parse with an excerpt of the offending line, which may
    be a token: the record keeps what happened and loses the excerpt."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = "refused an unparsable HTTP request (%s, status %s)"
            record.args = (type(error).__name__, error.code)
            record.exc_info = record.exc_text = None
        return True


_without_request_excerpts = _WithoutRequestExcerpts()


class Gateway:
    """The aiohttp application emulating API Gateway (see the module docstring)."""

    def __init__(
        self,
        application: Application,
        lambdas: Lambdas,
        stats: Stats,
        faults: Faults,
        *,
        idle_timeout: float,
        max_duration: float,
        is_ready: Callable[[], bool],
        activity: Callable[[], dict[str, Any]] | None = None,
        local_routes: Sequence[web.RouteDef] = (),
        allow_remote_local_endpoints: bool = False,
        cors: CorsPolicy | None = None,
    ) -> None:
        self.websocket = WebSocketApi(
            application, lambdas, stats, idle_timeout=idle_timeout, max_duration=max_duration, is_ready=is_ready
        )
        self.management = ManagementApi(self.websocket, faults, stats)
        self.http_api = HttpApi(application, lambdas, stats, cors or CorsPolicy())
        self.local = LocalEndpoints(stats, is_ready, activity)
        self._allow_remote_local_endpoints = allow_remote_local_endpoints
        self._local_routes = local_routes
        self._is_ready = is_ready

    @property
    def connections(self) -> dict[str, Connection]:
        return self.websocket.connections

    @property
    def policies(self) -> Policies | None:
        return self.management.policies

    @policies.setter
    def policies(self, policies: Policies) -> None:
        self.management.policies = policies

    async def close_all(self) -> None:
        await self.websocket.close_all()

    def web_app(self) -> web.Application:
        logging.getLogger("aiohttp.server").addFilter(_without_request_excerpts)
        app = web.Application(
            middlewares=[
                peer_check(allow_remote=self._allow_remote_local_endpoints),
                _request_limits,
                _json_errors,
            ],
            handler_args={"max_line_size": PARSER_LINE_LIMIT, "max_field_size": PARSER_LINE_LIMIT},
        )
        app.router.add_routes(self.websocket.routes())
        app.router.add_routes(self.management.routes())
        app.router.add_routes(self.local.routes())
        app.router.add_routes(self._local_routes)
        add_web_client_routes(app, is_ready=self._is_ready)  # `/`, /app, /sdk, /config.json
        app.router.add_route("*", "/{path:.*}", self.http_api.handle)  # last: everything else
        return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API Gateway's size limits on what arrives before the body. The log names the path and
    the sizes only: the query string and the headers may carry a token."""
    if request.path == "/ws" and len(str(request.url)) > MAX_WEBSOCKET_URL_CHARACTERS:
        logger.info("request refused: URL too long", extra={"path": request.path, "length": len(str(request.url))})
        return web.json_response({"message": "Request-URI Too Long"}, status=414)
    request_line = (
        f"{request.method} {request.rel_url.raw_path_qs} HTTP/{request.version.major}.{request.version.minor}"
    )
    size = len(request_line.encode()) + sum(len(value.encode()) for value in request.headers.values())
    if size > MAX_REQUEST_LINE_AND_HEADER_BYTES:
        logger.info("request refused: headers too large", extra={"path": request.path, "bytes": size})
        return web.json_response({"message": "Request Too Long"}, status=413)
    return await handler(request)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return json_error(404, "NOT_FOUND", f"No such path: {request.path}")
    except web.HTTPMethodNotAllowed:
        return json_error(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}")
