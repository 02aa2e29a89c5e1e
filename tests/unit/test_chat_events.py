"""Edit, delete and react on moto: permissions, seqs, erasure, idempotent retries."""

import time

import pytest

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.kernel.errors import Forbidden, NotFound
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import MessageService, SendMessage


@pytest.fixture
def services(aws):
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    store, users = DynamoMessageStore(), DynamoUserDirectory()
    limiter = NoLimits()  # these tests are not about rate limits
    return (
        MessageService(store, users, limiter, now=time.time),
        ChatEventService(store, users, limiter, now=time.time),
    )


@pytest.fixture
def message(services):
    sending, _ = services
    return sending.send("bob", SendMessage(request_id="m1", chat_id="project-x", content="hello @carol"))


def kinds():
    return [(int(item.seq), item.kind) for item in MessageModel.query("project-x")]


def test_the_sender_edits_and_the_edit_takes_the_next_seq(services, message):
    _, events = services
    outcome = events.edit("bob", "e1", message.message_id, "hello @alice")
    assert outcome.seq == 2
    assert outcome.message.content == "hello @alice"
    assert outcome.message.mentions == ["alice"]
    assert outcome.message.edited_at is not None
    assert outcome.message.seq == 1, "the message keeps its creation seq"
    assert kinds() == [(1, "message"), (2, "edit")]


def test_only_the_sender_may_edit(services, message):
    _, events = services
    with pytest.raises(Forbidden):
        events.edit("alice", "e1", message.message_id, "not mine")
    assert MessageModel.get("project-x", 1).content == "hello @carol"


def test_a_non_member_cannot_touch_a_message(services, message):
    _, events = services
    with pytest.raises(Forbidden):
        events.react("mallory", "r1", message.message_id, "👍", "add")


def test_an_unknown_message_is_not_found(services):
    _, events = services
    with pytest.raises(NotFound):
        events.edit("bob", "e1", "no-such-message", "x")


def test_an_edit_retry_returns_the_same_seq_and_writes_nothing_more(services, message):
    _, events = services
    first = events.edit("bob", "same", message.message_id, "v2")
    retry = events.edit("bob", "same", message.message_id, "v2")
    assert retry.seq == first.seq == 2
    assert kinds() == [(1, "message"), (2, "edit")]


def test_the_sender_deletes_and_the_content_is_erased(services, message):
    _, events = services
    events.react("carol", "r1", message.message_id, "👍", "add")
    outcome = events.delete("bob", "d1", message.message_id)
    assert outcome.seq == 3
    stored = MessageModel.get("project-x", 1)
    assert stored.deleted is True
    assert stored.content is None
    assert stored.mentions == []
    assert stored.reactions.as_dict() == {}
    assert all(item.content is None for item in MessageModel.query("project-x") if item.kind != "message")


def test_a_chat_admin_may_delete_someone_elses_message_but_a_member_may_not(services, message):
    _, events = services
    with pytest.raises(Forbidden):
        events.delete("carol", "d1", message.message_id)
    assert events.delete("alice", "d2", message.message_id).seq == 2


def test_a_deleted_message_cannot_be_edited_or_reacted_to(services, message):
    _, events = services
    events.delete("bob", "d1", message.message_id)
    with pytest.raises(NotFound):
        events.edit("bob", "e1", message.message_id, "back from the dead")
    with pytest.raises(NotFound):
        events.react("carol", "r1", message.message_id, "👍", "add")


def test_reactions_map_emoji_to_users_and_duplicate_adds_change_nothing(services, message):
    _, events = services
    assert events.react("carol", "r1", message.message_id, "👍", "add").message.reactions == {"👍": ["carol"]}
    second = events.react("alice", "r2", message.message_id, "👍", "add")
    assert second.message.reactions == {"👍": ["carol", "alice"]}
    duplicate = events.react("carol", "r3", message.message_id, "👍", "add")
    assert duplicate.seq is None, "a duplicate add is not an event"
    assert duplicate.message.reactions == {"👍": ["carol", "alice"]}
    removed = events.react("carol", "r4", message.message_id, "👍", "remove")
    assert removed.message.reactions == {"👍": ["alice"]}
    assert events.react("carol", "r5", message.message_id, "👍", "remove").seq is None
    assert [kind for _, kind in kinds()] == ["message", "reaction", "reaction", "reaction"]


def test_a_reaction_retry_returns_the_same_seq(services, message):
    _, events = services
    first = events.react("carol", "same", message.message_id, "🎉", "add")
    retry = events.react("carol", "same", message.message_id, "🎉", "add")
    assert retry.seq == first.seq
    assert retry.message.reactions == {"🎉": ["carol"]}
    assert len(kinds()) == 2
