"""Concurrent `$connect`s and revokes, under many interleavings.

Each `$connect` and each revoke runs as a task; they take turns at every DynamoDB request and
every @connections call (tests/support/interleave.py), in an order a seeded scheduler picks
(so a failing seed replays exactly): at random at every step, or by PCT's shifting priorities. The
@connections fake answers 410 for a connection until its `$connect` has returned (it is then
"open"), as API Gateway does. After the tasks, the queued closes run until none is left. Then:

- no connection is open without a record, and the user's record lists exactly the open ones;
- the connection limit holds: exactly 5 stay open, and each evicted one got one
  `error CONNECTION_LIMIT` and was closed;
- after a revoke, nothing of the user stays open.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.interleave import (
    Interleaving,
    pct_scheduler,
    random_scheduler,
    scripted_scheduler,
    steps_on_dynamodb,
    steps_on_methods,
)
from tests.support.session_fakes import Clock, RecordingPoster, RecordingQueue
from tidings.kernel.errors import ErrorCode, Unauthorized
from tidings.messaging.message_store import DynamoMessageStore
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.connections import Disconnector, PendingClose
from tidings.sessions.credentials import CredentialService
from tidings.sessions.session_service import MAX_CONNECTIONS_PER_USER, SessionService, TokenVerifier
from tidings.sessions.token_expiry import TokenTimerService
from tidings.sessions.token_store import DynamoRefreshTokenStore, DynamoRevocations
from tidings.sessions.tokens import Identity, InvalidToken, ensure_not_revoked

KEY = "unit-test-signing-key-that-is-long-enough-for-hs256"
NOW = 1_800_000_000
TOKEN_EXPIRES_AT = NOW + 900
TOKEN_ISSUED_AT = NOW - 60  # before any revocation in these tests


@dataclass
class SteppingPoster(RecordingPoster):
    """The @connections fake, each call a step of the interleaving."""

    interleaving: Interleaving | None = None

    def post(self, connection_id: str, data: str) -> bool:
        if self.interleaving is not None:
            self.interleaving.step("post")
        return super().post(connection_id, data)

    def close(self, connection_id: str) -> bool:
        if self.interleaving is not None:
            self.interleaving.step("close")
        return super().close(connection_id)


@dataclass
class World:
    """One user's connections, the services, and what the gateway saw."""

    user: str = field(default_factory=lambda: f"u-{uuid.uuid4().hex[:8]}")
    clock: Clock = field(default_factory=lambda: Clock(float(NOW)))
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    poster: SteppingPoster = field(default_factory=SteppingPoster)
    store: DynamoConnectionStore = field(default_factory=DynamoConnectionStore)
    revocations: DynamoRevocations = field(default_factory=DynamoRevocations)
    opened: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.timers = TokenTimerService(self.store, self.queue, self.poster, self.clock)
        self.disconnector = disconnector = Disconnector(self.store, self.poster, self.queue, self.clock)
        self.sessions = SessionService(
            self.store,
            DynamoMessageStore(),
            TokenVerifier(lambda: KEY, self.revocations),
            self.revocations,
            self.timers,
            disconnector,
            self.clock,
            "https://example.test/upgrade",
        )
        self.credentials = CredentialService(
            DynamoRefreshTokenStore(), self.revocations, self.store, disconnector, lambda: KEY, self.clock
        )

    def id(self, name: str) -> str:
        """A connection id of this world's user: Hypothesis runs many worlds in one moto account."""
        return f"{self.user}-{name}"

    def connect(self, connection_id: str, connected_at_ms: int, interleaving: Interleaving | None = None) -> None:
        """What API Gateway does for one connection: the authorizer, `$connect`, then (only if
        both let it through) the handshake completes and the connection opens."""
        self.poster.connecting.add(connection_id)
        try:
            identity = Identity(self.user, TOKEN_EXPIRES_AT, TOKEN_ISSUED_AT)
            ensure_not_revoked(identity, self.revocations.revoked_before(self.user))  # the authorizer
            self.sessions.connected(connection_id, self.user, connected_at_ms, TOKEN_EXPIRES_AT, TOKEN_ISSUED_AT)
        except (InvalidToken, Unauthorized):
            self.refused.add(connection_id)
            return
        finally:
            if interleaving is not None:
                interleaving.step()  # $connect has returned; the handshake completes a moment later
            self.poster.connecting.discard(connection_id)
        self.opened.add(connection_id)

    def run_queued_closes(self, rounds: int = 60) -> None:
        """Delivers the queued closes, a second apart, until none is left (token timers are
        not due within these seconds and stay queued)."""
        for _ in range(rounds):
            closes = [timer for timer, _ in self.queue.scheduled if isinstance(timer, PendingClose)]
            if not closes:
                return
            self.queue.scheduled = [(t, d) for t, d in self.queue.scheduled if not isinstance(t, PendingClose)]
            self.clock.now += 1
            for close in closes:
                self.timers.fire(close)
        if rounds == 60:
            raise AssertionError("closes kept re-queueing themselves")

    def open_now(self) -> set[str]:
        return self.opened - self.poster.gone

    def live_in_record(self) -> set[str]:
        return {ref.connection_id for ref in self.store.user_connections(self.user)}

    def error_codes(self, connection_id: str) -> list[str]:
        return [f["payload"]["code"] for f in self.poster.frames(connection_id) if f["type"] == "error"]

    def assert_no_connection_is_open_without_a_record(self) -> None:
        for connection_id in self.open_now():
            assert self.store.get(connection_id) is not None, f"{connection_id} is open without a record"
        assert self.live_in_record() == self.open_now(), "the user's record lists exactly the open connections"


