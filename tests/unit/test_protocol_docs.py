"""The machine-readable contract (docs/asyncapi.yaml, docs/openapi.yaml): generated from the wire
models and committed as generated, accepted by the official AsyncAPI parser, complete (every
route and every frame type the code builds), and strict enough that the end-to-end suite's check
of received frames (tests/support/frame_contract.py) refuses a wrong frame."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.frame_contract import ASYNCAPI, FrameContract, contract
from tidings.app import APPLICATION
from tidings.kernel.errors import ErrorCode
from tidings.kernel.wire import ack_error, ack_ok, error_frame, server_frame
from tidings.messaging.message import Message
from tidings.messaging.receipts import Watermark, read_receipt
from tidings.messaging.typing_indicators import typing_frame
from tidings.messaging.wire import event_frame, message_new
from tidings.notifications.badges import Badge
from tidings.notifications.toasts import Toast
from tidings.presence.wire import presence_changed_frame, presence_payload
from tidings.sessions.wire import token_refresh_frame, upgrade_required_frame, welcome_frame
from tidings_local import protocol_docs

REPOSITORY = Path(__file__).resolve().parents[2]
PARSE = REPOSITORY / "tests" / "support" / "asyncapi_parse.mjs"

MESSAGE = Message(
    message_id="m-1",
    chat_id="project-x",
    seq=17,
    sender_id="alice",
    sender_name="Alice",
    content="hi @bob",
    created_at="2026-11-25T10:00:00.123Z",
    attachments=[
        {"attachmentId": "a-1", "name": "plan.pdf", "size": 1024, "contentType": "application/pdf", "status": "clean"}
    ],
    mentions=["bob"],
    reactions={"👍": ["bob"]},
)


def test_the_committed_documents_are_what_the_models_generate() -> None:
    for path, text in (
        (protocol_docs.ASYNCAPI_PATH, protocol_docs.asyncapi_text()),
        (protocol_docs.OPENAPI_PATH, protocol_docs.openapi_text()),
        (protocol_docs.FRAMES_DTS_PATH, protocol_docs.frames_dts_text()),
        (protocol_docs.REST_DTS_PATH, protocol_docs.rest_dts_text()),
    ):
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `make protocol-docs`"


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The committed document and a broken copy of it, through the official parser in one Node
    process (loading the parser is most of its time): each one's `failed` and `diagnostics`."""
    document = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    document["operations"]["receiveMessageSend"]["messages"] = [{"$ref": "#/channels/connection/messages/nothing"}]
    broken = tmp_path_factory.mktemp("broken") / "asyncapi.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make install)"
    done = subprocess.run(
        [node, str(PARSE), str(ASYNCAPI), str(broken)], capture_output=True, text=True, timeout=180, cwd=REPOSITORY
    )
    assert done.stdout.strip(), done.stderr
    committed, broken_result = json.loads(done.stdout)
    assert done.returncode == 1, "the broken copy fails, so the run does"
    return {"committed": committed, "broken": broken_result}


def test_the_official_asyncapi_parser_finds_no_error(parsed: dict[str, dict[str, Any]]) -> None:
    errors = [d for d in parsed["committed"]["diagnostics"] if d["severity"] == 0]
    assert not parsed["committed"]["failed"] and errors == [], errors


def test_the_parser_check_fails_on_a_broken_document(parsed: dict[str, dict[str, Any]]) -> None:
    broken = parsed["broken"]
    assert broken["failed"] and any(d["severity"] == 0 for d in broken["diagnostics"])


def test_every_websocket_route_is_a_documented_client_frame() -> None:
    declared = {route.key for route in APPLICATION.routes if not route.key.startswith("$")}
    declared |= {route.key for route in APPLICATION.mock_routes}
    assert {message.name for message in protocol_docs.CLIENT_MESSAGES} == declared


def test_every_http_route_is_a_documented_operation() -> None:
    declared = {(route.method, route.path) for route in APPLICATION.http_routes}
    assert {(op.method, op.path) for op in protocol_docs.REST_OPERATIONS} == declared
    paths = yaml.safe_load(protocol_docs.OPENAPI_PATH.read_text(encoding="utf-8"))["paths"]
    assert {(method.upper(), path) for path, item in paths.items() for method in item} == declared


def test_every_frame_type_the_code_builds_is_documented() -> None:
    built = set()
    for root in ("layers/tidings-core/tidings", "functions"):
        for path in (REPOSITORY / root).rglob("*.py"):
            built |= set(re.findall(r'server_frame\(\s*"([a-z.]+)"', path.read_text(encoding="utf-8")))
    assert "message.new" in built and "search.results" in built
    assert built <= contract().frame_types, built - contract().frame_types


