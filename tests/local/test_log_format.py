"""`tidings dev`'s human log lines: the formatter, the stream they are written through, and
`--log-format`."""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
import warnings
from datetime import UTC
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics

from tidings_local.log_format import LogLines, human_line, install, render, silence_powertools_noise

# The shape of a handler's record (a `message.send` frame), as Powertools writes it.
HANDLER_RECORD: dict[str, Any] = {
    "level": "INFO",
    "location": "send_message:47",
    "message": "message stored",
    "timestamp": "2024-05-01 12:04:31,512+0000",
    "service": "tidings",
    "cold_start": False,
    "function_name": "tidings-MessageSend",
    "function_memory_size": 256,
    "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:tidings-MessageSend",
    "function_request_id": "7d1c0b8e-5a4f-4a51-9d0b-3a1e6a8e2f10",
    "correlation_id": "Zb1cEz3IoAMFg1w=",
    "userId": "alice",
    "connectionId": "Zb1cEdaVIAMCIKQ=",
    "frameType": "message.send",
    "frameId": "3f1c2d",
    "chatId": "dm-alice-bob",
    "messageId": "01HWXYZ",
    "seq": 4,
    "xray_trace_id": None,
}


def test_a_handler_record_is_one_short_line_with_its_ids() -> None:
    line = human_line(HANDLER_RECORD, tz=UTC)
    assert line == (
        "12:04:31.512 INFO  MessageSend message.send chat=dm-alice-bob user=alice msg=01HWXYZ"
        " conn=Zb1cEdaVIAMCIKQ= · message stored  seq=4"
    )
    assert len(line) < len(json.dumps(HANDLER_RECORD)) / 3


def test_a_runtime_record_names_the_runtime_and_the_consumer() -> None:
    record = {
        "level": "WARNING",
        "location": "_invoke:248",
        "message": "stream batch failed",
        "timestamp": "2024-05-01T12:04:31.512+00:00",
        "service": "tidings-local",
        "function": "Fanout",
        "batchSize": 3,
        "error": "FunctionTimeout",
    }
    assert human_line(record, tz=UTC) == (
        "12:04:31.512 WARN  tidings-local Fanout · stream batch failed  error=FunctionTimeout batchSize=3"
    )


def test_outcome_status_and_latency_follow_the_message() -> None:
    record = {
        "level": "DEBUG",
        "message": "route handled",
        "timestamp": "2024-05-01 12:04:31,512+0000",
        "service": "tidings-local",
        "route": "typing.start",
        "connectionId": "c1",
        "ms": 12.5,
    }
    assert (
        human_line(record, tz=UTC) == "12:04:31.512 DEBUG tidings-local typing.start conn=c1 · route handled  12.5 ms"
    )
    push = {
        "level": "INFO",
        "message": "push delivered",
        "timestamp": "2024-05-01 12:04:31,512+0000",
        "function_name": "tidings-PushWorker",
        "userId": "bob",
        "outcome": "delivered",
        "status": 201,
        "attempt": 1,
    }
    assert human_line(push, tz=UTC).endswith(
        "PushWorker user=bob · push delivered  outcome=delivered status=201 attempt=1"
    )


def test_long_values_are_cut_and_an_exception_follows_on_indented_lines() -> None:
    record = {
        "level": "ERROR",
        "message": "route failed",
        "timestamp": "2024-05-01 12:04:31,512+0000",
        "service": "tidings",
        "messageIds": [f"m{n}" for n in range(40)],
        "exception": 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom',
        "exception_name": "ValueError",
    }
    first, *rest = human_line(record, tz=UTC).split("\n")
    assert "messageIds=" in first and first.endswith("…") and len(first) < 140
    assert rest == ["    Traceback (most recent call last):", '      File "x.py", line 1', "    ValueError: boom"]


def test_colour_follows_the_level_and_only_when_asked() -> None:
    warning = {**HANDLER_RECORD, "level": "WARNING"}
    assert "\x1b[" not in human_line(warning, tz=UTC)
    coloured = human_line(warning, colour=True, tz=UTC)
    assert "\x1b[33mWARN \x1b[0m" in coloured and "\x1b[33mmessage stored\x1b[0m" in coloured
    assert "\x1b[31mERROR\x1b[0m" in human_line({**HANDLER_RECORD, "level": "ERROR"}, colour=True, tz=UTC)


