"""Idempotency is scoped to (chat, sender, frame id) for every mutation, on moto.

Two users who happen to pick the same frame id make two independent requests; the same user
retrying gets the same ack and nothing new; the same user reusing an id for another request
gets CONFLICT, never someone else's result.
"""

import time

import pytest

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.kernel.errors import Conflict, NotFound
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.idempotency import idempotency_key
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.models import MessageModel
from tidings.messaging.records import message_from_model
from tidings.messaging.sending import MessageService, SendMessage


@pytest.fixture
def services(aws):
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    store, users = DynamoMessageStore(), DynamoUserDirectory()
    return (
        MessageService(store, users, NoLimits(), now=time.time),
        ChatEventService(store, users, NoLimits(), now=time.time),
    )


def send(services, sender, request_id, content="hello", **fields):
    sending, _ = services
    return sending.send(sender, SendMessage(request_id=request_id, chat_id="project-x", content=content, **fields))


def stored(kind=None):
    return [item for item in MessageModel.query("project-x") if kind is None or item.kind == kind]


def test_no_choice_of_ids_makes_two_requests_share_a_key():
    assert idempotency_key("message.send", "chat", "bob", "1") == "message.send#chat#bob#1"
    assert idempotency_key("message.send", "chat", "bob#1", "2") != idempotency_key(
        "message.send", "chat", "bob", "1#2"
    )
    assert idempotency_key("message.send", "a#b", "c", "1") != idempotency_key("message.send", "a", "b#c", "1")


# --- message.send ---------------------------------------------------------------------------


def test_two_users_sending_with_the_same_id_store_two_messages(services):
    bobs = send(services, "bob", "1", "from bob")
    carols = send(services, "carol", "1", "from carol")
    assert carols.sender_id == "carol"
    assert carols.content == "from carol"
    assert carols.message_id != bobs.message_id
    assert sorted((m.sender_id, m.content) for m in map(message_from_model, stored("message"))) == [
        ("bob", "from bob"),
        ("carol", "from carol"),
    ]


def test_a_retry_by_the_same_user_gets_the_same_message_and_seq(services):
    first = send(services, "bob", "1", "once", priority="normal")
    retry = send(services, "bob", "1", "once", priority="normal")
    assert (retry.message_id, retry.seq) == (first.message_id, first.seq)
    assert len(stored("message")) == 1


def test_the_same_user_reusing_an_id_for_another_message_gets_conflict(services):
    send(services, "bob", "1", "the first")
    with pytest.raises(Conflict):
        send(services, "bob", "1", "something else")
    with pytest.raises(Conflict):
        send(services, "bob", "1", "the first", priority="urgent")
    assert [item.content for item in stored("message")] == ["the first"]


def test_a_retry_of_a_message_that_was_since_deleted_still_gets_its_ack(services):
    _, events = services
    first = send(services, "bob", "1", "soon gone")
    events.delete("bob", "d1", first.message_id)
    retry = send(services, "bob", "1", "soon gone")
    assert (retry.message_id, retry.seq, retry.deleted) == (first.message_id, first.seq, True)


# --- message.edit ---------------------------------------------------------------------------


def test_edits_by_two_users_with_the_same_id_are_independent(services):
    _, events = services
    bobs = send(services, "bob", "m1", "bob v1")
    carols = send(services, "carol", "m1", "carol v1")
    bob_edit = events.edit("bob", "e", bobs.message_id, "bob v2")
    carol_edit = events.edit("carol", "e", carols.message_id, "carol v2")
    assert carol_edit.seq != bob_edit.seq
    assert carol_edit.message.message_id == carols.message_id
    assert carol_edit.message.content == "carol v2"
    assert len(stored("edit")) == 2


def test_an_edit_retry_gets_the_same_seq_and_a_changed_edit_conflicts(services):
    _, events = services
    message = send(services, "bob", "m1", "v1")
    first = events.edit("bob", "e", message.message_id, "v2")
    assert events.edit("bob", "e", message.message_id, "v2").seq == first.seq
    with pytest.raises(Conflict):
        events.edit("bob", "e", message.message_id, "v3")
    assert len(stored("edit")) == 1
    assert message_from_model(stored("message")[0]).content == "v2"


# --- message.delete -------------------------------------------------------------------------


def test_deletes_by_two_users_with_the_same_id_delete_two_messages(services):
    _, events = services
    alices = send(services, "alice", "m1", "alice's")
    bobs = send(services, "bob", "m1", "bob's")
    by_alice = events.delete("alice", "d", alices.message_id)
    by_bob = events.delete("bob", "d", bobs.message_id)
    assert by_bob.message.message_id == bobs.message_id
    assert by_bob.seq != by_alice.seq
    assert all(item.deleted for item in stored("message")), "bob's message is deleted too"


def test_a_delete_retry_after_the_delete_gets_the_same_ack_not_not_found(services):
    _, events = services
    message = send(services, "bob", "m1")
    first = events.delete("bob", "d", message.message_id)
    retry = events.delete("bob", "d", message.message_id)
    assert (retry.seq, retry.message.message_id) == (first.seq, message.message_id)
    assert len(stored("delete")) == 1


def test_reusing_a_delete_id_for_another_message_conflicts(services):
    _, events = services
    first, second = send(services, "bob", "m1"), send(services, "bob", "m2")
    events.delete("bob", "d", first.message_id)
    with pytest.raises(Conflict):
        events.delete("bob", "d", second.message_id)
    assert not message_from_model(stored("message")[1]).deleted


def test_a_delete_of_an_already_deleted_message_with_a_new_id_is_not_found(services):
    _, events = services
    message = send(services, "bob", "m1")
    events.delete("bob", "d1", message.message_id)
    with pytest.raises(NotFound):
        events.delete("bob", "d2", message.message_id)


# --- message.react --------------------------------------------------------------------------


def test_reactions_by_two_users_with_the_same_id_are_both_recorded(services):
    _, events = services
    message = send(services, "alice", "m1")
    by_bob = events.react("bob", "r", message.message_id, "👍", "add")
    by_carol = events.react("carol", "r", message.message_id, "🎉", "add")
    assert by_carol.seq is not None and by_carol.seq != by_bob.seq
    assert by_carol.message.reactions == {"👍": ["bob"], "🎉": ["carol"]}


def test_a_reaction_retry_gets_the_same_seq_and_a_changed_reaction_conflicts(services):
    _, events = services
    message = send(services, "alice", "m1")
    first = events.react("bob", "r", message.message_id, "👍", "add")
    assert events.react("bob", "r", message.message_id, "👍", "add").seq == first.seq
    with pytest.raises(Conflict):
        events.react("bob", "r", message.message_id, "🎉", "add")
    with pytest.raises(Conflict):
        events.react("bob", "r", message.message_id, "👍", "remove")
    assert message_from_model(stored("message")[0]).reactions == {"👍": ["bob"]}
    assert len(stored("reaction")) == 1


def test_a_reaction_that_changed_nothing_still_holds_its_id(services):
    _, events = services
    message = send(services, "alice", "m1")
    events.react("bob", "r1", message.message_id, "👍", "add")
    no_op = events.react("bob", "r2", message.message_id, "👍", "add")
    assert no_op.seq is None
    assert events.react("bob", "r2", message.message_id, "👍", "add").seq is None, "its retry: the same ack"
    with pytest.raises(Conflict):
        events.react("bob", "r2", message.message_id, "🎉", "add")
    assert message_from_model(stored("message")[0]).reactions == {"👍": ["bob"]}
