"""API Gateway, locally: the WebSocket API and its @connections management API on one port.

Routes of the aiohttp application:

- `GET /ws`: the WebSocket API. The handshake runs the declared authorizer (REQUEST type, on
  `$connect`) and then the `$connect` route, exactly as API Gateway does: the authorizer raising
  `Unauthorized` is HTTP 401, a Deny policy 403, any other failure 500; a `$connect` answer
  outside 2xx refuses the handshake with that status. Nothing is kept for a refused connection.
  Frames are routed by `$request.body.type`, with `$default` as the fallback.
- `POST|GET|DELETE /@connections/{connectionId}`: PostToConnection, GetConnection and
  DeleteConnection, answering 410 `GoneException` for an unknown or closed connection, so the
  handlers' unchanged boto3 `apigatewaymanagementapi` client works against it.
- `GET /healthz`: 200 once every part is up, 503 before.
- `GET /_local/stats`: local-only diagnostics for the benchmark (see `stats.py`).
- `POST /_local/sessions {"userId"}`: local-only sign-in (access + refresh token) for the CLI.
- `/_local/faults`, `GET /_local/queues/{queueId}`: local-only fault injection and queue
  inspection (`faults.py`); a rule may make the @connections API answer 500 or 429.
- `POST /_local/reindex`: local-only search index rebuild for `tidings reindex`; answers NDJSON
  progress lines `{chatsDone, chatsTotal, messages}` (or a last `{error}` line).
- `GET /`, `/app/...`, `/sdk/...`, `/config.json`: the web client (`static.py`).
- everything else: the HTTP API's declared routes (`http_api.py`), else 404 JSON.

API Gateway's limits and close behaviour are applied: a message over 128 KiB closes the
connection with 1009, and a route reply over 128 KiB is not delivered (the client gets the
gateway's `Internal server error` instead); no frame from the client for the idle timeout (10 min on AWS), or the
maximum connection duration (2 h), closes it with 1001; DeleteConnection closes with 1000.
Each close invokes `$disconnect`. A request whose request line and header values exceed
10,240 bytes is refused with 413, and a WebSocket URL over 4,096 characters with 414, before
any function runs (see `_request_limits`).

A connection is registered for the @connections API only once its handshake has completed, so
PostToConnection and DeleteConnection answer 410 for a connection still inside its `$connect`,
as API Gateway does; it opens all the same once `$connect` returns 2xx.

Frames are handled as API Gateway handles them: each frame's integration is invoked as it
arrives, so frames of one connection run concurrently (up to `FRAMES_IN_FLIGHT` at a time) and
replies can overtake each other, locally as on AWS. Clients must not rely on frame order.

Differences from AWS, on purpose:
- `$disconnect` runs after the connection's in-flight frames are handled (on AWS it may overlap
  with them), and not at all when the runtime itself shuts down;
- the 32 KB WebSocket frame limit is not applied (only the 128 KiB message limit), and there is
  no connection-rate throttling;
- HTTP requests to @connections are not SigV4-verified; instead they, and `/_local/*`, answer
  403 to any peer but this machine unless `allow_remote_local_endpoints` (`local_only.py`).

Logs carry metadata only (connectionId, route, status): never frame bodies or message content.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from tidings.kernel.declaration import Application
from tidings.kernel.wire import iso
from tidings_local.apigw import (
    AuthorizerConfigurationError,
    ConnectionRequest,
    authorizer_context,
    authorizer_event,
    connect_event,
    disconnect_event,
    gateway_error,
    message_event,
    method_arn,
    mock_reply,
    new_id,
    policy_allows,
    select_route,
)
from tidings_local.faults import connection_error
from tidings_local.http_api import (
    INTEGRATION_TIMEOUT_SECONDS,
    HttpRequest,
    compile_routes,
    http_event,
    http_response,
    match_route,
)
from tidings_local.lambdas import Lambdas
from tidings_local.local_only import peer_check
from tidings_local.log import logger
from tidings_local.static import add_web_client_routes
from tidings_local.stats import Stats

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message payload limit
CLOSE_HANDSHAKE_SECONDS = 2.0
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


# Frames of one connection handled at once; more wait (API Gateway's own limit is far higher,
# but one process on a laptop gains nothing from more).
FRAMES_IN_FLIGHT = 16


@dataclass
class Connection:
    request: ConnectionRequest
    ws: web.WebSocketResponse
    opened: float = field(default_factory=time.monotonic)
    last_client_frame: float = field(default_factory=time.monotonic)
    last_active_at: float = field(default_factory=time.time)
    # Set when the server closes the connection: (disconnectStatusCode, disconnectReason).
    server_close: tuple[int, str] | None = None
    client_close_reason: str = ""
    inbox: asyncio.Queue[str | bytes | None] = field(default_factory=asyncio.Queue)
    close_requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def gone(self) -> bool:
        return self.server_close is not None or self.ws.closed

    def request_close(self, code: int, reason: str) -> None:
        """Asks the connection's reader to close it. Only the reader closes, so the close
        handshake completes cleanly (the client sees `code`, not 1006)."""
        if self.server_close is None:
            self.server_close = (code, reason)
        self.close_requested.set()


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


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _management_error(status: int, error_type: str, message: str) -> web.Response:
    """An error botocore's rest-json parser turns into `client.exceptions.<error_type>`."""
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": error_type})


