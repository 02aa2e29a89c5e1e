"""Token buckets: the pure decision, and the DynamoDB store under contention."""

import pytest

from tidings.kernel.errors import RateLimited
from tidings.kernel.ratelimits import Bucket, DynamoBucketStore, RateLimiter, Rule, decide
from tidings.messaging.declaration import MESSAGE_WRITES, URGENT
from tidings.messaging.declaration import TYPING_STARTS as TYPING


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_new_bucket_is_full():
    decision, bucket = decide(None, MESSAGE_WRITES, now=5.0)
    assert decision.allowed
    assert bucket == Bucket(tokens=9, updated_at=5.0)


def test_an_empty_bucket_says_when_the_next_token_arrives():
    decision, bucket = decide(Bucket(tokens=0.25, updated_at=10.0), MESSAGE_WRITES, now=10.0)
    assert not decision.allowed
    assert decision.retry_after_ms == 75  # 0.75 token at 10 tokens/s
    assert bucket is None


def test_refill_never_exceeds_capacity():
    decision, bucket = decide(Bucket(tokens=0, updated_at=0.0), TYPING, now=3600.0)
    assert decision.allowed
    assert bucket.tokens == 0


def test_a_burst_of_25_sends_gets_10_through_then_rate_limited(aws):
    clock = Clock()
    limiter = RateLimiter(DynamoBucketStore(), clock)
    results = [limiter.check(MESSAGE_WRITES, "alice").allowed for _ in range(25)]
    assert results == [True] * 10 + [False] * 15
    assert limiter.check(MESSAGE_WRITES, "bob").allowed, "buckets are per user"
    clock.now += 0.5
    assert sum(limiter.check(MESSAGE_WRITES, "alice").allowed for _ in range(10)) == 5


def test_enforce_raises_rate_limited_with_retry_after(aws):
    limiter = RateLimiter(DynamoBucketStore(), Clock())
    for _ in range(3):
        limiter.enforce(URGENT, "alice")
    with pytest.raises(RateLimited) as raised:
        limiter.enforce(URGENT, "alice")
    assert raised.value.retry_after_ms == pytest.approx(1200 * 1000, rel=0.01)  # one token per 20 minutes


def test_a_lost_race_rereads_instead_of_double_spending(aws):
    store = DynamoBucketStore()
    rule = Rule("test", capacity=1, refill_per_second=0.001)
    stale = store.load(rule.bucket_key("alice"))
    assert store.save_if_unchanged(rule.bucket_key("alice"), Bucket(0, 1.0), stale, 60)
    # A second writer that read the same (empty) state loses the race.
    assert not store.save_if_unchanged(rule.bucket_key("alice"), Bucket(0, 1.0), stale, 60)
    assert not RateLimiter(store, Clock(1.0)).check(rule, "alice").allowed


class _ContendedStore:
    """A bucket store whose writes lose `losses` races first, as one of several concurrent
    senders does while the others take their tokens."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.bucket: Bucket | None = None

    def load(self, key: str) -> Bucket | None:
        return self.bucket

    def save_if_unchanged(self, key: str, bucket: Bucket, previous: Bucket | None, ttl_seconds: int) -> bool:
        if self.losses:
            self.losses -= 1
            return False
        self.bucket = bucket
        return True


def test_a_sender_that_loses_races_to_fewer_than_a_bucket_of_others_is_not_limited():
    # Five concurrent sends of one user (each in its own Lambda): the last to win lost four races.
    rule = Rule("burst", capacity=10, refill_per_second=10)
    assert RateLimiter(_ContendedStore(losses=4), now=lambda: 1000.0).check(rule, "alice").allowed
    assert RateLimiter(_ContendedStore(losses=9), now=lambda: 1000.0).check(rule, "alice").allowed
    # Losing to a full bucket's worth of others is being over the limit.
    assert not RateLimiter(_ContendedStore(losses=11), now=lambda: 1000.0).check(rule, "alice").allowed
