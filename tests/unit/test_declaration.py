"""`compose` refuses an application that AWS would throttle or that would not deploy, and says
what to do; `combined_grants` merges the grants of a function that does several features' work."""

from __future__ import annotations

import pytest

from tidings.app import APPLICATION
from tidings.chats.models import MEMBERS, USERS
from tidings.kernel.declaration import (
    MAX_STREAM_READERS,
    Authorizer,
    DeclarationError,
    Feature,
    Function,
    Queue,
    StreamSubscription,
    combined_grants,
    compose,
)
from tidings.messaging.models import MESSAGES

CONNECT = Function("Connect", "sessions", "connect.handler", "authorizes")
FAILURES = Queue("Failures")


def _readers(count: int) -> Feature:
    consumers = tuple(Function(f"Reader{n}", "messaging", f"reader{n}.handler", "reads") for n in range(count))
    return Feature(
        "streams",
        functions=consumers,
        stream_subscriptions=tuple(StreamSubscription(MESSAGES, f, on_failure=FAILURES) for f in consumers),
    )


def test_two_readers_of_one_stream_compose() -> None:
    application = compose(Feature("sessions", functions=(CONNECT,), authorizer=Authorizer(CONNECT)), _readers(2))
    assert [s.function.id for s in application.stream_subscriptions] == ["Reader0", "Reader1"]


def test_a_third_reader_of_one_stream_is_refused_with_what_to_do() -> None:
    with pytest.raises(DeclarationError) as refused:
        compose(Feature("sessions", functions=(CONNECT,), authorizer=Authorizer(CONNECT)), _readers(3))
    message = str(refused.value)
    assert "the Messages stream has 3 readers (Reader0, Reader1, Reader2)" in message
    assert "more than 2 per shard" in message
    assert "Do the new work in an existing consumer" in message


def test_the_application_reads_each_stream_at_most_twice() -> None:
    readers: dict[str, int] = {}
    for subscription in APPLICATION.stream_subscriptions:
        readers[subscription.table.id] = readers.get(subscription.table.id, 0) + 1
    assert max(readers.values()) <= MAX_STREAM_READERS
    assert readers["Messages"] == 2


def test_combined_grants_keep_each_table_once_with_the_widest_access() -> None:
    grants = combined_grants(((MEMBERS, "read"), (USERS, "read")), ((MEMBERS, "read_write"), (MESSAGES, "read")))
    assert grants == ((MEMBERS, "read_write"), (USERS, "read"), (MESSAGES, "read"))
    assert combined_grants(((USERS, "read"),), ((USERS, "write"),)) == ((USERS, "read_write"),)
