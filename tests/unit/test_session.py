"""The session: version negotiation, the connection limit, auth.renew and chat.focus."""

import json
import sys
import time

import pytest

from tests.support.seed import make_chat
from tests.support.session_fakes import Clock, RecordingPoster, RecordingQueue
from tidings.kernel.errors import Forbidden, NotFound, Unauthorized
from tidings.kernel.wire import iso
from tidings.messaging.message_store import DynamoMessageStore
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.connections import HANDSHAKE_GRACE_MS, ConnectionRef, Disconnector, PendingClose
from tidings.sessions.models import ConnectionModel
from tidings.sessions.session_service import (
    SUPPORTED_VERSIONS,
    SessionService,
    TokenVerifier,
    connections_to_evict,
    negotiate,
)
from tidings.sessions.token_expiry import TokenTimer, TokenTimerService
from tidings.sessions.token_store import DynamoRevocations
from tidings.sessions.tokens import issue_token

KEY = "unit-test-signing-key-that-is-long-enough-for-hs256"
NOW = int(time.time())  # tokens are verified against the real clock: see fresh_now


@pytest.fixture(autouse=True)
def fresh_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's NOW is taken when it starts: a module-wide one goes stale on a slow machine
    (a 600 s token issued at import had expired by the time a long suite reached its test)."""
    monkeypatch.setattr(sys.modules[__name__], "NOW", int(time.time()))


UPGRADE_URL = "https://example.test/upgrade"


@pytest.fixture(autouse=True)
def _now() -> None:
    """NOW is the time each test starts, not when the module was collected: a long run reaches
    these tests more than a token's lifetime (15 minutes) after collecting them."""
    global NOW
    NOW = int(time.time())


# --- version negotiation --------------------------------------------------------------------


def test_versions_1_and_2_are_spoken():
    assert SUPPORTED_VERSIONS == (1, 2)
    assert (negotiate(1), negotiate(2)) == (1, 2)


@pytest.mark.parametrize("version", [0, -1, 3, 99])
def test_any_other_version_is_not(version):
    assert negotiate(version) is None


# --- the connection limit -------------------------------------------------------------------


def refs(*pairs):
    return [ConnectionRef(connection_id, at) for connection_id, at in pairs]


