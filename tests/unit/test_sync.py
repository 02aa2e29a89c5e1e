"""Sync on moto: events after a seq in order, paging with cursors, holes, tooLarge, rendering
after edits and deletes, multi-chat with a forbidden chat, and what it costs in DynamoDB calls."""

from __future__ import annotations

import time

import pytest
from pynamodb.connection.base import Connection

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.chats.models import ChatModel, MemberModel
from tidings.kernel.errors import BadFrame, ErrorCode, Forbidden
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import MessageService, SendMessage
from tidings.messaging.sync_store import DynamoSyncStore
from tidings.messaging.syncing import (
    FULL_WATERMARKS_MAX_MEMBERS,
    LISTED_READERS,
    MAX_MISSED_EVENTS,
    ChatRefused,
    ChatSync,
    ChatTooLarge,
    SyncService,
    decode_cursor,
    encode_cursor,
)


class Chat:
    """Writes chat events through the real services, as the handlers do."""

    def __init__(self, chat_id: str) -> None:
        store, users = DynamoMessageStore(), DynamoUserDirectory()
        self.chat_id = chat_id
        self.sending = MessageService(store, users, NoLimits(), now=time.time)
        self.events = ChatEventService(store, users, NoLimits(), now=time.time)
        self._ids = 0

    def _id(self) -> str:
        self._ids += 1
        return f"frame-{self._ids}"

    def send(self, sender: str, content: str, frame_id: str | None = None):
        return self.sending.send(sender, SendMessage(frame_id or self._id(), self.chat_id, content))

    def edit(self, actor: str, message_id: str, content: str) -> int:
        seq = self.events.edit(actor, self._id(), message_id, content).seq
        assert seq is not None
        return seq

    def delete(self, actor: str, message_id: str) -> int:
        seq = self.events.delete(actor, self._id(), message_id).seq
        assert seq is not None
        return seq

    def react(self, actor: str, message_id: str, emoji: str, action: str = "add") -> int:
        seq = self.events.react(actor, self._id(), message_id, emoji, action).seq  # type: ignore[arg-type]
        assert seq is not None
        return seq


@pytest.fixture
def chat(aws) -> Chat:
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    make_chat("general", ["alice", "bob", "carol", "dave", "erin"], chat_type="channel")
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    return Chat("project-x")


@pytest.fixture
def sync() -> SyncService:
    return SyncService(DynamoSyncStore())


def summary(result: ChatSync) -> list[tuple[str, int]]:
    return [(frame["type"], frame["payload"]["seq"]) for frame in result.events]


def test_events_after_the_last_known_seq_come_in_order_as_server_frames(chat, sync):
    first = chat.send("alice", "one")
    chat.send("bob", "two")
    chat.send("carol", "three")
    result = sync.sync_chat("bob", "project-x", first.seq, None, 100)
    assert isinstance(result, ChatSync)
    assert summary(result) == [("message.new", 2), ("message.new", 3)]
    assert [frame["payload"]["message"]["content"] for frame in result.events] == ["two", "three"]
    assert all(frame["payload"]["chatId"] == "project-x" for frame in result.events)
    assert (result.has_more, result.cursor, result.head_seq) == (False, None, 3)
    wire = result.to_wire()
    assert set(wire) == {"chatId", "events", "hasMore", "cursor", "headSeq", "readWatermarks"}


def test_an_up_to_date_client_gets_no_events(chat, sync):
    message = chat.send("alice", "one")
    result = sync.sync_chat("bob", "project-x", message.seq, None, 100)
    assert isinstance(result, ChatSync)
    assert (result.events, result.has_more, result.head_seq) == ([], False, 1)


def test_events_render_the_message_as_it_is_now(chat, sync):
    """An edit after the message: the replayed message.new already shows the edited content,
    and message.updated follows; a delete erases the content from every replayed frame."""
    kept = chat.send("alice", "draft")
    gone = chat.send("bob", "secret")
    edit_seq = chat.edit("alice", kept.message_id, "final")
    react_seq = chat.react("carol", kept.message_id, "👍")
    delete_seq = chat.delete("bob", gone.message_id)

    result = sync.sync_chat("carol", "project-x", 0, None, 100)
    assert isinstance(result, ChatSync)
    assert summary(result) == [
        ("message.new", kept.seq),
        ("message.new", gone.seq),
        ("message.updated", edit_seq),
        ("message.reaction", react_seq),
        ("message.deleted", delete_seq),
    ]
    new_kept, new_gone, updated, reaction, deleted = (frame["payload"] for frame in result.events)
    assert new_kept["message"]["content"] == "final"
    assert new_kept["message"]["editedAt"] is not None
    assert new_gone["message"]["deleted"] is True
    assert new_gone["message"]["content"] is None
    assert updated["message"]["content"] == "final"
    assert updated["message"]["seq"] == kept.seq, "the message keeps its creation seq"
    assert reaction == {
        "chatId": "project-x",
        "seq": react_seq,
        "messageId": kept.message_id,
        "reactions": {"👍": ["carol"]},
    }
    assert deleted == {"chatId": "project-x", "seq": delete_seq, "messageId": gone.message_id}
    assert "secret" not in repr(result.to_wire())


