"""API Gateway's WebSocket API, locally: the handshake, frames, routes, limits and closes.

`GET /ws` runs the declared authorizer (REQUEST type, on `$connect`) and then the `$connect`
route, exactly as API Gateway does: the authorizer raising `Unauthorized` is HTTP 401, a Deny
policy 403, any other failure 500; a `$connect` answer outside 2xx refuses the handshake with
that status. Nothing is kept for a refused connection. Frames are routed by
`$request.body.type`, with `$default` as the fallback (`apigw.select_route`).

API Gateway's limits and close behaviour are applied: a message over 128 KiB closes the
connection with 1009, and a route reply over 128 KiB is not delivered (the client gets the
gateway's `Internal server error` instead); no frame from the client for the idle timeout (10
min on AWS), or the maximum connection duration (2 h), closes it with 1001; DeleteConnection
closes with 1000. Each close invokes `$disconnect`.

A connection is known to the @connections API (`management_api.py`) only once its handshake
has completed, so PostToConnection and DeleteConnection answer 410 for a connection still
inside its `$connect`, as API Gateway does; it opens all the same once `$connect` returns 2xx.

Frames are handled as API Gateway handles them: each frame's integration is invoked as it
arrives, so frames of one connection run concurrently (up to `FRAMES_IN_FLIGHT` at a time) and
replies can overtake each other, locally as on AWS. Clients must not rely on frame order.

Differences from AWS, on purpose:
- `$disconnect` runs after the connection's in-flight frames are handled (on AWS it may overlap
  with them), and not at all when the runtime itself shuts down;
- the 32 KB WebSocket frame limit is not applied (only the 128 KiB message limit), and there is
  no connection-rate throttling.

Logs carry metadata only (connectionId, route, status): never frame bodies or message content.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from tidings.kernel.declaration import Application
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
from tidings_local.http_api import json_error
from tidings_local.lambdas import FunctionError, Lambdas
from tidings_local.log import logger
from tidings_local.stats import Stats

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message payload limit
CLOSE_HANDSHAKE_SECONDS = 2.0
# Frames of one connection handled at once; more wait (API Gateway's own limit is far higher,
# but one machine gains nothing from more).
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


def log_failure(message: str, exc: Exception, extra: dict[str, object]) -> None:
    """A function's failure is logged by its type (its worker logged the trace); anything else
    is a fault of the runtime, logged with its trace."""
    if isinstance(exc, FunctionError):
        logger.error(message, extra={**extra, "errorType": exc.error_type})
    else:
        logger.exception(message, extra=extra)


class WebSocketApi:
    """The WebSocket API's connections and their routes."""

    def __init__(
        self,
        application: Application,
        lambdas: Lambdas,
        stats: Stats,
        *,
        idle_timeout: float,
        max_duration: float,
        is_ready: Callable[[], bool],
    ) -> None:
        self.application = application
        self.lambdas = lambdas
        self.stats = stats
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self._is_ready = is_ready
        self.connections: dict[str, Connection] = {}
        self._shutting_down = False

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws", self._websocket)]

    def open_connection(self, connection_id: str) -> Connection | None:
        """The connection, if its handshake has completed and it is still open."""
        connection = self.connections.get(connection_id)
        return None if connection is None or connection.gone else connection

    async def close_all(self) -> None:
        """Shutdown: closes every connection with 1001, without invoking `$disconnect`."""
        self._shutting_down = True
        for connection in list(self.connections.values()):
            connection.request_close(int(WSCloseCode.GOING_AWAY), "Going away")
        while self.connections:
            await asyncio.sleep(0.01)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_HANDSHAKE_SECONDS)
        if not ws.can_prepare(request).ok:
            return json_error(426, "UPGRADE_REQUIRED", "This endpoint speaks WebSocket only")
        if not self._is_ready() or self._shutting_down:
            return json_error(503, "UNAVAILABLE", "The runtime is not ready")
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
            if isinstance(exc, FunctionError) and exc.error_message == "Unauthorized":
                return self._refuse(request, 401, "Unauthorized")
            log_failure("authorizer failed", exc, {"connectionId": request.connection_id})
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
        except Exception as exc:
            log_failure("$connect failed", exc, {"connectionId": request.connection_id})
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
            await self.send(connection, mocked)
            return
        route = select_route(self.application, data)
        if route is None:
            await self.send(connection, gateway_error("Forbidden", request))
            return
        started = time.monotonic()
        try:
            result = await self.lambdas.invoke(route.function, message_event(request, route.key, data))
        except Exception as exc:
            log_failure("route failed", exc, {"route": route.key, "connectionId": request.connection_id})
            await self.send(connection, gateway_error("Internal server error", request))
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
                await self.send(connection, gateway_error("Internal server error", request))
                return
            await self.send(connection, body)

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
        except Exception as exc:
            log_failure("$disconnect failed", exc, {"connectionId": connection.request.connection_id})

    async def send(self, connection: Connection, data: str | bytes) -> bool:
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