def test_up_to_five_connections_evict_nothing():
    existing = refs(("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5))
    assert connections_to_evict(existing, ConnectionRef("e", 5)) == []
    assert connections_to_evict(existing[:4], ConnectionRef("e", 5)) == []


def test_a_sixth_connection_evicts_the_oldest():
    existing = refs(("b", 2), ("a", 1), ("c", 3), ("d", 4), ("e", 5), ("f", 6))
    assert connections_to_evict(existing, ConnectionRef("f", 6)) == ["a"]


def test_the_new_connection_counts_even_before_the_index_lists_it():
    existing = refs(("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5))
    assert connections_to_evict(existing, ConnectionRef("f", 6)) == ["a"]


def test_the_new_connection_is_never_evicted_even_with_a_skewed_clock():
    existing = refs(("a", 10), ("b", 20), ("c", 30), ("d", 40), ("e", 50))
    assert connections_to_evict(existing, ConnectionRef("f", 5)) == ["a"]


def test_seven_connections_evict_the_two_oldest_with_ties_broken_by_id():
    existing = refs(("x", 1), ("w", 1), ("c", 3), ("d", 4), ("e", 5), ("f", 6))
    assert connections_to_evict(existing, ConnectionRef("g", 7)) == ["w", "x"]


def test_the_handshake_grace_outlasts_the_authorizer_and_connect_together():
    """A close that meets 410 keeps a young connection's record, since it may still open: as
    long as its authorizer and `$connect` may run (their declared timeouts), and a bit."""
    from tidings.sessions.declaration import AUTHORIZER, CONNECT

    assert (AUTHORIZER.timeout_seconds + CONNECT.timeout_seconds + 5) * 1000 <= HANDSHAKE_GRACE_MS


# --- the service ----------------------------------------------------------------------------


@pytest.fixture
def world(aws):
    clock = Clock(NOW)
    queue = RecordingQueue()
    poster = RecordingPoster()
    store = DynamoConnectionStore()
    revocations = DynamoRevocations()
    service = SessionService(
        store,
        DynamoMessageStore(),
        TokenVerifier(lambda: KEY, revocations),
        revocations,
        TokenTimerService(store, queue, poster, clock),
        Disconnector(store, poster, queue, clock),
        clock,
        UPGRADE_URL,
    )
    return service, store, queue, poster, clock, revocations


def test_connected_stores_arms_the_timer_and_closes_the_oldest_beyond_five(world):
    service, store, queue, poster, _, _ = world
    for n in range(1, 6):
        assert service.connected(f"c{n}", "alice", n * 1000, NOW + 900) == []
    service.connected("other", "bob", 500, NOW + 900)
    assert poster.calls == []

    assert service.connected("c6", "alice", 6000, NOW + 900) == ["c1"]
    assert poster.calls[0][:2] == ("post", "c1")
    assert poster.calls[0][2]["type"] == "error"
    assert poster.calls[0][2]["payload"]["code"] == "CONNECTION_LIMIT"
    assert poster.calls[1] == ("close", "c1")
    assert [c.connection_id for c in store.user_connections("alice")] == ["c2", "c3", "c4", "c5", "c6"]
    assert store.get("other") is not None
    assert queue.scheduled[-1] == (TokenTimer("refresh", "c6", NOW + 900, NOW + 830), 830)


def test_a_connection_that_cannot_be_closed_does_not_fail_the_new_one_and_its_close_is_queued(world):
    service, store, queue, poster, _, _ = world
    for n in range(1, 6):
        service.connected(f"c{n}", "alice", n * 1000, NOW + 900)
    poster.broken.add("c1")
    assert service.connected("c6", "alice", 6000, NOW + 900) == ["c1"]
    assert store.get("c6") is not None
    [(close, delay)] = [(t, d) for t, d in queue.scheduled if isinstance(t, PendingClose)]
    assert (close.connection_id, json.loads(close.data)["payload"]["code"], delay) == ("c1", "CONNECTION_LIMIT", 1)
    assert store.get("c1") is not None, "kept until the queued close reaches it"


def test_a_connect_after_the_users_revocation_is_refused_and_leaves_nothing(world):
    """The authorizer checked the token before the revocation; `$connect` reads it again after
    storing the connection, and refuses itself."""
    service, store, _, poster, _, revocations = world
    revocations.revoke("alice", NOW)
    with pytest.raises(Unauthorized, match="revoked"):
        service.connected("c1", "alice", NOW * 1000, NOW + 900, token_issued_at=NOW)
    assert store.get("c1") is None
    assert store.user_connections("alice") == []
    # A token issued after it connects.
    assert service.connected("c2", "alice", NOW * 1000, NOW + 900, token_issued_at=NOW + 1) == []
    assert poster.calls == []


def test_a_connect_that_fails_after_storing_leaves_nothing(world, monkeypatch):
    service, store, _, _, _, revocations = world

    def broken(user_id):
        raise ConnectionError("DynamoDB is unreachable")

    monkeypatch.setattr(revocations, "revoked_before", broken)
    with pytest.raises(ConnectionError):
        service.connected("c1", "alice", NOW * 1000, NOW + 900, token_issued_at=NOW)
    assert store.get("c1") is None
    assert store.user_connections("alice") == []


def test_hello_with_a_supported_version_welcomes_and_stores_it(world):
    service, store, _, poster, _, _ = world
    store.add("c1", "alice", NOW * 1000, NOW + 900)
    welcome = service.hello("c1", "alice", "f-1", 1, "web/1.0")
    assert welcome["type"] == "welcome"
    assert welcome["payload"] == {
        "refId": "f-1",
        "connectionId": "c1",
        "userId": "alice",
        "protocolVersion": 1,
        "supportedVersions": [1, 2],
        "heartbeatIntervalMs": 30000,
        "serverTime": iso(NOW),
    }
    item = ConnectionModel.get("c1")
    assert (item.protocol_version, item.client) == (1, "web/1.0")
    assert poster.calls == []


def test_hello_with_version_2_is_stored_for_the_fan_out_to_read(world):
    service, store, _, _, _, _ = world
    store.add("c1", "alice", NOW * 1000, NOW + 900)
    assert service.hello("c1", "alice", "f-1", 2, None)["payload"]["protocolVersion"] == 2
    assert store.focus_and_versions(["c1"]) == ({}, {"c1": 2})


def test_hello_with_an_unsupported_version_sends_upgrade_required_then_closes(world):
    service, store, _, poster, _, _ = world
    store.add("c1", "alice", NOW * 1000, NOW + 900)
    assert service.hello("c1", "alice", "f-1", 3, None) is None
    assert [call[0] for call in poster.calls] == ["post", "close"]
    error = poster.calls[0][2]
    assert error["type"] == "error"
    assert error["payload"]["code"] == "UPGRADE_REQUIRED"
    assert error["payload"]["refId"] == "f-1"
    assert error["payload"]["upgradeUrl"] == UPGRADE_URL
    assert error["payload"]["supportedVersions"] == [1, 2]
    assert error["payload"]["message"]
    assert store.get("c1") is None


def test_renew_extends_the_expiry_and_rearms_the_timer(world):
    service, store, queue, _, _, _ = world
    store.add("c1", "alice", NOW * 1000, NOW + 60)
    token = issue_token("alice", KEY, ttl_seconds=900, now=NOW)
    assert service.renew("c1", "alice", token) == NOW + 900
    assert store.get("c1").token_expires_at == NOW + 900
    assert queue.scheduled == [(TokenTimer("refresh", "c1", NOW + 900, NOW + 830), 830)]


def test_renew_with_a_token_that_expires_sooner_keeps_the_later_expiry(world):
    service, store, queue, _, _, _ = world
    store.add("c1", "alice", NOW * 1000, NOW + 900)
    assert service.renew("c1", "alice", issue_token("alice", KEY, ttl_seconds=600, now=NOW)) == NOW + 900
    assert store.get("c1").token_expires_at == NOW + 900
    assert queue.scheduled == []


def test_renew_with_another_users_token_is_forbidden(world):
    service, store, queue, _, _, _ = world
    store.add("c1", "alice", NOW * 1000, NOW + 60)
    with pytest.raises(Forbidden):
        service.renew("c1", "alice", issue_token("bob", KEY, ttl_seconds=900, now=NOW))
    assert store.get("c1").token_expires_at == NOW + 60
    assert queue.scheduled == []


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        issue_token("alice", "another-key-that-is-long-enough-for-hs256-signing", ttl_seconds=900),
        issue_token("alice", KEY, ttl_seconds=-10),
    ],
    ids=["malformed", "bad-signature", "expired"],
)
def test_renew_with_an_invalid_token_is_unauthorized(world, token):
    service, store, _, _, _, _ = world
    store.add("c1", "alice", NOW * 1000, NOW + 60)
    with pytest.raises(Unauthorized):
        service.renew("c1", "alice", token)
    assert store.get("c1").token_expires_at == NOW + 60


def test_renew_with_a_token_issued_before_a_revocation_is_unauthorized(world):
    service, store, _, _, _, revocations = world
    store.add("c1", "alice", NOW * 1000, NOW + 60)
    token = issue_token("alice", KEY, ttl_seconds=900)
    revocations.revoke("alice", int(time.time()))
    with pytest.raises(Unauthorized, match="revoked"):
        service.renew("c1", "alice", token)


def test_renew_on_a_gone_connection_is_not_found(world):
    service, _, _, _, _, _ = world
    with pytest.raises(NotFound):
        service.renew("gone", "alice", issue_token("alice", KEY, ttl_seconds=900))


def test_focus_stores_a_chat_of_the_user_and_null_clears_it(world):
    service, store, _, _, _, _ = world
    make_chat("project-x", ["alice", "bob"])
    store.add("c1", "alice", NOW * 1000, NOW + 900)
    service.focus("c1", "alice", "project-x")
    assert store.get("c1").focus_chat_id == "project-x"
    service.focus("c1", "alice", None)
    assert store.get("c1").focus_chat_id is None


def test_focus_on_a_chat_the_user_is_not_in_is_forbidden(world):
    service, store, _, _, _, _ = world
    make_chat("project-x", ["bob"])
    store.add("c1", "alice", NOW * 1000, NOW + 900)
    for chat_id in ("project-x", "no-such-chat"):
        with pytest.raises(Forbidden):
            service.focus("c1", "alice", chat_id)
    assert store.get("c1").focus_chat_id is None


def test_focus_never_creates_an_item_for_a_gone_connection(world):
    service, _, _, _, _, _ = world
    with pytest.raises(NotFound):
        service.focus("gone", "alice", None)
    assert ConnectionModel.count("gone") == 0