def test_an_event_about_an_older_message_renders_it_from_outside_the_page(chat, sync):
    old = chat.send("alice", "old news")
    chat.send("bob", "newer")
    edit_seq = chat.edit("alice", old.message_id, "corrected")
    result = sync.sync_chat("bob", "project-x", 2, None, 100)
    assert isinstance(result, ChatSync)
    assert summary(result) == [("message.updated", edit_seq)]
    assert result.events[0]["payload"]["message"]["content"] == "corrected"


def test_paging_with_a_cursor_returns_every_event_once_in_order(chat, sync):
    sent = [chat.send("alice", f"m{i}") for i in range(5)]
    chat.react("bob", sent[0].message_id, "🎉")

    seen: list[tuple[str, int]] = []
    result = sync.sync_chat("bob", "project-x", 0, None, 2)
    assert isinstance(result, ChatSync)
    pages = 1
    while result.has_more:
        assert result.cursor is not None
        seen += summary(result)
        result = sync.sync_chat("bob", "project-x", None, result.cursor, 2)
        assert isinstance(result, ChatSync)
        pages += 1
    seen += summary(result)
    assert seen == [("message.new", s) for s in range(1, 6)] + [("message.reaction", 6)]
    assert pages == 3
    assert result.cursor is None


def test_a_cursor_replaces_last_known_seq(chat, sync):
    for i in range(3):
        chat.send("alice", f"m{i}")
    result = sync.sync_chat("bob", "project-x", 0, encode_cursor("project-x", 2), 100)
    assert isinstance(result, ChatSync)
    assert summary(result) == [("message.new", 3)]


def test_exactly_limit_events_left_is_not_has_more(chat, sync):
    for i in range(3):
        chat.send("alice", f"m{i}")
    result = sync.sync_chat("bob", "project-x", 0, None, 3)
    assert isinstance(result, ChatSync)
    assert (len(result.events), result.has_more, result.cursor) == (3, False, None)


def test_holes_are_skipped_and_head_seq_covers_them(chat, sync):
    first = chat.send("alice", "one", frame_id="same-frame")
    retried = chat.send("alice", "one", frame_id="same-frame")  # a retry: its seq (2) stays a hole
    assert retried.seq == first.seq
    chat.send("bob", "three")
    DynamoMessageStore().allocate_seq("project-x")  # a send that failed after allocating: hole 4
    result = sync.sync_chat("carol", "project-x", 0, None, 100)
    assert isinstance(result, ChatSync)
    assert summary(result) == [("message.new", 1), ("message.new", 3)]
    assert (result.has_more, result.head_seq) == (False, 4)


def test_an_item_of_a_kind_this_code_does_not_know_is_skipped_but_read_past(chat, sync):
    chat.send("alice", "one")
    seq = DynamoMessageStore().allocate_seq("project-x")
    MessageModel(
        "project-x", seq, kind="topic", message_id="t1", sender_id="alice", sender_name="Alice", created_at="x"
    ).save()
    result = sync.sync_chat("bob", "project-x", 1, None, 1)
    assert isinstance(result, ChatSync)
    assert result.events == []
    assert result.has_more is False


def test_more_than_500_missed_events_is_too_large(chat, sync):
    chat.send("alice", "one")
    ChatModel("project-x").update(actions=[ChatModel.head_seq.set(700)])  # a busy chat
    too_large = sync.sync_chat("bob", "project-x", 700 - MAX_MISSED_EVENTS - 1, None, 100)
    assert isinstance(too_large, ChatTooLarge)
    assert too_large.to_wire() == {
        "chatId": "project-x",
        "tooLarge": True,
        "headSeq": 700,
        "readWatermarks": {"alice": 1, "bob": 0, "carol": 0},  # alice's message moved hers
    }
    just_fits = sync.sync_chat("bob", "project-x", 700 - MAX_MISSED_EVENTS, None, 100)
    assert isinstance(just_fits, ChatSync)


def test_read_watermarks_are_every_members_last_read_seq(chat, sync):
    chat.send("alice", "one")
    chat.send("alice", "two")
    MemberModel("project-x", "bob").update(actions=[MemberModel.last_read_seq.set(2)])
    MemberModel("project-x", "carol").update(actions=[MemberModel.last_read_seq.set(1)])
    result = sync.sync_chat("alice", "project-x", 2, None, 100)
    assert result.read_watermarks == {"alice": 2, "bob": 2, "carol": 1}, "sending moved alice's to her message"


