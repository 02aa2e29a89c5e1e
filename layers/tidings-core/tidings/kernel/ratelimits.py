"""Rate limits (docs/protocol.md, "Limits") as token buckets.

Each feature declares its own rules (in its `declaration.py`). The buckets live in the
Ephemeral table, written with optimistic concurrency, so a limit holds across Lambda
containers. A bucket holds up to `capacity` tokens and gains `refill_per_second`; each action
takes one token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pynamodb.exceptions import DoesNotExist, PutError

from tidings.kernel.environment import Environment
from tidings.kernel.ephemeral import EPHEMERAL, EphemeralModel
from tidings.kernel.errors import RateLimited


@dataclass(frozen=True)
class Rule:
    name: str
    capacity: float
    refill_per_second: float

    def bucket_key(self, *scope: str) -> str:
        return "#".join(("ratelimit", self.name, *scope))


@dataclass(frozen=True)
class Bucket:
    tokens: float
    updated_at: float  # epoch seconds


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_ms: int = 0


def refill(bucket: Bucket | None, rule: Rule, now: float) -> float:
    if bucket is None:
        return rule.capacity
    elapsed = max(0.0, now - bucket.updated_at)
    return min(rule.capacity, bucket.tokens + elapsed * rule.refill_per_second)


def decide(bucket: Bucket | None, rule: Rule, now: float) -> tuple[Decision, Bucket | None]:
    """The decision, and the bucket to store if the action is allowed."""
    tokens = refill(bucket, rule, now)
    if tokens >= 1:
        return Decision(True), Bucket(tokens - 1, now)
    wait_seconds = (1 - tokens) / rule.refill_per_second
    return Decision(False, retry_after_ms=max(1, math.ceil(wait_seconds * 1000))), None


class BucketStore(Protocol):
    def load(self, key: str) -> Bucket | None: ...

    def save_if_unchanged(self, key: str, bucket: Bucket, previous: Bucket | None, ttl_seconds: int) -> bool:
        """Stores `bucket` only if the stored one is still `previous`; False if it changed."""


@dataclass(frozen=True)
class RateLimiter:
    # Optimistic concurrency: a lost race re-reads. Each lost race is another action that took a
    # token, so a caller is limited for losing only once a full bucket's worth of others won
    # (`capacity` + 1 attempts): five concurrent sends of one user, each in its own Lambda, must
    # all pass a bucket of 10, however the races fall.
    MIN_ATTEMPTS = 4

    store: BucketStore
    now: Callable[[], float]

    def check(self, rule: Rule, *scope: str) -> Decision:
        key = rule.bucket_key(*scope)
        ttl = math.ceil(rule.capacity / rule.refill_per_second) + 60
        for _ in range(max(self.MIN_ATTEMPTS, math.ceil(rule.capacity) + 1)):
            previous = self.store.load(key)
            decision, updated = decide(previous, rule, self.now())
            if updated is None or self.store.save_if_unchanged(key, updated, previous, ttl):
                return decision
        return Decision(False, retry_after_ms=math.ceil(1000 / rule.refill_per_second))

    def enforce(self, rule: Rule, *scope: str) -> None:
        """Raises RATE_LIMITED with `retryAfterMs` when the bucket is empty."""
        decision = self.check(rule, *scope)
        if not decision.allowed:
            raise RateLimited(f"Too many {rule.name} actions; retry later", retry_after_ms=decision.retry_after_ms)


class DynamoBucketStore:
    def load(self, key: str) -> Bucket | None:
        try:
            item = EphemeralModel.get(key, consistent_read=True)
        except DoesNotExist:
            return None
        if item.tokens is None or item.updated_at is None:
            return None
        return Bucket(tokens=float(item.tokens), updated_at=float(item.updated_at))

    def save_if_unchanged(self, key: str, bucket: Bucket, previous: Bucket | None, ttl_seconds: int) -> bool:
        unchanged = (
            EphemeralModel.key.does_not_exist()
            if previous is None
            else EphemeralModel.updated_at == previous.updated_at
        )
        item = EphemeralModel(
            key,
            tokens=bucket.tokens,
            updated_at=bucket.updated_at,
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
        )
        try:
            item.save(condition=unchanged)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True


def rate_limiter(environment: Environment) -> RateLimiter:
    """The buckets of a function granted the Ephemeral table."""
    environment.table_name(EPHEMERAL)  # raises for a function without the grant
    return RateLimiter(DynamoBucketStore(), now=time.time)
