"""The search query language as a table of inputs, hostile ones included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tidings.kernel.errors import ErrorCode
from tidings.search.query import MAX_CLAUSES, BadQuery, SearchQuery, TimeRange, parse

# A Wednesday.
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


CASES: list[tuple[str, SearchQuery]] = [
    ("", SearchQuery()),
    ("budget", SearchQuery(terms=("budget",))),
    ("budget meeting", SearchQuery(terms=("budget", "meeting"))),
    ('"quarterly report"', SearchQuery(phrases=("quarterly report",))),
    ('budget "quarterly  report" notes', SearchQuery(terms=("budget", "notes"), phrases=("quarterly report",))),
    ("from:alice", SearchQuery(from_users=("alice",))),
    ("from:@Alice budget", SearchQuery(terms=("budget",), from_users=("alice",))),
    ("from:alice from:bob", SearchQuery(from_users=("alice", "bob"))),
    ("in:project-x", SearchQuery(in_chats=("project-x",))),
    ("in:#general", SearchQuery(in_chats=("general",))),
    ('in:"Project X" budget', SearchQuery(terms=("budget",), in_chats=("Project X",))),
    ("mentions:me", SearchQuery(mentions=("carol",))),
    ("mentions:@bob", SearchQuery(mentions=("bob",))),
    ("has:attachment", SearchQuery(has_attachment=True)),
    ("has:link", SearchQuery(terms=("has:link",))),
    ("before:2026-11-20", SearchQuery(time=TimeRange(end=at(2026, 11, 20)))),
    ("after:2026-11-20", SearchQuery(time=TimeRange(start=at(2026, 11, 21)))),
    ("after:2026-11-01 before:2026-11-20", SearchQuery(time=TimeRange(at(2026, 11, 2), at(2026, 11, 20)))),
    ("during:today", SearchQuery(time=TimeRange(at(2026, 11, 25), at(2026, 11, 26)))),
    ("during:yesterday", SearchQuery(time=TimeRange(at(2026, 11, 24), at(2026, 11, 25)))),
    ("during:this-week", SearchQuery(time=TimeRange(at(2026, 11, 23), at(2026, 11, 30)))),
    ("during:last-week", SearchQuery(time=TimeRange(at(2026, 11, 16), at(2026, 11, 23)))),
    ("during:this-month", SearchQuery(time=TimeRange(at(2026, 11, 1), at(2026, 12, 1)))),
    ("during:last-month", SearchQuery(time=TimeRange(at(2026, 10, 1), at(2026, 11, 1)))),
    ("budget today", SearchQuery(terms=("budget",), time=TimeRange(at(2026, 11, 25), at(2026, 11, 26)))),
    ("budget yesterday", SearchQuery(terms=("budget",), time=TimeRange(at(2026, 11, 24), at(2026, 11, 25)))),
    (
        "from:alice budget meeting last week",
        SearchQuery(
            terms=("budget", "meeting"),
            from_users=("alice",),
            time=TimeRange(start=datetime(2026, 11, 18, 10, 30, tzinfo=UTC)),
        ),
    ),
    (
        "budget Last Month",
        SearchQuery(terms=("budget",), time=TimeRange(start=datetime(2026, 10, 26, 10, 30, tzinfo=UTC))),
    ),
    # Natural ranges only count at the end; elsewhere they are words.
    ("today budget", SearchQuery(terms=("today", "budget"))),
    ("last week budget", SearchQuery(terms=("last", "week", "budget"))),
    # Unknown operators and empty values are terms.
    ("foo:bar", SearchQuery(terms=("foo:bar",))),
    ("from:", SearchQuery(terms=("from:",))),
    ("http://example.com", SearchQuery(terms=("http://example.com",))),
    # Hostile input.
    ('"unbalanced quote', SearchQuery(phrases=("unbalanced quote",))),
    ('budget "', SearchQuery(terms=("budget",))),
    ('""', SearchQuery()),
    ("!!! --- ***", SearchQuery()),
    (
        "from:alice in:general has:attachment",
        SearchQuery(from_users=("alice",), in_chats=("general",), has_attachment=True),
    ),
    (
        "NEAR(a b) OR c* AND -d ^e {col}:f",
        SearchQuery(terms=("NEAR(a", "b)", "OR", "c*", "AND", "-d", "^e", "{col}:f")),
    ),
    ("café 予算 😀 résumé", SearchQuery(terms=("café", "予算", "résumé"))),
    ("Ünïcödé from:Ålice", SearchQuery(terms=("Ünïcödé",), from_users=("ålice",))),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[case[0] or "<empty>" for case in CASES])
def test_parse(text: str, expected: SearchQuery) -> None:
    assert parse(text, user_id="carol", now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("before:2026-13-01", "before:2026-13-01 is not a date"),
        ("after:yesterday", "after:yesterday is not a date"),
        ("before:20261120", "before:YYYY-MM-DD"),
        ("during:fortnight", "during:fortnight is not a period"),
    ],
)
def test_a_bad_date_is_a_bad_frame_with_a_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(BadQuery) as raised:
        parse(text, user_id="carol", now=NOW)
    assert raised.value.code == ErrorCode.BAD_FRAME
    assert fragment in raised.value.message


def test_very_long_input_is_bounded() -> None:
    query = parse("word " * 100_000 + '"' * 5000, user_id="carol", now=NOW)
    assert len(query.terms) == MAX_CLAUSES
    one_huge_word = parse("x" * 1_000_000, user_id="carol", now=NOW)
    assert len(one_huge_word.terms) == 1 and len(one_huge_word.terms[0]) <= 1000


def test_operators_only_have_no_text() -> None:
    query = parse("from:alice has:attachment during:today", user_id="carol", now=NOW)
    assert not query.has_text and query.has_message_filters


def test_prefix_form_marks_the_last_term() -> None:
    assert parse("quarterly bud", user_id="carol", now=NOW).as_prefix().prefix_last_term
    assert not parse('"a phrase"', user_id="carol", now=NOW).as_prefix().prefix_last_term