def _frames() -> list[dict[str, Any]]:
    """A frame from each builder of the server, as the server sends it."""
    toast = Toast("t-1", "Alice", "hi", "project-x", "m-1", "normal", "2026-11-25T10:00:00.000Z", count=2)
    return [
        message_new(MESSAGE),
        *(event_frame(kind, 18, MESSAGE) for kind in ("edit", "delete", "reaction")),
        welcome_frame(
            "h-1",
            connection_id="c-1",
            user_id="alice",
            protocol_version=1,
            supported_versions=[1],
            heartbeat_interval_ms=30_000,
            server_time=0,
        ),
        upgrade_required_frame("h-1", "Protocol version 2 is not supported", "https://example.com", [1]),
        error_frame(ErrorCode.BAD_FRAME, "Frame must be a JSON object"),
        token_refresh_frame(1_800_000_000),
        ack_ok("p-1"),
        ack_ok("r-1", chatId="project-x", seq=None, messageId="m-1", reactions={}),
        ack_ok("s-1", message=MESSAGE.to_wire()),
        ack_error("s-1", ErrorCode.RATE_LIMITED, "Slow down", retry_after_ms=250),
        json.loads(typing_frame("project-x", "alice", "Alice", active=True)),
        read_receipt(Watermark("project-x", "bob", 17, "m-1")),
        Badge("project-x", 3, 1, 7, 1).frame(),
        toast.frame(),
        json.loads(presence_changed_frame(presence_payload("carol", "offline", 1_700_000_000))),
        json.loads(presence_changed_frame(presence_payload("bob", "dnd", None))),
    ]


def test_the_servers_frames_match_the_contract() -> None:
    for frame in _frames():
        assert contract().problems(frame) == [], frame


def test_api_gateways_own_error_message_is_in_the_contract() -> None:
    """What API Gateway sends when a route's function fails; the local gateway sends the same."""
    from tidings_local.apigw import gateway_error

    class Request:
        connection_id = "c-1"

    message = json.loads(gateway_error("Internal server error", Request()))  # type: ignore[arg-type]
    assert contract().problems(message) == []
    assert contract().problems({"message": "Internal server error"}) != []


def test_absent_fields_are_left_out_and_nullable_ones_kept() -> None:
    assert "refId" not in error_frame(ErrorCode.BAD_FRAME, "no id")["payload"]
    assert "retryAfterMs" not in ack_error("x", ErrorCode.FORBIDDEN, "no")["payload"]["error"]
    assert "lastSeen" not in presence_payload("bob", "available", 1_700_000_000)
    assert message_new(MESSAGE)["payload"]["message"]["replyTo"] is None


def _broken(frame: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(frame)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(
    ("builder", "path", "value"),
    [
        (lambda: message_new(MESSAGE), ("payload", "seq"), "17"),  # a string seq
        (lambda: message_new(MESSAGE), ("payload", "message", "content"), _DELETE),  # a required field gone
        (lambda: message_new(MESSAGE), ("payload", "message", "colour"), "red"),  # a field nobody documented
        (lambda: message_new(MESSAGE), ("payload", "message", "priority"), "high"),  # not one of the values
        (lambda: message_new(MESSAGE), ("id",), _DELETE),  # the envelope
        (lambda: ack_ok("p-1"), ("payload", "status"), "done"),
        (lambda: ack_ok("p-1"), ("payload", "extra"), 1),  # an ack no route gives
        (lambda: ack_error("x", ErrorCode.FORBIDDEN, "no"), ("payload", "error", "code"), "NOPE"),
        (lambda: Badge("c", 1, 0, 1, 0).frame(), ("payload", "unreadCount"), None),
        (lambda: message_new(MESSAGE), ("type",), "message.created"),  # a type the contract lacks
    ],
)
def test_a_wrong_frame_is_refused(builder: Any, path: tuple[str, ...], value: Any) -> None:
    frame = builder()
    assert contract().problems(frame) == []
    assert contract().problems(_broken(frame, path, value)) != []


def test_the_end_to_end_check_fails_a_test_on_a_wrong_frame() -> None:
    """The e2e suite's hook, on stand-in clients: a wrong frame is reported, a right one is not."""
    from tests.e2e.conftest import contract_violations

    class Client:
        state = "connected"

        def __init__(self, frames: list[dict[str, Any]]) -> None:
            self._frames = frames

        def frames_after(self, mark: int) -> list[dict[str, Any]]:
            return self._frames[mark:]

        def mark(self) -> int:
            return len(self._frames)

    good = Client([message_new(MESSAGE)])
    bad = Client([_broken(message_new(MESSAGE), ("payload", "seq"), "17")])
    marks: dict[Any, int] = {good: 0, bad: 0}
    violations = contract_violations(marks)
    assert len(violations) == 1 and "message.new" in violations[0] and "seq" in violations[0]
    assert contract_violations(marks) == []  # each frame is checked once


def test_a_contract_of_another_document_is_read_as_given() -> None:
    """The check reads the document, not the models: a message dropped from it is refused."""
    document = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    for operation in document["operations"].values():
        operation["messages"] = [m for m in operation["messages"] if not m["$ref"].endswith("/readReceipt")]
    assert FrameContract(document).problems(read_receipt(Watermark("c", "u", 1, "m"))) != []
    assert (
        contract().problems(server_frame("read.receipt", {"chatId": "c", "userId": "u", "messageId": "m", "seq": 1}))
        == []
    )
