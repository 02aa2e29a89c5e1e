"""Message payload validation: what a client may send, and the field each refusal names."""

import pytest
from pydantic import ValidationError

from tidings.kernel.wire import ClientFrame
from tidings.messaging.emoji import emoji_problem
from tidings.messaging.message import Message
from tidings.messaging.wire import (
    MAX_ATTACHMENTS,
    ChatPayload,
    MessageDeletePayload,
    MessageEditPayload,
    MessageReactPayload,
    MessageSendPayload,
    ReadMarkPayload,
)
from tidings.presence.wire import PresenceUsersPayload


def refused_fields(model, payload) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(payload)
    return [".".join(str(part) for part in error["loc"]) for error in raised.value.errors()]


@pytest.mark.parametrize(
    "emoji",
    [
        "👍",
        "❤️",  # with the emoji variation selector
        "☺︎",  # with the text variation selector
        "👍🏽",  # a skin tone
        "👩‍💻",  # a ZWJ sequence
        "👨‍👩‍👧‍👦",
        "🧑🏿‍🤝‍🧑🏻",
        "🇫🇷",  # a flag: two regional indicators
        "1️⃣",  # a keycap
        "#⃣",
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿",  # a subdivision flag: a tag sequence
        "©",
        "🫨",  # newer than some runtimes' Unicode database
        "👍👍",
        "🎉🎉🎉🎉",
    ],
)
def test_emoji_are_reactions(emoji):
    assert emoji_problem(emoji) is None
    assert MessageReactPayload.model_validate({"messageId": "m", "emoji": emoji, "action": "add"}).emoji == emoji


@pytest.mark.parametrize(
    "emoji",
    [
        pytest.param("\x1f", id="the reaction key separator"),
        pytest.param("👍\x1fmallory", id="a forged reactor"),
        pytest.param("<script>", id="markup"),
        pytest.param("<img src=x onerror=alert(1)>", id="more markup"),
        pytest.param("a", id="a letter"),
        pytest.param("1", id="a digit alone"),
        pytest.param(":+1:", id="a shortcode"),
        pytest.param("👍" * 1000, id="1000 emoji"),
        pytest.param("👍" * 5, id="five emoji"),
        pytest.param("", id="empty"),
        pytest.param("\ud800", id="a lone surrogate"),
        pytest.param("👍\udc00", id="a trailing lone surrogate"),
        pytest.param("🇫", id="half a flag"),
        pytest.param("👍\u200d", id="a dangling joiner"),
        pytest.param("\u200d", id="a joiner alone"),
        pytest.param("🏴󠁧󠁢", id="an unterminated tag sequence"),
        pytest.param("👍 ", id="a trailing space"),
        pytest.param("\u202e👍", id="a bidi override"),
        pytest.param("\ufe0f", id="a variation selector alone"),
    ],
)
def test_anything_else_is_refused_naming_the_emoji(emoji):
    assert emoji_problem(emoji) is not None
    assert refused_fields(MessageReactPayload, {"messageId": "m", "emoji": emoji, "action": "add"}) == ["emoji"]


@pytest.mark.parametrize(
    ("attachments", "field"),
    [
        ([{"attachmentId": ""}], "attachments.0.attachmentId"),
        ([{"attachmentId": "a\x00"}], "attachments.0.attachmentId"),
        ([{"attachmentId": "x" * 129}], "attachments.0.attachmentId"),
        ([{"name": "plan.pdf", "url": "https://example.com/f"}], "attachments.0.attachmentId"),
        ([{"attachmentId": "a-1"}, {"attachmentId": "a-1"}], "attachments"),
        ([{"attachmentId": f"a-{n}"} for n in range(MAX_ATTACHMENTS + 1)], "attachments"),
        ("a-1", "attachments"),
    ],
)
def test_attachments_are_distinct_references_to_uploads(attachments, field):
    payload = {"chatId": "c", "content": "see", "attachments": attachments}
    assert refused_fields(MessageSendPayload, payload) == [field]


def test_attachments_name_uploads_by_id_and_nothing_else_is_kept():
    refs = [{"attachmentId": f"a-{n}", "url": "javascript:alert(1)"} for n in range(MAX_ATTACHMENTS)]
    payload = MessageSendPayload.model_validate({"chatId": "c", "content": "see", "attachments": refs})
    assert [ref.model_dump() for ref in payload.attachments] == [{"attachmentId": f"a-{n}"} for n in range(10)]


@pytest.mark.parametrize(
    ("model", "payload", "field"),
    [
        (MessageSendPayload, {"chatId": "c\x00", "content": "hi"}, "chatId"),
        (MessageSendPayload, {"chatId": "c\u200b", "content": "hi"}, "chatId"),
        (MessageSendPayload, {"chatId": "c", "content": "hi", "replyTo": "m\x1f"}, "replyTo"),
        (MessageSendPayload, {"chatId": "c", "content": "hi", "replyTo": ""}, "replyTo"),
        (MessageSendPayload, {"chatId": "c", "content": "hi \ud800"}, "content"),
        (MessageEditPayload, {"messageId": "m", "content": "\udfff"}, "content"),
        (MessageEditPayload, {"messageId": "m\r\n", "content": "x"}, "messageId"),
        (MessageDeletePayload, {"messageId": "x" * 129}, "messageId"),
        (MessageReactPayload, {"messageId": "m\x7f", "emoji": "👍", "action": "add"}, "messageId"),
        (ChatPayload, {"chatId": "\ud800"}, "chatId"),
        (ReadMarkPayload, {"chatId": "c", "messageId": "m\x00"}, "messageId"),
        (PresenceUsersPayload, {"userIds": ["bob", "eve\x00"]}, "userIds.1"),
    ],
)
def test_ids_and_text_refuse_what_cannot_be_stored_or_shown(model, payload, field):
    assert refused_fields(model, payload) == [field]


def test_text_keeps_newlines_tabs_and_right_to_left_marks():
    content = "line one\n\tline two \u200f(RTL mark) 👩‍💻"
    assert MessageSendPayload.model_validate({"chatId": "c", "content": content}).content == content


def test_a_frame_id_with_control_characters_is_refused():
    frame = {"type": "message.send", "id": "1\x00", "payload": {}}
    assert refused_fields(ClientFrame, frame) == ["id"]


def test_a_message_goes_on_the_wire_under_camel_case_names_without_its_trace_id():
    message = Message("m1", "c1", 7, "alice", "Alice", "hi", "2026-12-02T00:00:00.000Z", trace_id="t" * 32)
    wire = message.to_wire()
    assert wire == {
        "messageId": "m1",
        "chatId": "c1",
        "seq": 7,
        "senderId": "alice",
        "senderName": "Alice",
        "content": "hi",
        "createdAt": "2026-12-02T00:00:00.000Z",
        "replyTo": None,
        "attachments": [],
        "mentions": [],
        "priority": "normal",
        "editedAt": None,
        "deleted": False,
        "reactions": {},
    }
    assert message.to_wire() == wire  # the names are computed once per type, then reused
