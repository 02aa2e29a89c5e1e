"""A push service on 127.0.0.1 for unit and integration tests: `http.server` in a thread that
records every request and answers 201, or the status a test sets for a path."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from tests.support.webpush import PushRequest


class LocalPushService:
    def __init__(self) -> None:
        self.requests: list[PushRequest] = []
        self.answers: dict[str, tuple[int, dict[str, str]]] = {}  # path -> (status, headers)
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                service.requests.append(PushRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers = service.answers.get(self.path, (201, {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.origin + path

    def __enter__(self) -> LocalPushService:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port_url(path: str = "/push/unreachable") -> str:
    """An http URL on 127.0.0.1 where nothing listens: connection refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