def test_a_non_member_is_forbidden_and_learns_nothing(chat, sync):
    chat.send("alice", "one")
    with pytest.raises(Forbidden):
        sync.sync_chat("dave", "project-x", 0, None, 100)
    with pytest.raises(Forbidden):
        sync.sync_chat("alice", "no-such-chat", 0, None, 100)


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor!", encode_cursor("general", 1), "eyJ4IjoxfQ"],
    ids=["garbage", "another-chats-cursor", "wrong-shape"],
)
def test_a_bad_cursor_is_a_bad_frame(chat, sync, cursor):
    with pytest.raises(BadFrame):
        sync.sync_chat("bob", "project-x", None, cursor, 100)


def test_cursors_round_trip_and_are_opaque_strings():
    cursor = encode_cursor("general", 41)
    assert isinstance(cursor, str)
    assert "41" not in cursor
    assert decode_cursor("general", cursor) == 41


def test_multi_chat_syncs_each_chat_and_refuses_only_the_forbidden_one(chat, sync):
    chat.send("alice", "in project-x")
    general = Chat("general")
    general.send("dave", "in general")
    general.send("erin", "again")
    Chat("dm-alice-bob").send("alice", "private")

    results = sync.sync_chats("carol", {"general": 1, "dm-alice-bob": 0, "project-x": 0, "nope": 0}, 100)
    assert [result.chat_id for result in results] == ["general", "dm-alice-bob", "project-x", "nope"]
    general_result, dm, project, nope = results
    assert isinstance(general_result, ChatSync)
    assert summary(general_result) == [("message.new", 2)]
    assert isinstance(project, ChatSync)
    assert summary(project) == [("message.new", 1)]
    for refused in (dm, nope):
        assert isinstance(refused, ChatRefused)
        assert refused.to_wire() == {
            "chatId": refused.chat_id,
            "error": {"code": "FORBIDDEN", "message": f"You are not a member of chat {refused.chat_id!r}"},
        }
    assert "private" not in repr([result.to_wire() for result in results])


def test_multi_chat_takes_cursors_and_reports_a_bad_one_per_chat(chat, sync):
    for i in range(3):
        chat.send("alice", f"m{i}")
    results = sync.sync_chats("bob", {"project-x": encode_cursor("project-x", 1), "general": "bad"}, 100)
    project, general = results
    assert isinstance(project, ChatSync)
    assert summary(project) == [("message.new", 2), ("message.new", 3)]
    assert isinstance(general, ChatRefused)
    assert general.error.code == ErrorCode.BAD_FRAME


def test_multi_chat_too_large_is_per_chat(chat, sync):
    chat.send("alice", "one")
    ChatModel("general").update(actions=[ChatModel.head_seq.set(900)])
    general, project = sync.sync_chats("bob", {"general": 0, "project-x": 0}, 100)
    assert isinstance(general, ChatTooLarge)
    assert isinstance(project, ChatSync)
    assert summary(project) == [("message.new", 1)]


def test_a_response_stays_within_its_byte_budget_and_the_cursor_carries_on(chat):
    for i in range(6):
        chat.send("alice", f"{i}" + "x" * 1500)
    small = SyncService(DynamoSyncStore(), budget_bytes=5000)
    seqs: list[int] = []
    result = small.sync_chat("bob", "project-x", 0, None, 100)
    assert isinstance(result, ChatSync)
    assert 0 < len(result.events) < 6
    assert result.has_more
    while True:
        assert isinstance(result, ChatSync)
        seqs += [seq for _, seq in summary(result)]
        if not result.has_more:
            break
        result = small.sync_chat("bob", "project-x", None, result.cursor, 100)
    assert seqs == [1, 2, 3, 4, 5, 6]


def test_a_multi_chat_response_out_of_budget_defers_the_remaining_chats(chat):
    for i in range(4):
        chat.send("alice", f"{i}" + "x" * 1500)
    Chat("general").send("bob", "y" * 1500)
    small = SyncService(DynamoSyncStore(), budget_bytes=4000)
    project, general = small.sync_chats("bob", {"project-x": 0, "general": 0}, 100)
    assert isinstance(project, ChatSync)
    assert isinstance(general, ChatSync)
    assert project.has_more
    assert (general.events, general.has_more) == ([], True)
    assert general.cursor is not None
    again = small.sync_chats("bob", {"general": general.cursor}, 100)[0]
    assert isinstance(again, ChatSync)
    assert summary(again) == [("message.new", 1)]


@pytest.fixture
def dynamodb_calls(monkeypatch) -> list[tuple[str, str]]:
    """Every DynamoDB call PynamoDB makes: (operation, table)."""
    calls: list[tuple[str, str]] = []
    original = Connection._make_api_call

    def counting(self, operation_name, operation_kwargs):
        tables = operation_kwargs.get("TableName") or ",".join(operation_kwargs.get("RequestItems", {}))
        calls.append((operation_name, tables))
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    return calls


