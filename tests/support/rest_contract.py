"""HTTP answers checked against the published contract, `docs/openapi.yaml`: a response of
`/api/...` or `/admin/...` must be one the document lists for its operation (the path template
and the method), with that status, and a JSON body its schema accepts (a response the document
gives no content has an empty body). The document is read as published, like the frames'
`docs/asyncapi.yaml` (`frame_contract`): a mismatch is the document's or the server's fault.

`RecordingHandler` is a urllib handler that checks every answer it sees: installed as urllib's
global opener (`checking_urllib`), it catches the SDK's `RestClient`, the tests' own `urlopen`
calls and the in-process admin CLI alike, since they all go through `urllib.request.urlopen`."""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.parse
import urllib.request
import urllib.response
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
_BASE = "urn:tidings:openapi"
CHECKED_PREFIXES = ("/api/", "/admin/")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _pointer(*parts: str) -> str:
    """A JSON pointer into the document, as a URI fragment (`/` and `~` escaped, then quoted)."""
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return "#/" + urllib.parse.quote("/".join(escaped), safe="/~")


@dataclass(frozen=True)
class _Operation:
    template: str
    method: str
    # status -> the body's validator (None: the document gives that response no content)
    responses: dict[str, Draft202012Validator | None]


class RestContract:
    def __init__(self, document: dict[str, Any]) -> None:
        registry: Registry = Registry().with_resource(_BASE, Resource.from_contents(document, DRAFT202012))
        self._routes: list[tuple[re.Pattern[str], str, dict[str, _Operation]]] = []
        for template, item in document["paths"].items():
            operations = {}
            for method, operation in item.items():
                if method not in _METHODS:
                    continue
                responses: dict[str, Draft202012Validator | None] = {}
                for status, response in operation["responses"].items():
                    has_json = "application/json" in response.get("content", {})
                    schema = _pointer("paths", template, method, "responses", status, "content", "application/json")
                    responses[status] = (
                        Draft202012Validator({"$ref": f"{_BASE}{schema}/schema"}, registry=registry)
                        if has_json
                        else None
                    )
                operations[method.upper()] = _Operation(template, method.upper(), responses)
            # A path parameter is one segment: API Gateway's {name} never spans a '/'.
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            self._routes.append((pattern, template, operations))

    def problems(self, method: str, path: str, status: int, body: str) -> list[str]:
        """Why this answer to `method path` is not one the document describes; empty when it is."""
        path = urllib.parse.urlsplit(path).path
        matches = [(template, operations) for pattern, template, operations in self._routes if pattern.match(path)]
        if not matches:
            return [f"no path of {OPENAPI.name} matches {path}"]
        # A literal segment wins over a parameter ({chatId} vs a fixed name), as in API Gateway.
        template, operations = min(matches, key=lambda match: match[0].count("{"))
        operation = operations.get(method.upper())
        if operation is None:
            return [f"{OPENAPI.name} has no {method.upper()} {template}"]
        where = f"{method.upper()} {template} {status}"
        if str(status) not in operation.responses:
            documented = ", ".join(operation.responses)
            return [f"{where}: the status is not documented (documented: {documented}); body: {body[:300]}"]
        validator = operation.responses[str(status)]
        if validator is None:
            return [] if not body.strip() else [f"{where}: documented without a body, but got {body[:300]!r}"]
        try:
            decoded = json.loads(body)
        except ValueError:
            return [f"{where}: the body is not JSON: {body[:300]!r}"]
        error = best_match(validator.iter_errors(decoded))
        if error is None:
            return []
        at = "/".join(str(part) for part in error.absolute_path) or "(the body)"
        return [f"{where}: {at}: {error.message}; body: {body[:300]}"]


@cache
def rest_contract() -> RestContract:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when built: 15x faster
    return RestContract(yaml.load(OPENAPI.read_text(encoding="utf-8"), Loader=loader))


class RecordingHandler(urllib.request.BaseHandler):
    """Checks each HTTP answer to `/api/...` and `/admin/...` against the contract and keeps the
    violations (`take_violations`). It runs before urllib turns an error status into
    `HTTPError`, so refusals are checked too; the body it read is handed on unchanged."""

    handler_order = 999  # before HTTPErrorProcessor (1000)

    def __init__(self, contract: RestContract) -> None:
        self._contract = contract
        self._lock = threading.Lock()
        self._violations: list[str] = []

    def http_response(self, request: urllib.request.Request, response: HTTPResponse) -> Any:
        path = urllib.parse.urlsplit(request.full_url).path
        if not path.startswith(CHECKED_PREFIXES):
            return response
        raw = response.read()
        problems = self._contract.problems(request.get_method(), path, response.status, raw.decode(errors="replace"))
        if problems:
            with self._lock:
                self._violations += [f"{request.get_method()} {path}: {problem}" for problem in problems]
        replayed = urllib.response.addinfourl(io.BytesIO(raw), response.headers, request.full_url, response.status)
        replayed.msg = response.reason  # type: ignore[attr-defined]  # what HTTPErrorProcessor reads
        return replayed

    https_response = http_response

    def take_violations(self) -> list[str]:
        """The violations seen since the last call."""
        with self._lock:
            taken, self._violations = self._violations, []
        return taken


@contextmanager
def checking_urllib(contract: RestContract | None = None) -> Iterator[RecordingHandler]:
    """urllib's global opener checks every answer while this lasts (`urlopen` without a context)."""
    handler = RecordingHandler(contract or rest_contract())
    urllib.request.install_opener(urllib.request.build_opener(handler))
    try:
        yield handler
    finally:
        urllib.request.install_opener(None)  # type: ignore[arg-type]  # None restores the default opener