def _run(world: World, rnd: random.Random, tasks: list[Any]) -> None:
    scheduler = random_scheduler(rnd) if rnd.random() < 0.3 else pct_scheduler(rnd, len(tasks))
    interleaving = Interleaving(scheduler)
    world.poster.interleaving = interleaving
    with steps_on_dynamodb(interleaving):
        runs = interleaving.run(*[lambda task=task: task(interleaving) for task in tasks])
    world.poster.interleaving = None
    for run in runs:
        if run.error is not None:
            raise run.error


SEEDS = range(20)


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_connects_keep_exactly_five_open_and_every_open_one_has_a_record(aws, seed):
    rnd = random.Random(seed)
    existing, concurrent = rnd.randint(0, MAX_CONNECTIONS_PER_USER), rnd.randint(2, 8)
    world = World()
    for n in range(existing):
        world.connect(world.id(f"old-{n}"), NOW * 1000 - 60_000 + n)
    # Connect times need not follow the order the $connects reach DynamoDB in.
    times = [NOW * 1000 + n for n in range(concurrent)]
    rnd.shuffle(times)
    new = [world.id(f"new-{n}") for n in range(concurrent)]
    _run(
        world,
        rnd,
        [
            lambda interleaving, cid=cid, at=at: world.connect(cid, at, interleaving)
            for cid, at in zip(new, times, strict=True)
        ],
    )
    world.run_queued_closes()

    world.assert_no_connection_is_open_without_a_record()
    total = existing + concurrent
    assert len(world.open_now()) == min(total, MAX_CONNECTIONS_PER_USER)
    for connection_id in world.opened:
        codes = world.error_codes(connection_id)
        if connection_id in world.open_now():
            assert codes == [], f"{connection_id} is open and was told {codes}"
        else:
            assert codes == ["CONNECTION_LIMIT"], f"{connection_id}: {codes}"
            assert world.store.get(connection_id) is None
    assert world.refused == set()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_revoke_during_a_connect_burst_leaves_nothing_of_the_user_open(aws, seed):
    rnd = random.Random(seed)
    existing, concurrent = rnd.randint(0, 3), rnd.randint(1, 7)
    world = World()
    for n in range(existing):
        world.connect(world.id(f"old-{n}"), NOW * 1000 - 60_000 + n)
    tasks: list[Any] = [
        lambda interleaving, n=n: world.connect(world.id(f"new-{n}"), NOW * 1000 + n, interleaving)
        for n in range(concurrent)
    ]
    tasks.insert(rnd.randint(0, len(tasks)), lambda interleaving: world.credentials.revoke(world.user))
    _run(world, rnd, tasks)
    world.run_queued_closes()

    assert world.open_now() == set(), "revoked connections stayed open"
    assert world.live_in_record() == set()
    for connection_id in world.opened:
        assert world.store.get(connection_id) is None
        codes = world.error_codes(connection_id)  # told once why: revoked, or evicted just before
        assert codes in (["UNAUTHORIZED"], ["CONNECTION_LIMIT"]), f"{connection_id}: {codes}"
    for connection_id in world.refused:
        assert world.store.get(connection_id) is None, "a refused connection left its record behind"