def test_a_chat_sync_is_one_query_of_the_log_and_one_batch_get_of_older_messages(chat, sync, dynamodb_calls):
    old = [chat.send("alice", f"old {i}") for i in range(3)]
    for i in range(3):
        chat.send("bob", f"new {i}")
    for message in old:
        chat.react("carol", message.message_id, "👀")
    chat.edit("alice", old[0].message_id, "edited")
    dynamodb_calls.clear()

    result = sync.sync_chat("bob", "project-x", 3, None, 100)
    assert isinstance(result, ChatSync)
    assert len(result.events) == 7
    messages_table = MessageModel.Meta.table_name
    assert [call for call in dynamodb_calls if messages_table in call[1]] == [
        ("Query", messages_table),
        ("BatchGetItem", messages_table),
    ]
    assert [operation for operation, _ in dynamodb_calls] == ["BatchGetItem", "Query", "Query", "BatchGetItem"]


def test_targets_inside_the_page_need_no_batch_get(chat, sync, dynamodb_calls):
    message = chat.send("alice", "one")
    chat.react("bob", message.message_id, "👍")
    dynamodb_calls.clear()
    sync.sync_chat("bob", "project-x", 0, None, 100)
    assert [operation for operation, table in dynamodb_calls if table == MessageModel.Meta.table_name] == ["Query"]


def _big_channel(chat_id: str, members: int, chat_type: str = "channel") -> list[str]:
    """A chat of `members` members, `user-000` … whose watermarks are their index (user-000 read nothing)."""
    user_ids = [f"user-{n:03d}" for n in range(members)]
    make_chat(chat_id, user_ids, chat_type=chat_type)
    ChatModel(chat_id).update(actions=[ChatModel.head_seq.set(members - 10)])
    for n, user_id in enumerate(user_ids):
        if n:
            MemberModel(chat_id, user_id).update(actions=[MemberModel.last_read_seq.set(min(n, members - 10))])
    return user_ids


def test_a_big_channel_lists_its_readers_furthest_ahead_and_counts_the_rest(aws, sync):
    """More than LISTED_READERS members: the requester's watermark, the LISTED_READERS highest
    others, and how many members there are and how many have read up to headSeq."""
    user_ids = _big_channel("town-hall", LISTED_READERS + 30)  # 80 members, headSeq 70
    result = sync.sync_chat("user-001", "town-hall", 70, None, 100)
    assert isinstance(result, ChatSync)
    furthest = user_ids[-LISTED_READERS:]  # watermarks 30..70; ties at 70 listed by user id
    assert result.read_watermarks == {"user-001": 1, **{u: min(int(u[5:]), 70) for u in furthest}}
    assert len(result.read_watermarks) == LISTED_READERS + 1
    assert result.read_summary == {"members": 80, "readToHead": 10}  # user-070 … user-079
    assert result.to_wire()["readSummary"] == {"members": 80, "readToHead": 10}
    too_far = sync.sync_chat("user-001", "town-hall", 0, None, 100)
    assert isinstance(too_far, ChatSync), "70 events behind is within MAX_MISSED_EVENTS"


def test_a_big_chat_that_is_too_far_behind_is_summarised_too(aws, sync):
    _big_channel("town-hall", LISTED_READERS + 5)
    ChatModel("town-hall").update(actions=[ChatModel.head_seq.set(MAX_MISSED_EVENTS + 10)])
    result = sync.sync_chat("user-000", "town-hall", 0, None, 100)
    assert isinstance(result, ChatTooLarge)
    assert len(result.read_watermarks) == LISTED_READERS + 1 and result.read_watermarks["user-000"] == 0
    assert result.to_wire()["readSummary"] == {"members": LISTED_READERS + 5, "readToHead": 0}


@pytest.mark.parametrize(("chat_type", "members"), [("group", LISTED_READERS + 30), ("channel", LISTED_READERS)])
def test_groups_and_small_channels_list_every_watermark(aws, sync, chat_type, members):
    user_ids = _big_channel("crew", members, chat_type=chat_type)
    result = sync.sync_chat("user-000", "crew", 0, None, 100)
    assert isinstance(result, ChatSync)
    assert set(result.read_watermarks) == set(user_ids)
    assert result.read_summary is None and "readSummary" not in result.to_wire()


def test_a_group_above_the_declared_size_is_summarised(aws, sync):
    _big_channel("crowd", FULL_WATERMARKS_MAX_MEMBERS + 1, chat_type="group")
    result = sync.sync_chat("user-000", "crowd", 0, None, 500)
    assert len(result.read_watermarks) == LISTED_READERS + 1
    assert result.read_summary == {"members": FULL_WATERMARKS_MAX_MEMBERS + 1, "readToHead": 10}
