"""Every invocation logs with its own context only: keys a previous invocation appended (its
user, its frame) never appear in a later invocation's log lines, on AWS (one warm container
runs invocations one after another) and locally (`tidings dev` runs them in threads of one
process, all sharing one Logger)."""

from __future__ import annotations

import inspect
import json
import re
import threading

from aws_lambda_powertools.logging import correlation_paths

from tests.support.events import authorizer_event, client_frame, http_event, message_event
from tests.support.lambdas import FUNCTIONS_DIR, LambdaContext
from tests.support.logs import captured_log
from tests.support.seed import make_chat
from tidings.kernel import handlers, router
from tidings.kernel.observability import logger

PER_INVOCATION_KEYS = {"userId", "connectionId", "frameType", "frameId"}


def send(functions, user: str, frame_id: str, request_id: str | None = None) -> None:
    frame = client_frame("message.send", {"chatId": "general", "content": "hi"}, frame_id=frame_id)
    context = LambdaContext(aws_request_id=request_id) if request_id else LambdaContext()
    reply = functions["send"].handler(message_event(f"conn-{user}=", user, frame, "message.send"), context)
    assert json.loads(reply["body"])["payload"]["status"] == "ok"


def refuse_token(functions, request_id: str | None = None) -> None:
    context = LambdaContext(aws_request_id=request_id) if request_id else LambdaContext()
    refused = functions["authorizer"].handler(authorizer_event(header="Bearer not-a-jwt"), context)
    assert refused["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_the_authorizer_never_logs_the_previous_invocations_user_or_frame(functions, connections, signing_key):
    make_chat("general", ["erin", "alice"])
    with captured_log() as lines:
        send(functions, "erin", "erin-frame-1")
        refuse_token(functions)
    (stored,) = [line for line in lines if line["message"] == "message stored"]
    assert (stored["userId"], stored["frameId"]) == ("erin", "erin-frame-1")
    (refused,) = [line for line in lines if line["message"] == "token refused"]
    assert not PER_INVOCATION_KEYS & refused.keys(), refused


def test_a_rest_call_never_carries_a_previous_frames_keys(functions, connections, signing_key):
    make_chat("general", ["erin", "alice"])
    with captured_log() as lines:
        send(functions, "erin", "erin-frame-2")
        # No bearer token: the HTTP edge answers 401 (and logs nothing of erin's frame).
        response = functions["auth_api"].handler(http_event("POST", "/api/auth/revoke"), LambdaContext())
        assert response["statusCode"] == 401
        logger.info("after the REST call")  # the keys the REST invocation left behind
    (after,) = [line for line in lines if line["message"] == "after the REST call"]
    assert not PER_INVOCATION_KEYS & after.keys(), after


def test_concurrent_invocations_in_threads_keep_their_own_keys():
    """`tidings dev` runs invocations on worker threads of one process, all sharing one Logger:
    an invocation that starts (and appends its keys) while another runs must not change the
    other's lines. Two invocations of a handler decorated as every handler is, interleaved."""
    first_started, second_done = threading.Event(), threading.Event()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    def handler(event, context):
        logger.thread_safe_append_keys(userId=event["user"])
        if event["user"] == "alice":
            first_started.set()
            assert second_done.wait(10)
        logger.info("handled")

    def invoke(user: str) -> None:
        event = {"user": user, "requestContext": {"requestId": f"correlation-{user}"}}
        handler(event, LambdaContext(aws_request_id=f"req-{user}"))

    with captured_log() as lines:
        alice = threading.Thread(target=invoke, args=("alice",))
        alice.start()
        assert first_started.wait(10)
        bob = threading.Thread(target=invoke, args=("bob",))
        bob.start()
        bob.join(10)
        second_done.set()
        alice.join(10)

    handled = {line["userId"]: line for line in lines if line["message"] == "handled"}
    assert handled.keys() == {"alice", "bob"}
    for user, line in handled.items():
        assert line["function_request_id"] == f"req-{user}", line
        assert line["correlation_id"] == f"correlation-{user}", line


def test_every_handler_starts_its_invocation_with_a_clean_log_state():
    """Every function's handler wears one of the kernel's entry stanzas, and the stanza clears
    the log state (the tests above exercise it)."""
    stanza = inspect.getsource(handlers._stanza)
    assert "inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)" in stanza
    assert "@websocket_entry" in inspect.getsource(router.frame_handler)  # a frame function's entry
    for path in sorted(FUNCTIONS_DIR.glob("*/*.py")):
        source = path.read_text()
        entries = re.findall(r"^@(websocket_entry|http_entry|consumer_entry|authorizer_entry)$", source, flags=re.M)
        entries += re.findall(r"^handler = frame_handler\(route\)$", source, flags=re.M)
        assert len(entries) == 1, f"{path}: its handler wears one entry stanza of tidings.kernel.handlers"
        assert "inject_lambda_context" not in source, f"{path}: the stanza is tidings.kernel.handlers'"
        assert "logger.append_keys(" not in source, f"{path}: use thread_safe_append_keys (per invocation)"
