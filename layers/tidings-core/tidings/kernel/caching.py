"""A per-container cache for values that rarely change and are harmless when a little stale
(display names, chat names): one read per key per `ttl_seconds` instead of one per use."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    def __init__(self, load: Callable[[K], V], ttl_seconds: float = 300.0) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V:
        cached = self._entries.get(key)
        now = time.monotonic()
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        value = self._load(key)
        self._entries[key] = (now, value)
        return value
