"""What the shared Powertools Logger writes, captured for assertions."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

from tidings.kernel.observability import logger


@contextmanager
def captured_log() -> Iterator[list[dict]]:
    """The JSON lines the shared Logger writes inside the block (filled when it ends)."""
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.registered_handler.setStream(previous)
        lines += [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
