"""Reconnect delays: exponential steps with full jitter."""

from __future__ import annotations

import random
from collections.abc import Sequence

DEFAULT_STEPS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)


class Backoff:
    """The delay before reconnect attempt `n` (0-based): with full jitter (the default) a
    uniformly random time between 0 and the n-th step (the last step repeats), so that many
    clients dropped at once by one server restart do not come back at the same instant."""

    def __init__(
        self,
        steps: Sequence[float] = DEFAULT_STEPS,
        *,
        jitter: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        if not steps or any(step < 0 for step in steps):
            raise ValueError("steps must be a non-empty sequence of non-negative seconds")
        self.steps = tuple(float(step) for step in steps)
        self.jitter = jitter
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not cryptography)

    def ceiling(self, attempt: int) -> float:
        return self.steps[min(max(attempt, 0), len(self.steps) - 1)]

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        return self._rng.uniform(0.0, ceiling) if self.jitter else ceiling
