import time

from tidings.domain.connections import HANDSHAKE_GRACE_MS
from tidings.storage.connections import DynamoConnectionStore
from tidings.storage.models import ConnectionModel


def test_connections_are_found_by_user_oldest_first(aws):
    store = DynamoConnectionStore()
    store.add("c2", "alice", connected_at_ms=2_000, token_expires_at=10)
    store.add("c1", "alice", connected_at_ms=1_000, token_expires_at=10)
    store.add("c3", "bob", connected_at_ms=1_500, token_expires_at=10)
    assert store.for_user("alice") == ["c1", "c2"]
    assert store.for_user("bob") == ["c3"]
    assert store.for_user("carol") == []


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