class Gateway:
    """The aiohttp application emulating the WebSocket API and its management API."""

    def __init__(
        self,
        application: Application,
        lambdas: Lambdas,
        stats: Stats,
        *,
        idle_timeout: float,
        max_duration: float,
        is_ready: Callable[[], bool],
        local_routes: Sequence[web.RouteDef] = (),
        allow_remote_local_endpoints: bool = False,
    ) -> None:
        self.application = application
        self._allow_remote_local_endpoints = allow_remote_local_endpoints
        self._local_routes = local_routes
        self.lambdas = lambdas
        self.stats = stats
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self._is_ready = is_ready
        self.connections: dict[str, Connection] = {}
        self._shutting_down = False
        self._http_routes = compile_routes(application)

    def web_app(self) -> web.Application:
        logging.getLogger("aiohttp.server").addFilter(_without_request_excerpts)
        app = web.Application(
            middlewares=[
                peer_check(allow_remote=self._allow_remote_local_endpoints),
                self._request_limits,
                self._json_errors,
            ],
            handler_args={"max_line_size": PARSER_LINE_LIMIT, "max_field_size": PARSER_LINE_LIMIT},
        )
        app.router.add_get("/ws", self._websocket)
        app.router.add_post("/@connections/{connectionId}", self._post_to_connection)
        app.router.add_get("/@connections/{connectionId}", self._get_connection)
        app.router.add_delete("/@connections/{connectionId}", self._delete_connection)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/_local/stats", self._stats)
        app.router.add_post("/_local/sessions", self._issue_session)
        app.router.add_post("/_local/reindex", self._reindex)
        app.router.add_routes(self._local_routes)
        add_web_client_routes(app, is_ready=self._is_ready)  # `/`, /app, /sdk, /config.json
        app.router.add_route("*", "/{path:.*}", self._http_api)  # last: everything else
        return app

    @web.middleware
    async def _request_limits(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """API Gateway's size limits on what arrives before the body. The log names the path
        and the sizes only: the query string and the headers may carry a token."""
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
    async def _json_errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _json_error(404, "NOT_FOUND", f"No such path: {request.path}")
        except web.HTTPMethodNotAllowed:
            return _json_error(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}")

    # --- operations -----------------------------------------------------------------------

    async def _healthz(self, _: web.Request) -> web.Response:
        if self._is_ready():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "starting"}, status=503)

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(self.stats.snapshot())

    async def _issue_session(self, request: web.Request) -> web.Response:
        """Local-only sign-in for `tidings session USER`: an access token plus a refresh token
        stored in this process's tables (on AWS, whatever signs people in does this)."""
        from tidings.sessions.compose import issue_session

        try:
            body = await request.json()
        except ValueError:
            body = None
        user_id = body.get("userId") if isinstance(body, dict) else None
        if not isinstance(user_id, str) or not user_id:
            return _json_error(400, "BAD_FRAME", 'Send {"userId": "<user id>"}')
        session = await asyncio.get_running_loop().run_in_executor(None, issue_session, user_id)
        return web.json_response(session)

    async def _reindex(self, request: web.Request) -> web.StreamResponse:
        """Rebuilds the search index from this process's message store (the data lives here,
        in moto), streaming progress as NDJSON. On AWS the `SearchReindex` function does it."""
        from tidings.kernel.errors import TidingsError
        from tidings.search.compose import operator_reindexer as reindexer
        from tidings.search.indexing import ReindexProgress

        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def progress(step: ReindexProgress) -> None:
            line = {"chatsDone": step.chats_done, "chatsTotal": step.chats_total, "messages": step.messages_indexed}
            loop.call_soon_threadsafe(lines.put_nowait, line)

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        job = loop.run_in_executor(None, lambda: reindexer().run(progress))
        while not (job.done() and lines.empty()):
            getter = asyncio.ensure_future(lines.get())
            waiting: set[asyncio.Future[Any]] = {getter, job}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await response.write((json.dumps(getter.result()) + "\n").encode())
            else:
                getter.cancel()
        try:
            job.result()
        except TidingsError as exc:
            await response.write(
                (json.dumps({"error": {"code": exc.code.value, "message": exc.message}}) + "\n").encode()
            )
        except Exception:
            logger.exception("reindex failed")
            await response.write(b'{"error": {"code": "INTERNAL", "message": "reindex failed; see the runtime log"}}\n')
        await response.write_eof()
        return response

    async def close_all(self) -> None:
        """Shutdown: closes every connection with 1001, without invoking `$disconnect`."""
        self._shutting_down = True
        for connection in list(self.connections.values()):
            connection.request_close(int(WSCloseCode.GOING_AWAY), "Going away")
        while self.connections:
            await asyncio.sleep(0.01)

    # --- the WebSocket API ----------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_HANDSHAKE_SECONDS)
        if not ws.can_prepare(request).ok:
            return _json_error(426, "UPGRADE_REQUIRED", "This endpoint speaks WebSocket only")
        if not self._is_ready() or self._shutting_down:
            return _json_error(503, "UNAVAILABLE", "The runtime is not ready")
        connection_request = self._connection_request(request)
        refusal = await self._handshake(connection_request)
        if refusal is not None:
            return refusal
        connection = Connection(request=connection_request, ws=ws)
        try:
            await ws.prepare(request)
        except (ConnectionError, RuntimeError):  # the client left while $connect ran
            connection.server_close = (int(WSCloseCode.ABNORMAL_CLOSURE), "Client went away")
            await self._disconnect(connection)
            return ws
        self.connections[connection_request.connection_id] = connection
        logger.info(
            "connection opened",
            extra={
                "connectionId": connection_request.connection_id,
                "principalId": (connection_request.authorizer or {}).get("principalId"),
            },
        )
        worker = asyncio.create_task(self._work(connection))
        try:
            await self._read(connection)
        finally:
            del self.connections[connection_request.connection_id]
            await connection.inbox.put(None)
            if self._shutting_down:
                worker.cancel()
            else:
                await worker
                await self._disconnect(connection)
        return ws

    def _connection_request(self, request: web.Request) -> ConnectionRequest:
        connection_id = new_id()
        while connection_id in self.connections:
            connection_id = new_id()
        source_ip = request.remote or "127.0.0.1"
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi.setdefault(name, []).append(value)
        port = str(request.url.port or "")
        trace_id = f"Root=1-{int(time.time()):08x}-{new_id()[:12].encode().hex()}"
        for name, value in (
            ("X-Amzn-Trace-Id", trace_id),
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Port", port),
            ("X-Forwarded-Proto", request.scheme),
        ):
            if name not in request.headers:
                headers[name] = value
                multi[name] = [value]
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in request.query.items():
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        return ConnectionRequest(
            connection_id=connection_id,
            domain_name=request.host,
            source_ip=source_ip,
            user_agent=request.headers.get("User-Agent"),
            headers=headers,
            multi_value_headers=multi,
            query=query,
            multi_value_query=multi_query,
        )

    async def _handshake(self, request: ConnectionRequest) -> web.Response | None:
        """Authorizer, then `$connect`. Returns the refusal, or None to complete the upgrade."""
        authorizer = self.application.authorizer.function
        started = time.monotonic()
        try:
            response = await self.lambdas.invoke(authorizer, authorizer_event(request))
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return self._refuse(request, 401, "Unauthorized")
            logger.exception("authorizer failed", extra={"connectionId": request.connection_id})
            return self._refuse(request, 500, "Internal server error")
        try:
            allowed = policy_allows(response, method_arn("$connect"))
            if allowed:
                request.authorizer = authorizer_context(response, int((time.monotonic() - started) * 1000))
        except AuthorizerConfigurationError as exc:
            logger.error("authorizer response unusable", extra={"reason": str(exc)})
            return self._refuse(request, 500, "Internal server error")
        if not allowed:
            return self._refuse(request, 403, "Forbidden")

        route = self.application.route("$connect")
        if route is None:
            return None
        try:
            result = await self.lambdas.invoke(route.function, connect_event(request))
        except Exception:
            logger.exception("$connect failed", extra={"connectionId": request.connection_id})
            return self._refuse(request, 500, "Internal server error")
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        if isinstance(status, int) and 200 <= status < 300:
            return None
        body = result.get("body") if isinstance(result, dict) else None
        status = status if isinstance(status, int) and 100 <= status < 600 else 502
        logger.info("connection refused by $connect", extra={"connectionId": request.connection_id, "status": status})
        return web.Response(status=status, text=body if isinstance(body, str) else None)

    def _refuse(self, request: ConnectionRequest, status: int, message: str) -> web.Response:
        logger.info("connection refused", extra={"connectionId": request.connection_id, "status": status})
        return web.json_response({"message": message}, status=status)

    async def _read(self, connection: Connection) -> None:
        """Reads frames into the connection's inbox until it closes or times out."""
        ws = connection.ws
        while not connection.close_requested.is_set():
            now = time.monotonic()
            idle_at = connection.last_client_frame + self.idle_timeout
            expires_at = connection.opened + self.max_duration
            receive = asyncio.ensure_future(ws.receive(timeout=max(0.001, min(idle_at, expires_at) - now)))
            close_requested = asyncio.ensure_future(connection.close_requested.wait())
            await asyncio.wait((receive, close_requested), return_when=asyncio.FIRST_COMPLETED)
            close_requested.cancel()
            if not receive.done():
                receive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receive
                break
            try:
                message = receive.result()
            except TimeoutError:
                reason = "Going away" if time.monotonic() >= idle_at else "Maximum connection duration reached"
                connection.server_close = (int(WSCloseCode.GOING_AWAY), reason)
                await self._close(ws, WSCloseCode.GOING_AWAY, reason)
                return
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                self.stats.gateway_message("in")
                connection.last_client_frame = time.monotonic()
                connection.last_active_at = time.time()
                connection.inbox.put_nowait(message.data)
            elif message.type == WSMsgType.ERROR and getattr(message.data, "code", None) == WSCloseCode.MESSAGE_TOO_BIG:
                connection.server_close = (int(WSCloseCode.MESSAGE_TOO_BIG), "Message too big")
                return
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                if message.type == WSMsgType.CLOSE and isinstance(message.extra, str):
                    connection.client_close_reason = message.extra
                return
        assert connection.server_close is not None
        code, reason = connection.server_close
        await self._close(ws, code, reason)

    async def _work(self, connection: Connection) -> None:
        """Dispatches each frame as it arrives, concurrently, as API Gateway does; waits for the
        frames in flight before the connection's `$disconnect`."""
        in_flight = asyncio.Semaphore(FRAMES_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()

        async def handle(data: str | bytes) -> None:
            try:
                await self._dispatch(connection, data)
            except Exception:  # never let one frame stop the connection
                logger.exception("dispatch failed", extra={"connectionId": connection.request.connection_id})
            finally:
                in_flight.release()

        while (data := await connection.inbox.get()) is not None:
            await in_flight.acquire()
            task = asyncio.create_task(handle(data))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def _dispatch(self, connection: Connection, data: str | bytes) -> None:
        request = connection.request
        mocked = mock_reply(self.application, data, new_id())
        if mocked is not None:  # answered by the gateway itself, as API Gateway's MOCK integration
            await self._send(connection, mocked)
            return
        route = select_route(self.application, data)
        if route is None:
            await self._send(connection, gateway_error("Forbidden", request))
            return
        started = time.monotonic()
        try:
            result = await self.lambdas.invoke(route.function, message_event(request, route.key, data))
        except Exception:
            logger.exception("route failed", extra={"route": route.key, "connectionId": request.connection_id})
            await self._send(connection, gateway_error("Internal server error", request))
            return
        logger.debug(
            "route handled",
            extra={
                "route": route.key,
                "connectionId": request.connection_id,
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        if route.two_way and isinstance(result, dict) and isinstance(result.get("body"), str):
            body = result["body"]
            size = len(body.encode("utf-8", errors="surrogatepass"))
            if size > MAX_MESSAGE_BYTES:
                # API Gateway's 128 KB message quota covers every message it sends, route replies
                # included; it does not deliver a larger integration response. Locally the reply is
                # dropped, logged, and the client gets the gateway's generic error, so a reply that
                # would never reach a client on AWS never reaches one here either.
                logger.error(
                    "route reply over the message limit; not delivered",
                    extra={"route": route.key, "connectionId": request.connection_id, "bytes": size},
                )
                await self._send(connection, gateway_error("Internal server error", request))
                return
            await self._send(connection, body)

    async def _disconnect(self, connection: Connection) -> None:
        if connection.server_close is not None:
            status, reason = connection.server_close
        else:
            status = connection.ws.close_code or int(WSCloseCode.ABNORMAL_CLOSURE)
            reason = connection.client_close_reason or "Connection closed by the client"
        logger.info("connection closed", extra={"connectionId": connection.request.connection_id, "code": status})
        route = self.application.route("$disconnect")
        if route is None:
            return
        try:
            await self.lambdas.invoke(route.function, disconnect_event(connection.request, status, reason))
        except Exception:
            logger.exception("$disconnect failed", extra={"connectionId": connection.request.connection_id})

    async def _send(self, connection: Connection, data: str | bytes) -> bool:
        if connection.ws.closed:
            return False
        try:
            if isinstance(data, str):
                await connection.ws.send_str(data)
            else:
                await connection.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return False
        self.stats.gateway_message("out")
        connection.last_active_at = time.time()
        return True

    async def _close(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await ws.close(code=code, message=reason.encode())

    # --- the HTTP API -----------------------------------------------------------------------

    async def _http_api(self, request: web.Request) -> web.StreamResponse:
        found = match_route(self._http_routes, request.method, request.path)
        if found is None:
            return _json_error(404, "NOT_FOUND", f"No such path: {request.path}")
        compiled, path_parameters = found
        self.stats.http_request()
        event = http_event(
            compiled,
            path_parameters,
            HttpRequest(
                method=request.method,
                path=request.rel_url.raw_path,
                raw_query=request.rel_url.raw_query_string,
                headers=list(request.headers.items()),
                query=list(request.query.items()),
                body=await request.read(),
                source_ip=request.remote or "127.0.0.1",
                domain_name=request.host,
            ),
        )
        try:
            result = await asyncio.wait_for(
                self.lambdas.invoke(compiled.route.function, event), INTEGRATION_TIMEOUT_SECONDS
            )
            response = http_response(result)
        except TimeoutError:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        except Exception:
            logger.exception("HTTP route failed", extra={"route": compiled.key})
            return web.json_response({"message": "Internal Server Error"}, status=500)
        headers = CIMultiDict(response.headers)
        headers.setdefault("apigw-requestid", event["requestContext"]["requestId"])
        return web.Response(status=response.status, headers=headers, body=response.body)

    # --- the @connections management API --------------------------------------------------

    def _open_connection(self, request: web.Request) -> Connection | None:
        connection = self.connections.get(request.match_info["connectionId"])
        return None if connection is None or connection.gone else connection

    def _injected_error(self, request: web.Request, operation: str) -> web.Response | None:
        connection_id = request.match_info["connectionId"]
        connection = self.connections.get(connection_id)
        user_id = (connection.request.authorizer or {}).get("principalId") if connection else None
        error = connection_error(operation, connection_id, user_id)
        return None if error is None else _management_error(*error)

    @staticmethod
    def _gone(request: web.Request) -> web.Response:
        return _management_error(410, "GoneException", f"Connection {request.match_info['connectionId']} is gone")

    async def _post_to_connection(self, request: web.Request) -> web.Response:
        if (injected := self._injected_error(request, "PostToConnection")) is not None:
            return injected
        connection = self._open_connection(request)
        if connection is None:
            return self._gone(request)
        data = await request.read()
        if len(data) > MAX_MESSAGE_BYTES:
            return _management_error(
                413, "PayloadTooLargeException", f"Data is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}"
            )
        try:
            frame: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            frame = data
        if not await self._send(connection, frame):
            return self._gone(request)
        return web.Response(status=200)

    async def _get_connection(self, request: web.Request) -> web.Response:
        if (injected := self._injected_error(request, "GetConnection")) is not None:
            return injected
        connection = self._open_connection(request)
        if connection is None:
            return self._gone(request)
        # The wire names are camelCase; boto3 presents them as ConnectedAt, Identity.SourceIp...
        return web.json_response(
            {
                "connectedAt": iso(connection.request.connected_at / 1000),
                "identity": {
                    "sourceIp": connection.request.source_ip,
                    "userAgent": connection.request.user_agent or "",
                },
                "lastActiveAt": iso(connection.last_active_at),
            }
        )

    async def _delete_connection(self, request: web.Request) -> web.Response:
        if (injected := self._injected_error(request, "DeleteConnection")) is not None:
            return injected
        connection = self._open_connection(request)
        if connection is None:
            return self._gone(request)
        # Like DeleteConnection, answer at once; the close handshake completes in the background.
        connection.request_close(int(WSCloseCode.OK), "Connection deleted")
        return web.Response(status=204)
