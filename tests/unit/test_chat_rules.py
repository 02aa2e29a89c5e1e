"""Who may do what to a chat (`tidings.chats.rules`), as one table; the DM id rule; the request
models' validation."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from tidings.chats.membership import dm_chat_id
from tidings.chats.models import dm_pair_key
from tidings.chats.rules import Standing, refusal, visibility_of
from tidings.chats.wire import ENTITY_ID_PATTERN, CreateChat, PutMember, UpdateChat
from tidings.kernel.errors import ErrorCode

ALLOWED, FORBIDDEN, NOT_FOUND = None, ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND

PUBLIC_CHANNEL = ("channel", "public")
PRIVATE_CHANNEL = ("channel", "private")
GROUP = ("group", "private")
DM = ("dm", "private")

# (chat, caller's role) -> the answer to each action, in this order:
ACTIONS = ("view", "update", "add", "join", "set_role", "remove", "leave", "erase")
TABLE = [
    (GROUP, "admin", (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN)),
    (GROUP, "member", (ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN)),
    (GROUP, None, (NOT_FOUND,) * 8),
    (PRIVATE_CHANNEL, "admin", (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN)),
    (PRIVATE_CHANNEL, "member", (ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN)),
    (PRIVATE_CHANNEL, None, (NOT_FOUND,) * 8),
    (PUBLIC_CHANNEL, "admin", (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN)),
    (PUBLIC_CHANNEL, "member", (ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN)),
    (PUBLIC_CHANNEL, None, (ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN, NOT_FOUND, FORBIDDEN)),
    (DM, "member", (ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    (DM, None, (NOT_FOUND,) * 8),
]
# The platform (the administration API), a member of no chat: every chat but a DM is its to
# change; a user's erasure takes them out of a DM too.
PLATFORM_TABLE = [
    (GROUP, (ALLOWED,) * 8),
    (PRIVATE_CHANNEL, (ALLOWED,) * 8),
    (PUBLIC_CHANNEL, (ALLOWED,) * 8),
    (DM, (ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED)),
]


@pytest.mark.parametrize(
    ("chat", "role", "action", "expected"),
    [
        (chat, role, action, answer)
        for chat, role, answers in TABLE
        for action, answer in zip(ACTIONS, answers, strict=True)
    ],
)
def test_who_may_do_what(chat, role, action, expected):
    chat_type, visibility = chat
    error = refusal(action, "c1", Standing(chat_type, visibility, role))
    assert (error.code if error else None) == expected


@pytest.mark.parametrize(
    ("chat", "action", "expected"),
    [
        (chat, action, answer)
        for chat, answers in PLATFORM_TABLE
        for action, answer in zip(ACTIONS, answers, strict=True)
    ],
)
def test_what_the_platform_may_do(chat, action, expected):
    chat_type, visibility = chat
    error = refusal(action, "c1", Standing(chat_type, visibility, None, platform=True))
    assert (error.code if error else None) == expected


def test_a_refusal_to_one_who_cannot_see_the_chat_says_only_that_it_does_not_exist():
    error = refusal("update", "secret-plans", Standing("group", "private", None))
    assert error is not None and error.message == "Chat 'secret-plans' does not exist"


@pytest.mark.parametrize(
    ("chat_type", "stored", "expected"),
    [
        ("channel", None, "public"),
        ("group", None, "private"),
        ("dm", None, "private"),
        ("channel", "private", "private"),
    ],
)
def test_visibility_defaults(chat_type, stored, expected):
    assert visibility_of(chat_type, stored) == expected


# --- the DM of a pair ----------------------------------------------------------------------------


def test_a_pairs_dm_id_is_the_same_from_either_side_and_a_valid_chat_id():
    assert dm_chat_id("alice", "bob") == dm_chat_id("bob", "alice")
    assert re.fullmatch(ENTITY_ID_PATTERN, dm_chat_id("a" * 128, "b" * 128))
    assert dm_pair_key("bob", "alice") == dm_pair_key("alice", "bob")


def test_pairs_that_look_alike_get_different_dms():
    # "a-b"+"c" and "a"+"b-c" would collide if the ids were only joined with a dash.
    assert dm_chat_id("a-b", "c") != dm_chat_id("a", "b-c")
    assert dm_pair_key("a-b", "c") != dm_pair_key("a", "b-c")


def test_a_pair_key_never_names_a_chat():
    assert not re.fullmatch(ENTITY_ID_PATTERN, dm_pair_key("alice", "bob"))


# --- input validation ----------------------------------------------------------------------------

CREATE = TypeAdapter(CreateChat)


@pytest.mark.parametrize(
    "value", ["alice", "a.b@c:d-e_f", "x" * 128, "0"], ids=["plain", "every-punctuation", "128", "digit"]
)
def test_ids_that_are_accepted(value):
    assert CREATE.validate_python({"type": "dm", "members": [value]}).members == [value]


@pytest.mark.parametrize("value", ["", "x" * 129, "with space", "slash/", "é", "a#b", "new\nline"])
def test_ids_that_are_refused(value):
    with pytest.raises(ValidationError) as refused:
        CREATE.validate_python({"type": "dm", "members": [value]})
    assert refused.value.errors()[0]["loc"] == ("dm", "members", 0)


def test_update_and_member_requests_refuse_unknown_fields_and_bad_values():
    with pytest.raises(ValidationError):
        UpdateChat.model_validate({"title": "x"})
    with pytest.raises(ValidationError):
        UpdateChat.model_validate({"archived": 1})
    with pytest.raises(ValidationError):
        UpdateChat.model_validate({"name": "\u0000"})
    with pytest.raises(ValidationError):
        PutMember.model_validate({"role": "owner"})
    assert PutMember.model_validate({}).role is None
