"""In-memory stand-ins for ports whose behaviour a test is not about."""

from __future__ import annotations

from tidings.kernel.ratelimits import Decision, Rule


class NoLimits:
    """A rate limiter that allows everything."""

    def check(self, rule: Rule, *scope: str) -> Decision:
        return Decision(True)

    def enforce(self, rule: Rule, *scope: str) -> None:
        return None
