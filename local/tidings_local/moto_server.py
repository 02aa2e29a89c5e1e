"""moto in server mode, for the workers: their boto3 reaches DynamoDB, DynamoDB Streams, SQS and
Secrets Manager over HTTP on 127.0.0.1 (`AWS_ENDPOINT_URL`), as it reaches AWS.

It is moto's own server application (`moto.moto_server.werkzeug_app`, what `ThreadedMotoServer`
serves) on a werkzeug server thread of this process, so it shares moto's in-memory backends with
the in-process `mock_aws` that the runtime's own pollers, provisioning and tests use. In front
of it, `Gatekeeper`, a WSGI middleware, does what AWS does before a request reaches the service:

1. authenticates the caller by the access key in the SigV4 `Authorization` header (`iam.py`);
2. counts the request for `/_local/stats`, when the caller is a function (`stats.py`);
3. authorizes it against the function's role, refusing with `AccessDeniedException` in the
   service's own format;
4. applies an injected DynamoDB fault (`faults.py`): the error is the HTTP answer to that
   attempt, so botocore's retry handler in the worker retries it as it retries AWS's throttles
   and 5xx (with `applied=true` the request takes effect first);
5. passes it to moto under the one moto lock (`moto_patches`), then tells the event source
   pollers about DynamoDB writes and SQS sends.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, make_server

from tidings_local import moto_patches
from tidings_local.faults import Faults, dynamodb_fault
from tidings_local.iam import Policies, Role, access_denied, access_key_of
from tidings_local.log import logger
from tidings_local.stats import Stats

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# X-Amz-Target prefix -> the service, as botocore names it (stats and IAM use these names).
_TARGET_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
    "AmazonSQS": "sqs",
    "secretsmanager": "secretsmanager",
}


def _signing_service(authorization: str | None) -> str:
    try:
        scope = (authorization or "").split("Credential=", 1)[1].split(",", 1)[0]
        return scope.split("/")[3]
    except IndexError:
        return "unknown"


class Gatekeeper:
    """The WSGI middleware in front of moto's server application (see the module docstring)."""

    def __init__(self, app: WsgiApp, policies: Policies, faults: Faults, stats: Stats) -> None:
        self._app = app
        self._policies = policies
        self._faults = faults
        self._stats = stats

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        authorization = environ.get("HTTP_AUTHORIZATION")
        prefix, _, operation = target.partition(".")
        service = _TARGET_SERVICES.get(prefix) or _signing_service(authorization)
        if not operation:
            operation = _query_action(environ, body) or f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        role = self._policies.role_for_key(access_key_of(authorization))
        if role is not None:
            self._stats.aws_call(service, operation, role.function_id)
            request = _json(body)
            refusal = self._authorize(role, service, operation, request)
            if refusal is not None:
                return _respond(start_response, *refusal)
            fault = (
                dynamodb_fault(self._faults, operation, request, role.function_id) if service == "dynamodb" else None
            )
            if fault is not None:
                answer, applied = fault
                if applied:
                    self._dispatch(environ, target, body, _discard)
                return _respond(start_response, *answer)
        return self._dispatch(environ, target, body, start_response)

    def _authorize(
        self, role: Role, service: str, operation: str, request: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes] | None:
        for action, resource in self._policies.requested(service, operation, request):
            if not role.allows(action, resource):
                logger.warning(
                    "AWS call refused by IAM",
                    extra={"function": role.function_id, "action": action, "resource": resource},
                )
                return access_denied(service, role, action, resource)
        return None

    def _dispatch(
        self, environ: dict[str, Any], target: str, request_body: bytes, start_response: StartResponse
    ) -> list[bytes]:
        with moto_patches.moto_lock():
            chunks = self._app(environ, start_response)
            try:
                body = [b"".join(chunks)]
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        moto_patches.notify(target, request_body)
        return body


def _discard(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda _: None


def _respond(start_response: StartResponse, status: int, headers: dict[str, str], body: bytes) -> list[bytes]:
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}.get(status, "Error")
    start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
    return [body]


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _query_action(environ: dict[str, Any], body: bytes) -> str | None:
    """The `Action` of a query-protocol request (form body or query string)."""
    for source in (body.decode("utf-8", errors="replace"), environ.get("QUERY_STRING", "")):
        action = parse_qs(source).get("Action")
        if action:
            return action[0]
    return None


class MotoServer:
    """moto's server application behind the `Gatekeeper`, on a free port of 127.0.0.1."""

    def __init__(self, policies: Policies, faults: Faults, stats: Stats) -> None:
        self._policies = policies
        self._faults = faults
        self._stats = stats
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

        class KeepAlive(MotoRequestHandler):
            protocol_version = "HTTP/1.1"  # botocore keeps its connections; HTTP/1.0 would close each

            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass  # no access log

        app = Gatekeeper(DomainDispatcherApplication(create_backend_app), self._policies, self._faults, self._stats)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAlive)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            with contextlib.suppress(Exception):
                self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
