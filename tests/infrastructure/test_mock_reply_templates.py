"""The mock routes' mapping templates, rendered by airspeed-ext (LocalStack's Velocity engine
for AWS mapping templates) with API Gateway's `$input`, `$util` and `$context`.

It checks what the Template tests cannot:
that the templates are valid VTL, that the reply is JSON of the protocol's shape, that a hostile
frame id cannot break the JSON, and that the refId comes out right whether API Gateway hands
the integration response the mock's output or the client's frame as `$input`.
"""

from __future__ import annotations

import json
from typing import Any

import airspeed
import pytest

from tidings_infra.mock_routes import request_template, response_template

CONTEXT = {
    "requestId": "ABCO7H6MCGYFxCA=",
    "requestTime": "24/Nov/2026:10:00:05 +0000",
    "requestTimeEpoch": 1795514405123,
}


def _escape_javascript(value: Any) -> str:
    """`$util.escapeJavaScript`: Java's StringEscapeUtils.escapeJavaScript (commons-lang 2)."""
    escapes = {"'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(escapes.get(ch, ch if 32 <= ord(ch) <= 0x7E else f"\\u{ord(ch):04X}") for ch in str(value))


class _Util:
    def escapeJavaScript(self, value: Any) -> str:  # API Gateway's name
        return _escape_javascript(value)


class _Input:
    def __init__(self, body: str) -> None:
        self.body = body
        self._payload = json.loads(body)

    def path(self, expression: str) -> Any:
        assert expression.startswith("$.")
        return self._payload.get(expression[2:])


def _render(template: str, body: str) -> str:
    return str(airspeed.Template(template).merge({"input": _Input(body), "util": _Util(), "context": CONTEXT}))


@pytest.mark.parametrize(
    "frame_id", ["3f1c2b9e-1111-4a2b-9c3d-5e6f7a8b9c0d", 'x"}, "statusCode": 500, "y": "', "it's \\ /é", None]
)
def test_ping_gets_a_pong_carrying_its_id(frame_id: str | None) -> None:
    frame: dict[str, Any] = {"type": "ping", "timestamp": "2026-11-24T10:00:05.000Z", "payload": {}}
    if frame_id is not None:
        frame["id"] = frame_id
    mock_output = _render(request_template(), json.dumps(frame))
    assert json.loads(mock_output) == {"statusCode": 200, "refId": frame_id or ""}

    expected = {
        "type": "pong",
        "id": CONTEXT["requestId"],
        "timestamp": "2026-11-24T10:00:05.123Z",
        "payload": {"refId": frame_id or ""},
    }
    # $input of the integration response = the mock's output (what we expect API Gateway does) ...
    assert json.loads(_render(response_template("pong"), mock_output)) == expected
    # ... or the client's frame: the template reads the id either way.
    assert json.loads(_render(response_template("pong"), json.dumps(frame))) == expected
