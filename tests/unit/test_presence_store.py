"""The DynamoDB presence stores, on moto."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from tidings.presence.machine import PresenceState
from tidings.presence.models import PresenceSubscriptionModel
from tidings.presence.presence_store import DynamoPresenceStore, DynamoPresenceSubscriptions
from tidings.sessions.connection_store import DynamoConnectionLiveness, DynamoConnectionStore

NOW = 1_800_000_000.0


def online(user_id: str = "u", connection_id: str = "c1") -> PresenceState:
    return PresenceState(user_id, status="available", connection_ids=frozenset({connection_id}), last_active_at=NOW)


def test_save_is_conditional_on_the_version_it_read(aws):
    store = DynamoPresenceStore()
    assert store.save(online(), expected_version=0)
    assert not store.save(online(), expected_version=0), "someone created it first"
    stored = store.load("u")
    assert stored is not None and stored.version == 1 and stored.connection_ids == {"c1"}
    assert store.save(replace(stored, status="dnd", manual_status="dnd"), expected_version=1)
    assert not store.save(replace(stored, status="brb"), expected_version=1), "a stale version loses"
    assert store.status_of("u") == "dnd"


def test_an_offline_user_with_no_connections_round_trips(aws):
    store = DynamoPresenceStore()
    gone = PresenceState("u", status="offline", last_seen=NOW, last_active_at=NOW - 5)
    assert store.save(gone, 0)
    assert store.load("u") == replace(gone, version=1)


def test_touch_records_activity_only_when_nothing_visible_changes(aws):
    store = DynamoPresenceStore()
    assert not store.touch("u", "c1", NOW), "no item: the full transition is needed"
    store.save(online(), 0)
    assert store.touch("u", "c1", NOW + 10)
    touched = store.load("u")
    assert touched is not None and touched.last_active_at == NOW + 10 and touched.version == 2
    assert not store.touch("u", "c9", NOW + 11), "an unknown connection needs the transition"
    store.save(replace(touched, status="away", idle=True), touched.version)
    assert not store.touch("u", "c1", NOW + 12), "automatic away ends by the transition"
    away = store.load("u")
    assert away is not None
    store.save(replace(away, status="away", manual_status="away", idle=False), away.version)
    assert store.touch("u", "c1", NOW + 13), "a chosen away is not ended by activity"


def test_states_reads_more_than_one_batch_and_skips_unknown_users(aws):
    store = DynamoPresenceStore()
    for index in range(0, 150, 3):
        store.save(online(f"user-{index}"), 0)
    states = store.states([f"user-{index}" for index in range(150)])
    assert sorted(states) == sorted(f"user-{index}" for index in range(0, 150, 3))
    assert store.status_of("never-seen") == "offline"


def test_subscriptions_lapse_at_read_time_before_ttl_deletes_them(aws):
    subscriptions = DynamoPresenceSubscriptions()
    now = time.time()
    subscriptions.subscribe("watcher", ["u", "v"], now + 600)
    subscriptions.subscribe("other", ["u"], now + 600)
    PresenceSubscriptionModel("u", "lapsed", expires_at=datetime.fromtimestamp(now - 1, UTC)).save()
    assert sorted(subscriptions.subscribers_of("u", now)) == ["other", "watcher"]
    assert sorted(subscriptions.subscribed_by("watcher", now)) == ["u", "v"]
    assert subscriptions.subscribed_by("lapsed", now) == []
    subscriptions.unsubscribe("watcher", ["u"])
    assert subscriptions.subscribers_of("u", now) == ["other"]
    assert subscriptions.subscribers_of("u", now + 601) == [], "renewing is subscribing again"


def test_liveness_reports_the_connections_still_registered(aws):
    DynamoConnectionStore().add("c1", "u", connected_at_ms=1, token_expires_at=2_000_000_000)
    assert DynamoConnectionLiveness().existing(frozenset({"c1", "c2"})) == {"c1"}
    assert DynamoConnectionLiveness().existing(frozenset()) == frozenset()


def test_statuses_answer_every_user_in_batches_offline_when_never_seen(aws):
    store = DynamoPresenceStore()
    store.save(replace(online("dnd-user"), status="dnd", manual_status="dnd"), 0)
    for index in range(120):
        store.save(online(f"user-{index}"), 0)
    statuses = store.statuses(["dnd-user", "never-seen", *(f"user-{index}" for index in range(120))])
    assert (statuses["dnd-user"], statuses["never-seen"], statuses["user-119"]) == ("dnd", "offline", "available")
    assert len(statuses) == 122
