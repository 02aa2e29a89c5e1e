"""Message payload validation: what a client may send, and the field each refusal names."""

import pytest
from pydantic import ValidationError

from tidings.kernel.wire import ClientFrame
from tidings.messaging.emoji import emoji_problem
from tidings.messaging.message import Message
from tidings.messaging.wire import (
    MAX_ATTACHMENT_BYTES,
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
    "url",
    [
        "https://files.example.com/plan.pdf",
        "https://example.com:8443/a?b=c#d",
        "http://localhost:8080/uploads/1",
        "http://127.0.0.1/f",
        "http://[::1]:9000/f",
    ],
)
def test_https_urls_and_local_http_urls_are_attachments(url):
    payload = {"chatId": "c", "content": "see", "attachments": [{"name": "plan.pdf", "url": url}]}
    assert MessageSendPayload.model_validate(payload).attachments[0].url == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "http://example.com/f",
        "https:///no-host",
        "https://user:secret@example.com/f",
        "https://example.com/a b",
        "https://example.com/\x00",
        "https://example.com:99999/f",
        "//example.com/f",
        "https://example.com/" + "a" * 2100,
        "",
    ],
)
def test_other_urls_are_refused_naming_the_field(url):
    payload = {"chatId": "c", "content": "see", "attachments": [{"name": "plan.pdf", "url": url}]}
    assert refused_fields(MessageSendPayload, payload) == ["attachments.0.url"]


@pytest.mark.parametrize(
    ("attachment", "field"),
    [
        ({"name": "f", "size": -1}, "size"),
        ({"name": "f", "size": MAX_ATTACHMENT_BYTES + 1}, "size"),
        ({"name": "f", "size": 2**63}, "size"),
        ({"name": "f", "size": 10**40}, "size"),
        ({"name": "f", "size": True}, "size"),
        ({"name": "f", "size": "12"}, "size"),
        ({"name": "f", "size": 1.5}, "size"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "invoice\u202efdp.exe"}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"name": "f", "mimeType": "<b>bold</b>"}, "mimeType"),
        ({"name": "f", "mimeType": "application/" + "x" * 300}, "mimeType"),
        ({"name": "f", "fileId": "f\x00"}, "fileId"),
        ({"name": "f", "fileId": "x" * 129}, "fileId"),
    ],
)
def test_attachment_fields_are_bounded(attachment, field):
    payload = {"chatId": "c", "content": "see", "attachments": [attachment]}
    assert refused_fields(MessageSendPayload, payload) == [f"attachments.0.{field}"]


def test_a_well_formed_attachment_is_kept_as_sent():
    attachment = {
        "name": "plan 👩‍💻.pdf",
        "fileId": "f-1",
        "url": "https://files.example.com/f-1",
        "size": MAX_ATTACHMENT_BYTES,
        "mimeType": "application/pdf; charset=binary",
    }
    payload = MessageSendPayload.model_validate({"chatId": "c", "content": "see", "attachments": [attachment]})
    assert payload.attachments[0].model_dump(exclude_none=True) == attachment


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
