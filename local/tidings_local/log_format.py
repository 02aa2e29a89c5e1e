"""`tidings dev`'s logs for a person: one short line per log record instead of Powertools' JSON.

The runtime (`tidings_local.log`, service `tidings-local`) and the handlers
(`tidings.kernel.observability`, service `tidings`) log one Powertools JSON object per line, as
on Lambda, where CloudWatch and tools read them. On a terminal that is a wall of 300-character
lines; `human_line` turns one parsed record into

    12:04:31.512 INFO  MessageSend  message.send  chat=dm-alice-bob user=alice msg=01J… · message stored  seq=4

time (local), level, the function (or `tidings-local` for the runtime itself), the route or
consumer, the chat/user/message/connection ids present, the message, then the outcome, status
and latency when the record has them and its other small fields; a logged exception follows
on indented lines. Coloured by level unless told not to.

`--log-format` chooses: `json` keeps the JSON lines (for tools), `text` forces this form, `auto`
(the default) picks text when stdout is a terminal. Colour only on a terminal, and never when
`NO_COLOR` is set (https://no-color.org). `install` applies the choice at the one place the log
lines are written, this process's stdout (`LogLines`); anything on stdout that is not a log
record passes through unchanged. Lines from another process (a worker's stdout) can be fed
through the same `LogLines.write`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any, TextIO

FORMATS = ("auto", "text", "json")
RUNTIME_SERVICE = "tidings-local"

# Powertools' own keys (the record's frame and the Lambda context): not shown, or shown in their
# own column.
_POWERTOOLS_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "xray_trace_id",
        "sampling_rate",
        "exception",
        "exception_name",
        "stack_trace",
    }
)
# The ids a reader follows a message by, in this order, with their short names.
_IDS = (("chatId", "chat"), ("userId", "user"), ("principalId", "user"), ("messageId", "msg"), ("connectionId", "conn"))
# What the route or consumer column shows: the gateway's route key, the frame router's frame
# type, or the runtime's name for the function a poller feeds.
_WHERE_KEYS = ("route", "frameType", "function")
# Shown after the message, first of all.
_OUTCOME_KEYS = ("outcome", "status", "statusCode", "code", "error", "reason")
# Latency, in milliseconds.
_LATENCY_KEYS = ("ms", "latencyMs", "durationMs")
# Left out: what a reader never needs on the line (the frame's own id is noise next to the ids).
_HIDDEN_KEYS = frozenset({"frameId"})
MAX_VALUE_CHARS = 60

_LEVEL_COLOURS = {
    "DEBUG": "2",  # dim
    "INFO": "32",  # green
    "WARNING": "33",  # yellow
    "ERROR": "31",  # red
    "CRITICAL": "1;31",  # bold red
}
_DIM = "2"
# Five characters each, so the columns after the level line up.
_LEVEL_LABELS = {"WARNING": "WARN", "CRITICAL": "CRIT"}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour and text else text


def _time(timestamp: Any, tz: tzinfo | None) -> str:
    """Powertools' `2024-05-01 12:04:31,512+0000` (or its RFC 3339 form) as local `12:04:31.512`."""
    if not isinstance(timestamp, str):
        return "--:--:--.---"
    for parse in (lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f%z"), datetime.fromisoformat):
        try:
            moment = parse(timestamp)
        except ValueError:
            continue
        return moment.astimezone(tz).strftime("%H:%M:%S.%f")[:-3]
    return timestamp


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _function(record: Mapping[str, Any]) -> str:
    """The handler's function id (`tidings-MessageSend` → `MessageSend`), else the service."""
    name = record.get("function_name")
    if isinstance(name, str) and name:
        return name.split("-", 1)[-1]
    service = record.get("service")
    return service if isinstance(service, str) and service else RUNTIME_SERVICE


def _latency(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g} ms"
    return _value(value)


def human_line(record: Mapping[str, Any], *, colour: bool = False, tz: tzinfo | None = None) -> str:
    """One parsed Powertools log record as one human line (more lines only for an exception).
    `tz`: the zone to show the time in (None: this machine's)."""
    level = str(record.get("level", "INFO")).upper()
    level_colour = _LEVEL_COLOURS.get(level, "0")
    shown: set[str] = set()

    where = next((str(record[key]) for key in _WHERE_KEYS if record.get(key) not in (None, "")), "")
    shown.update(_WHERE_KEYS)
    ids = []
    for key, label in _IDS:
        value = record.get(key)
        shown.add(key)
        if value not in (None, "") and f"{label}={_value(value)}" not in ids:
            ids.append(f"{label}={_value(value)}")

    after = [f"{key}={_value(record[key])}" for key in _OUTCOME_KEYS if record.get(key) not in (None, "")]
    shown.update(_OUTCOME_KEYS)
    latency = next((_latency(record[key]) for key in _LATENCY_KEYS if record.get(key) is not None), None)
    shown.update(_LATENCY_KEYS)
    after += [
        f"{key}={_value(value)}"
        for key, value in record.items()
        if key not in _POWERTOOLS_KEYS and key not in shown and key not in _HIDDEN_KEYS and value is not None
    ]
    if latency is not None:
        after.append(latency)

    message = str(record.get("message", ""))
    if level in ("WARNING", "ERROR", "CRITICAL"):
        message = _paint(message, level_colour, colour)
    parts = [
        _paint(_time(record.get("timestamp"), tz), _DIM, colour),
        _paint(f"{_LEVEL_LABELS.get(level, level):<5}", level_colour, colour),
        _function(record),
        where,
        " ".join(ids),
    ]
    head = " ".join(part for part in parts if part)
    line = f"{head} · {message}" if message else head
    if after:
        line += "  " + _paint(" ".join(after), _DIM, colour)
    exception = record.get("exception")
    if isinstance(exception, str) and exception:
        line += "\n" + "\n".join(_paint(f"    {text}", _DIM, colour) for text in exception.rstrip().splitlines())
    return line


def render(line: str, *, colour: bool = False, tz: tzinfo | None = None) -> str:
    """A line of stdout: a Powertools log record becomes its human line; anything else (a plain
    print, a JSON value that is no log record) is returned unchanged."""
    if not line.startswith("{"):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "level" not in record or "message" not in record:
        return line
    return human_line(record, colour=colour, tz=tz)


class LogLines(io.TextIOBase):
    """A text stream that renders each complete line it is given and writes it to `target`.
    Thread-safe: the runtime's and the handlers' loggers write from many threads."""

    def __init__(self, target: TextIO, transform: Callable[[str], str]) -> None:
        super().__init__()
        self.target = target
        self._transform = transform
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self.target.write(self._transform(line) + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending and not self._pending.startswith("{"):  # a prompt or a progress bar
                self.target.write(self._pending)
                self._pending = ""
            self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


def wants_text(log_format: str, stream: TextIO) -> bool:
    return log_format == "text" or (log_format == "auto" and stream.isatty())


def wants_colour(stream: TextIO, environ: Mapping[str, str]) -> bool:
    return stream.isatty() and not environ.get("NO_COLOR")


def silence_powertools_noise() -> None:
    """Powertools warns "No application metrics to publish" after every invocation that added no
    metric (most, locally: metrics are not published at all here). Only that warning is hidden."""
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def install(log_format: str, *, environ: Mapping[str, str] | None = None) -> Callable[[], None]:
    """Applies `--log-format` to this process's stdout, where every Powertools logger writes.
    Returns what undoes it."""
    silence_powertools_noise()
    stdout = sys.stdout
    if not wants_text(log_format, stdout) or isinstance(stdout, LogLines):
        return lambda: None
    colour = wants_colour(stdout, os.environ if environ is None else environ)
    lines = LogLines(stdout, lambda line: render(line, colour=colour))
    sys.stdout = lines
    # Loggers built before this (Powertools binds sys.stdout when a Logger is created) follow.
    moved = [
        handler
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for handler in getattr(logger, "handlers", [])
        if isinstance(handler, logging.StreamHandler) and handler.stream is stdout
    ]
    for handler in moved:
        handler.setStream(lines)

    def undo() -> None:
        lines.flush()
        for handler in moved:
            handler.setStream(stdout)
        if sys.stdout is lines:
            sys.stdout = stdout

    return undo
