"""moto in server mode, for the workers: their boto3 reaches DynamoDB, DynamoDB Streams, SQS,
Secrets Manager and S3 over HTTP on 127.0.0.1 (`AWS_ENDPOINT_URL`), as it reaches AWS. Clients on
this machine reach S3 here too, with the presigned URLs the functions sign (path-style).

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
   pollers about DynamoDB writes and SQS sends, and the bucket notifications about objects
   written.

S3 requests are authorized by their object action (`Policies.s3_requested`), a presigned URL as
the function that signed it, and a browser form upload's policy is checked first (`s3_posts`).
A read of an object that is not there is S3's 403 AccessDenied (no function may list a bucket),
not moto's answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends
from werkzeug.serving import BaseWSGIServer, make_server

from tidings_local import moto_patches
from tidings_local.aws import ACCOUNT_ID
from tidings_local.faults import Faults, dynamodb_fault
from tidings_local.iam import Policies, Role, access_denied, access_key_of, bucket_arn, s3_requested
from tidings_local.log import logger
from tidings_local.s3_posts import PolicyRefused, check_form, is_form_upload, parse_form
from tidings_local.stats import Stats

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# (bucket, key, size, Put | Post): an object was written (S3's ObjectCreated), for the event notifications.
ObjectCreated = Callable[[str, str, int, str], None]

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

    def __init__(
        self,
        app: WsgiApp,
        policies: Policies,
        faults: Faults,
        stats: Stats,
        object_created: ObjectCreated | None = None,
    ) -> None:
        self._app = app
        self._policies = policies
        self._faults = faults
        self._stats = stats
        self._object_created = object_created

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        authorization = environ.get("HTTP_AUTHORIZATION")
        query = str(environ.get("QUERY_STRING", ""))
        prefix, _, operation = target.partition(".")
        service = _TARGET_SERVICES.get(prefix) or _signing_service(authorization)
        access_key = access_key_of(authorization, query)
        if not target and (service == "s3" or "X-Amz-Credential=" in query or is_form_upload(environ)):
            return self._s3(environ, body, access_key, start_response)
        if not operation:
            operation = _query_action(environ, body) or f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        role = self._policies.role_for_key(access_key)
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

    def _s3(
        self, environ: dict[str, Any], body: bytes, access_key: str | None, start_response: StartResponse
    ) -> Iterable[bytes]:
        """An S3 request (path-style): header-signed, a presigned URL, or a browser form upload,
        whose policy is checked as S3 checks it (`s3_posts`). A presigned request is the signer's."""
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", ""))
        form = parse_form(environ, body) if is_form_upload(environ) else None
        if form is not None:
            access_key = form.access_key
            path = f"/{form.bucket}/{form.key}"
        role = self._policies.role_for_key(access_key)
        if form is not None:
            try:
                check_form(form, role.credentials()["AWS_SECRET_ACCESS_KEY"] if role is not None else None)
            except PolicyRefused as refusal:
                return _respond(start_response, *refusal.answer())
        if role is not None:
            self._stats.aws_call("s3", f"{method} object", role.function_id)
            copy_source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
            for action, resource in s3_requested(method, path, str(environ.get("QUERY_STRING", "")), copy_source):
                if not role.allows(action, resource):
                    logger.warning(
                        "AWS call refused by IAM",
                        extra={"function": role.function_id, "action": action, "resource": resource},
                    )
                    return _respond(start_response, *access_denied("s3", role, action, resource))
            missing = _missing_object_refusal(role, method, path, str(environ.get("QUERY_STRING", "")))
            if missing is not None:
                return _respond(start_response, *missing)
        status: list[str] = []

        def recording(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        answer = self._dispatch(environ, "", body, recording)
        succeeded = bool(status) and status[0].startswith("2")
        if succeeded and method in ("PUT", "POST", "DELETE"):
            moto_patches.notify(moto_patches.S3_OBJECT_CHANGED)  # `--data` snapshots the objects
        created = method in ("PUT", "POST") and "tagging" not in str(environ.get("QUERY_STRING", ""))
        if created and succeeded and self._object_created is not None:
            bucket, _, key = path.lstrip("/").partition("/")
            if key:
                size = form.file_size if form is not None else len(body)
                self._object_created(bucket, unquote(key), size, "Post" if form is not None else "Put")
        return answer

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


def _missing_object_refusal(role: Role, method: str, path: str, query: str) -> tuple[int, dict[str, str], bytes] | None:
    """S3's answer to a function's read (or a URL it presigned) of an object that is not there:
    403 AccessDenied unless the caller may list the bucket (`s3:ListBucket`), which no function
    is granted; S3 tells a missing key (404 NoSuchKey) only to those who may list it. None when
    the object is there (or the request is no object read)."""
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if method not in ("GET", "HEAD") or not key or "tagging" in parse_qs(query, keep_blank_values=True):
        return None
    with moto_patches.moto_lock():
        try:
            exists = key in s3_backends[ACCOUNT_ID]["aws"].get_bucket(bucket).keys
        except MissingBucket:
            return None  # moto's NoSuchBucket is S3's answer
    if exists or role.allows("s3:ListBucket", bucket_arn(bucket)):
        return None
    status, headers, body = access_denied("s3", role, "s3:ListBucket", bucket_arn(bucket))
    return status, headers, b"" if method == "HEAD" else body


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

    def __init__(
        self, policies: Policies, faults: Faults, stats: Stats, object_created: ObjectCreated | None = None
    ) -> None:
        self._policies = policies
        self._faults = faults
        self._stats = stats
        self._object_created = object_created
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

        app = Gatekeeper(
            DomainDispatcherApplication(create_backend_app),
            self._policies,
            self._faults,
            self._stats,
            self._object_created,
        )
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