@pytest.mark.parametrize(
    "line",
    ["plain text warning", '{"not": "a log record"}', "[1, 2]", "{broken json", ""],
)
def test_what_is_not_a_log_record_passes_through(line: str) -> None:
    assert render(line) == line


def test_a_log_record_line_is_rendered() -> None:
    assert render(json.dumps(HANDLER_RECORD), tz=UTC).startswith("12:04:31.512 INFO  MessageSend")


def test_log_lines_renders_whole_lines_from_many_threads() -> None:
    target = io.StringIO()
    lines = LogLines(target, lambda line: f"<{line}>")
    lines.write("a")
    lines.write("b\nc")
    assert target.getvalue() == "<ab>\n", "the partial line waits for its end"
    lines.write("\n")

    def write(n: int) -> None:
        for i in range(200):
            lines.write(f"t{n}-{i}\n")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rendered = target.getvalue().splitlines()
    assert rendered[1] == "<c>" and len(rendered) == 2 + 800
    assert all(line.startswith("<t") and line.endswith(">") for line in rendered[2:])
    lines.write("a prompt: ")
    lines.flush()
    assert target.getvalue().endswith("a prompt: "), "a partial line that is no record is not held back"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _powertools_logger(stream: io.StringIO | None = None) -> Logger:
    service = f"log-format-test-{uuid.uuid4().hex[:8]}"
    return Logger(service=service, logger_handler=None if stream is None else logging.StreamHandler(stream))


def test_on_a_terminal_the_records_are_human_lines_and_coloured(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    built_before = _powertools_logger()  # binds sys.stdout now, as the runtime's logger does at import
    # Powertools keeps thread-safe keys per thread for every logger: a handler test that ran
    # earlier on this thread (one pytest-xdist worker) would lend its userId and frameType here.
    built_before.thread_safe_clear_keys()
    undo = install("auto", environ={})
    try:
        built_before.warning("stream batch failed", extra={"function": "Fanout", "chatId": "c1"})
        built_after = _powertools_logger()
        built_after.info("runtime ready")
        print("a plain line")
    finally:
        undo()
    out = terminal.getvalue().splitlines()
    assert "\x1b[33mWARN \x1b[0m" in out[0] and "Fanout chat=c1" in out[0] and "{" not in out[0]
    assert "runtime ready" in out[1] and "{" not in out[1]
    assert out[2] == "a plain line"
    import sys

    assert sys.stdout is terminal, "undone"


def test_no_color_keeps_the_human_lines_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    logger = _powertools_logger()
    undo = install("auto", environ={"NO_COLOR": "1"})
    try:
        logger.warning("stream batch failed")
    finally:
        undo()
    assert "\x1b[" not in terminal.getvalue() and "stream batch failed" in terminal.getvalue()


def test_json_keeps_the_records_and_auto_off_a_terminal_too(monkeypatch: pytest.MonkeyPatch) -> None:
    for log_format, stream in (("json", _Terminal()), ("auto", io.StringIO())):
        monkeypatch.setattr("sys.stdout", stream)
        logger = _powertools_logger()
        undo = install(log_format, environ={})
        try:
            logger.info("runtime ready")
        finally:
            undo()
        assert json.loads(stream.getvalue())["message"] == "runtime ready"


def test_text_is_forced_off_a_terminal_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    monkeypatch.setattr("sys.stdout", piped)
    logger = _powertools_logger()
    undo = install("text", environ={})
    try:
        logger.error("route failed")
    finally:
        undo()
    assert "ERROR" in piped.getvalue() and "route failed" in piped.getvalue()
    assert "{" not in piped.getvalue() and "\x1b[" not in piped.getvalue()


def test_only_the_empty_metrics_warning_is_silenced() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_powertools_noise()
        Metrics(namespace="LogFormatTest", service="test").flush_metrics()  # Powertools' own warning
        warnings.warn("a real warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a real warning"]
