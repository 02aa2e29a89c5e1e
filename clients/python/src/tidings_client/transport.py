"""The WebSocket underneath, behind a small interface so tests can swap in a fake one
(`tidings_client.testing.FakeServer`)."""

from __future__ import annotations

from typing import Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tidings_client._version import __version__
from tidings_client.errors import HandshakeError


class TransportError(Exception):
    """The connection could not be opened (refused, unreachable, timed out)."""


class TransportClosed(Exception):
    """The connection is closed; `code` is the WebSocket close code (1006: no close frame)."""

    def __init__(self, code: int = 1006, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class Connection(Protocol):
    async def send(self, text: str) -> None:
        """Raises TransportClosed once the connection is closed."""
        ...

    async def recv(self) -> str:
        """The next text message; raises TransportClosed once the connection is closed."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Transport(Protocol):
    async def connect(self, url: str, headers: dict[str, str], timeout: float) -> Connection:
        """Opens a connection; raises HandshakeError for an HTTP refusal, TransportError otherwise."""
        ...


class WebSocketConnection:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def recv(self) -> str:
        try:
            message = await self._ws.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        return message if isinstance(message, str) else message.decode("utf-8", errors="replace")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)


def _closed(exc: ConnectionClosed) -> TransportClosed:
    if exc.rcvd is not None:
        return TransportClosed(exc.rcvd.code, exc.rcvd.reason)
    return TransportClosed(1006, "no close frame received")


class WebSocketTransport:
    """`websockets` connections. Its own keepalive pings are off: the protocol's heartbeat is
    the application-level `ping` frame, which API Gateway answers."""

    def __init__(self, *, max_size: int = 1 << 20) -> None:
        self.max_size = max_size  # API Gateway sends at most 128 KiB per message

    async def connect(self, url: str, headers: dict[str, str], timeout: float) -> Connection:
        try:
            ws = await ws_connect(
                url,
                additional_headers=headers,
                open_timeout=timeout,
                ping_interval=None,
                close_timeout=2,
                max_size=self.max_size,
                user_agent_header=f"tidings-python/{__version__}",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise HandshakeError(f"the server refused the connection with HTTP {status}", status=status) from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise TransportError(f"cannot connect to {url.split('?')[0]}: {exc}") from exc
        return WebSocketConnection(ws)