def test_an_eviction_that_meets_a_connection_inside_its_handshake_closes_it_once_it_opens(aws):
    """The zombie, step by step: the 6th `$connect` runs while the oldest is still in its own."""
    world = World()
    c = [world.id(f"c{n}") for n in range(6)]
    for n in range(4):
        world.connect(c[n], NOW * 1000 + n)
    world.poster.connecting.add(c[4])  # c4's $connect has stored it and not yet returned...
    world.sessions.connected(c[4], world.user, NOW * 1000 - 1, TOKEN_EXPIRES_AT, TOKEN_ISSUED_AT)
    world.connect(c[5], NOW * 1000 + 5)  # ...when c5 connects and evicts c4, the oldest

    assert world.error_codes(c[4]) == [], "c4 answered 410: nothing could reach it yet"
    assert world.store.get(c[4]) is not None, "its record is kept while it may still open"
    pending = [timer for timer, _ in world.queue.scheduled if isinstance(timer, PendingClose)]
    assert [close.connection_id for close in pending] == [c[4]]

    world.run_queued_closes(rounds=1)  # still connecting: the close waits again
    assert world.error_codes(c[4]) == [] and world.store.get(c[4]) is not None

    world.poster.connecting.discard(c[4])  # the handshake completes: c4 opens
    world.opened.add(c[4])
    world.run_queued_closes()
    assert world.error_codes(c[4]) == ["CONNECTION_LIMIT"]
    assert c[4] in world.poster.closed()
    world.assert_no_connection_is_open_without_a_record()
    assert world.open_now() == {c[0], c[1], c[2], c[3], c[5]}


def test_a_close_that_keeps_meeting_410_gives_up_once_the_connection_cannot_be_in_its_handshake(aws):
    world = World()
    c0 = world.id("c0")
    world.connect(c0, NOW * 1000)
    world.poster.gone.add(c0)  # gone without its $disconnect
    world.clock.now = NOW + 1
    world.credentials.revoke(world.user)
    assert world.store.get(c0) is not None  # young: it may be in its handshake
    world.run_queued_closes()  # a second apart, until 30 s have passed since it connected
    assert world.store.get(c0) is None
    assert world.live_in_record() == set()


@pytest.mark.parametrize("closing", ["revoke", "expire"])
def test_other_closes_of_a_connection_in_its_handshake_wait_for_it_too(aws, closing):
    world = World()
    c0 = world.id("c0")
    world.poster.connecting.add(c0)
    world.sessions.connected(c0, world.user, NOW * 1000, TOKEN_EXPIRES_AT, TOKEN_ISSUED_AT)
    if closing == "revoke":
        world.credentials.revoke(world.user)
    else:
        world.disconnector.close_with_error(c0, ErrorCode.UNAUTHORIZED, "The access token expired")
    assert world.store.get(c0) is not None
    world.poster.connecting.discard(c0)
    world.opened.add(c0)
    world.run_queued_closes()
    assert world.error_codes(c0) == ["UNAUTHORIZED"]
    assert world.open_now() == set() and world.store.get(c0) is None


def test_two_connects_that_pick_the_same_oldest_connection_close_it_once(aws):
    """The 6th and 7th `$connect` both joined before either evicted: both pick the oldest, and
    only the one that takes it out of the user's record may close it (the other evicts the next)."""
    world = World()
    c = [world.id(f"c{n}") for n in range(7)]
    for n in range(5):
        world.connect(c[n], NOW * 1000 + n)
    sixth, seventh = 0, 1
    interleaving = Interleaving(
        scripted_scheduler(
            (sixth, "withdraw"),  # joined: sees c0..c5
            (seventh, "withdraw"),  # joined: sees c0..c6
            (sixth, "close"),  # took c0 out, posted CONNECTION_LIMIT
            (seventh, None),
        )
    )
    world.poster.interleaving = interleaving
    with steps_on_methods(interleaving, DynamoConnectionStore, "withdraw"):
        runs = interleaving.run(
            lambda: world.connect(c[5], NOW * 1000 + 5), lambda: world.connect(c[6], NOW * 1000 + 6)
        )
    assert [run.error for run in runs] == [None, None]

    assert world.error_codes(c[0]) == ["CONNECTION_LIMIT"]
    assert world.error_codes(c[1]) == ["CONNECTION_LIMIT"]
    assert world.open_now() == {c[2], c[3], c[4], c[5], c[6]}
    world.assert_no_connection_is_open_without_a_record()


def test_a_connect_that_passed_the_authorizer_before_a_revoke_and_stored_after_it_refuses_itself(aws):
    """The known gap of old: revoke's read of the user's connections missed a `$connect` that
    the authorizer had already let through."""
    world = World()
    c0 = world.id("c0")
    connect, revoke = 0, 1
    interleaving = Interleaving(
        scripted_scheduler(
            (connect, "add"),  # the authorizer let it through; not stored yet
            (revoke, None),  # revokedBefore written, the user's (empty) record read
            (connect, None),
        )
    )
    with steps_on_methods(interleaving, DynamoConnectionStore, "add"):
        runs = interleaving.run(lambda: world.connect(c0, NOW * 1000), lambda: world.credentials.revoke(world.user))
    assert [run.error for run in runs] == [None, None]
    assert runs[revoke].result == 0, "revoke found nothing to close"

    assert world.refused == {c0}
    assert world.store.get(c0) is None and world.live_in_record() == set()
    assert world.open_now() == set()
