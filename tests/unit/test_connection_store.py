import time
from datetime import timedelta

from tests.support.aws import count_batch_gets
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.connections import HANDSHAKE_GRACE_MS, ConnectionRef
from tidings.sessions.models import ConnectionModel, UserConnectionsModel


def test_connections_are_found_by_user_oldest_first(aws):
    store = DynamoConnectionStore()
    store.add("c2", "alice", connected_at_ms=2_000, token_expires_at=10)
    store.add("c1", "alice", connected_at_ms=1_000, token_expires_at=10)
    store.add("c3", "bob", connected_at_ms=1_500, token_expires_at=10)
    assert store.for_user("alice") == ["c1", "c2"]
    assert store.for_user("bob") == ["c3"]
    assert store.for_user("carol") == []


def test_many_users_connections_are_read_in_batches_of_a_hundred_oldest_first(aws, monkeypatch):
    store = DynamoConnectionStore()
    users = [f"user-{n:03d}" for n in range(250)]
    for n, user_id in enumerate(users[:200]):  # the last 50 are offline
        store.add(f"{user_id}-new", user_id, connected_at_ms=2_000 + n, token_expires_at=10)
        store.add(f"{user_id}-old", user_id, connected_at_ms=1_000 + n, token_expires_at=10)
    batches: list[int] = []
    real = UserConnectionsModel.batch_get

    def counted(keys, **kwargs):
        assert kwargs.get("consistent_read") is True, "the audience read is strongly consistent (the cut-off)"
        keys = list(keys)
        batches.append(len(keys))
        return real(keys, **kwargs)

    monkeypatch.setattr(UserConnectionsModel, "batch_get", counted)
    found = store.for_users(users)
    assert list(found) == users, "every user asked for, in the order asked"
    assert found["user-007"] == ["user-007-old", "user-007-new"]
    assert found["user-249"] == []
    assert batches == [250], "one call, which PynamoDB splits into BatchGetItems of 100"
    assert store.for_users([]) == {}


def test_the_focus_and_versions_of_many_connections_are_one_batch_read(aws, monkeypatch):
    store = DynamoConnectionStore()
    for n in range(3):
        store.add(f"c{n}", "alice", connected_at_ms=1_000 + n, token_expires_at=10)
    ConnectionModel("c1").update(actions=[ConnectionModel.focus_chat_id.set("general")])
    store.set_protocol("c2", 2, "pytest/1.0")
    batches = count_batch_gets(monkeypatch, ConnectionModel)

    focus, versions = store.focus_and_versions(["c0", "c1", "c2", "gone"])

    assert focus == {"c1": "general"}
    assert versions == {"c0": 1, "c1": 1, "c2": 2, "gone": 1}, "no hello (or gone): version 1"
    assert batches == [4]
    assert store.focus_and_versions([]) == ({}, {})


def test_removing_a_connection_forgets_it(aws):
    store = DynamoConnectionStore()
    store.add("c1", "alice", connected_at_ms=1_000, token_expires_at=10)
    store.remove("c1")
    assert store.for_user("alice") == []
    assert store.user_of("c1") is None
    store.remove("c1")  # removing twice is harmless ($disconnect after a 410 clean-up)


def test_a_connection_expires_by_ttl_after_api_gateways_two_hour_limit(aws):
    DynamoConnectionStore().add("c1", "alice", connected_at_ms=1_000_000, token_expires_at=10)
    item = ConnectionModel.get("c1")
    assert item.user_id == "alice"
    assert item.expires_at.timestamp() == 1_000 + 3 * 3600


def test_a_gone_connection_is_forgotten_unless_it_may_still_be_in_its_handshake(aws):
    store = DynamoConnectionStore()
    now_ms = int(time.time() * 1000)
    store.add("settled", "alice", connected_at_ms=now_ms - HANDSHAKE_GRACE_MS - 1000, token_expires_at=2_000_000_000)
    store.add("connecting", "alice", connected_at_ms=now_ms, token_expires_at=2_000_000_000)
    store.forget_gone("settled")
    store.forget_gone("connecting")  # API Gateway answers 410 until the handshake completes
    store.forget_gone("never-stored")
    assert store.for_user("alice") == ["connecting"]


def test_adding_returns_exactly_the_users_connections_as_the_write_left_them(aws):
    store = DynamoConnectionStore()
    assert store.add("c1", "alice", connected_at_ms=1_000, token_expires_at=10) == [ConnectionRef("c1", 1_000)]
    assert store.add("c2", "alice", connected_at_ms=2_000, token_expires_at=10) == [
        ConnectionRef("c1", 1_000),
        ConnectionRef("c2", 2_000),
    ]
    store.remove("c1", "alice")
    assert store.add("c3", "alice", connected_at_ms=3_000, token_expires_at=10) == [
        ConnectionRef("c2", 2_000),
        ConnectionRef("c3", 3_000),
    ]
    item = UserConnectionsModel.get("alice")
    assert item.expires_at.timestamp() == 3 + 3 * 3600  # the last connect + 3 h


def test_a_first_connect_creates_the_users_item_even_if_another_created_it_meanwhile(aws, monkeypatch):
    """SET of a map entry needs the map: the first connect creates it, conditionally; one that
    loses that race adds its entry to the map the other created."""
    store = DynamoConnectionStore()
    update = UserConnectionsModel.update
    raced: list[bool] = []

    def another_connect_creates_it_first(self, actions, condition=None, **kwargs):
        if not raced and "attribute_not_exists" in repr(condition):
            raced.append(True)
            UserConnectionsModel("alice", connections={"c0": 500}, expires_at=timedelta(hours=3)).save()
        return update(self, actions, condition=condition, **kwargs)

    monkeypatch.setattr(UserConnectionsModel, "update", another_connect_creates_it_first)
    assert [ref.connection_id for ref in store.add("c1", "alice", 1_000, 10)] == ["c0", "c1"]
    assert raced == [True]


def test_withdrawing_takes_a_connection_out_of_its_users_record_once_and_keeps_its_item(aws):
    store = DynamoConnectionStore()
    store.add("c1", "alice", connected_at_ms=1_000, token_expires_at=10)
    assert store.withdraw("alice", "c1") is True
    assert store.withdraw("alice", "c1") is False, "whoever withdraws it second does not close it"
    assert store.withdraw("bob", "c9") is False
    assert store.for_user("alice") == []
    assert store.get("c1") is not None
    assert UserConnectionsModel.count("bob") == 0, "no item is created for a user without connections"


def test_a_connect_prunes_entries_whose_disconnect_was_lost_hours_ago(aws):
    store = DynamoConnectionStore()
    hour_ms = 3600 * 1000
    store.add("ancient", "alice", connected_at_ms=10 * hour_ms, token_expires_at=10)
    ConnectionModel("ancient").delete()  # swept by TTL; its $disconnect never came
    store.add("recent", "alice", connected_at_ms=12 * hour_ms, token_expires_at=10)
    assert store.for_user("alice") == ["ancient", "recent"]  # within 3 h of each other
    assert [ref.connection_id for ref in store.add("new", "alice", 13 * hour_ms + 1, 10)] == ["recent", "new"]
    assert store.for_user("alice") == ["recent", "new"]
