"""The search engine contract: every engine behind the search port behaves like this.

Runs against the embedded engine (SQLite FTS5) always, and against a real OpenSearch when
`OPENSEARCH_URL` is set (e.g. `OPENSEARCH_URL=http://localhost:9200`), the documented opt-in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tidings.search.embedded_engine import EmbeddedSearchEngine
from tidings.search.port import FileDocument, MessageDocument, SearchEngine, SearchUnavailable
from tidings.search.query import SearchQuery, TimeRange, parse

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OPENSEARCH_URL = os.environ.get("OPENSEARCH_URL")


# The OpenSearch half exists only when asked for, so a run without it reports nothing skipped.
ENGINES = ["embedded", "opensearch"] if OPENSEARCH_URL else ["embedded"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchEngine]:
    if request.param == "embedded":
        embedded = EmbeddedSearchEngine(str(tmp_path / "search.db"))
        yield embedded
        embedded.close()
        return
    from tidings.search.opensearch_engine import OpenSearchEngine, client_for_url

    engine = OpenSearchEngine(
        client_for_url(OPENSEARCH_URL), index=f"tidings-test-{uuid.uuid4().hex[:8]}", refresh=True
    )
    yield engine
    engine.drop()


def doc(
    message_id: str,
    content: str,
    *,
    chat: str = "general",
    sender: str = "alice",
    at: str = "2026-11-25T10:00:00.000Z",
    mentions: tuple[str, ...] = (),
    files: tuple[str, ...] = (),
) -> MessageDocument:
    return MessageDocument(
        message_id=message_id,
        chat_id=chat,
        seq=int(message_id.strip("m") or 0) if message_id.strip("m").isdigit() else 1,
        sender_id=sender,
        sender_name=sender.title(),
        content=content,
        created_at=at,
        mentions=mentions,
        files=tuple(FileDocument(f"{message_id}:{i}", name, size=10 * (i + 1)) for i, name in enumerate(files)),
    )


def q(text: str, user: str = "carol") -> SearchQuery:
    return parse(text, user_id=user, now=NOW)


def ids(page) -> list[str]:
    return [hit.document.message_id for hit in page.hits]


ALL = ["general", "project-x", "dm-alice-bob"]


def test_a_term_finds_the_message_and_ranks_by_relevance(engine: SearchEngine) -> None:
    engine.index(
        [
            doc("m1", "the budget for next year"),
            doc("m2", "budget budget budget: the budget review"),
            doc("m3", "lunch plans"),
        ]
    )
    page = engine.search_messages(q("budget"), ALL, 0, 10)
    assert page.total == 2
    assert ids(page) == ["m2", "m1"]
    assert page.hits[0].score >= page.hits[1].score > 0


def test_terms_are_anded_and_case_and_accents_fold(engine: SearchEngine) -> None:
    engine.index([doc("m1", "Café budget"), doc("m2", "cafe only")])
    assert ids(engine.search_messages(q("CAFE budget"), ALL, 0, 10)) == ["m1"]
    assert sorted(ids(engine.search_messages(q("café"), ALL, 0, 10))) == ["m1", "m2"]


def test_a_phrase_matches_the_words_in_order_only(engine: SearchEngine) -> None:
    engine.index([doc("m1", "the quarterly report is late"), doc("m2", "report on the quarterly numbers")])
    assert ids(engine.search_messages(q('"quarterly report"'), ALL, 0, 10)) == ["m1"]


def test_results_only_come_from_the_given_chats(engine: SearchEngine) -> None:
    engine.index([doc("m1", "secret plan", chat="project-x"), doc("m2", "secret party", chat="general")])
    page = engine.search_messages(q("secret"), ["general"], 0, 10)
    assert page.total == 1 and ids(page) == ["m2"]
    assert engine.search_messages(q("secret"), [], 0, 10).total == 0


def test_operators_filter(engine: SearchEngine) -> None:
    engine.index(
        [
            doc("m1", "ship it", sender="alice", mentions=("bob",), at="2026-11-10T09:00:00.000Z"),
            doc("m2", "ship it now", sender="bob", mentions=("carol", "@channel"), at="2026-11-20T09:00:00.000Z"),
            doc("m3", "ship the file", sender="bob", files=("plan.pdf",), at="2026-11-25T09:00:00.000Z"),
        ]
    )
    assert sorted(ids(engine.search_messages(q("ship from:bob"), ALL, 0, 10))) == ["m2", "m3"]
    assert ids(engine.search_messages(q("ship mentions:me"), ALL, 0, 10)) == ["m2"]
    assert ids(engine.search_messages(q("ship has:attachment"), ALL, 0, 10)) == ["m3"]
    assert ids(engine.search_messages(q("ship before:2026-11-20"), ALL, 0, 10)) == ["m1"]
    assert ids(engine.search_messages(q("ship after:2026-11-20"), ALL, 0, 10)) == ["m3"]
    assert ids(engine.search_messages(q("ship during:today"), ALL, 0, 10)) == ["m3"]
    between = SearchQuery(terms=("ship",), time=TimeRange(datetime(2026, 11, 15, tzinfo=UTC), NOW))
    assert sorted(ids(engine.search_messages(between, ALL, 0, 10))) == ["m2", "m3"]


def test_operators_only_list_newest_first(engine: SearchEngine) -> None:
    engine.index(
        [
            doc("m1", "first", sender="bob", at="2026-11-01T09:00:00.000Z"),
            doc("m2", "second", sender="bob", at="2026-11-02T09:00:00.000Z"),
            doc("m3", "third", sender="alice", at="2026-11-03T09:00:00.000Z"),
        ]
    )
    page = engine.search_messages(q("from:bob"), ALL, 0, 10)
    assert page.total == 2 and ids(page) == ["m2", "m1"]
    assert page.hits[0].highlights == ["second"]


def test_highlights_escape_the_content_before_marking(engine: SearchEngine) -> None:
    engine.index([doc("m1", 'the <script>alert("x")</script> budget & more \ue000fake\ue001')])
    hit = engine.search_messages(q("budget"), ALL, 0, 10).hits[0]
    highlight = " ".join(hit.highlights)
    assert "<mark>budget</mark>" in highlight
    assert "<script>" not in highlight and "&lt;script&gt;" in highlight
    assert "&amp;" in highlight
    assert highlight.count("<mark>") == 1, "input cannot forge a mark"
    assert hit.document.content.startswith("the <script>"), "the message itself is returned as stored"


def test_total_and_paging_are_exact(engine: SearchEngine) -> None:
    engine.index([doc(f"m{i}", f"standup notes {i}", at=f"2026-11-{i + 1:02d}T09:00:00.000Z") for i in range(7)])
    engine.index([doc("x1", "standup notes elsewhere", chat="project-x")])
    seen: list[str] = []
    for offset in (0, 3, 6):
        page = engine.search_messages(q("standup"), ["general"], offset, 3)
        assert page.total == 7
        seen += ids(page)
    assert sorted(seen) == sorted(f"m{i}" for i in range(7))


def test_an_edit_replaces_and_a_delete_removes(engine: SearchEngine) -> None:
    engine.index([doc("m1", "original wording", files=("draft.txt",))])
    engine.index([doc("m1", "revised wording", files=("draft.txt",))])
    assert engine.search_messages(q("original"), ALL, 0, 10).total == 0
    assert ids(engine.search_messages(q("revised"), ALL, 0, 10)) == ["m1"]
    assert engine.search_files(q("draft"), ALL, 0, 10).total == 1
    engine.remove(["m1", "never-indexed"])
    assert engine.search_messages(q("revised"), ALL, 0, 10).total == 0
    assert engine.search_files(q("draft"), ALL, 0, 10).total == 0


def test_files_match_by_name_within_the_given_chats(engine: SearchEngine) -> None:
    engine.index(
        [
            doc("m1", "here you go", files=("budget-2027.xlsx", "notes.txt")),
            doc("m2", "private", chat="project-x", files=("budget-secret.xlsx",)),
        ]
    )
    page = engine.search_files(q("budget"), ["general"], 0, 10)
    assert page.total == 1
    hit = page.hits[0]
    assert hit.file.name == "budget-2027.xlsx" and hit.file.size == 10
    assert hit.document.message_id == "m1"
    assert "<mark>budget</mark>" in hit.highlights[0]
    assert engine.search_files(q("from:alice"), ["general"], 0, 10).total == 2


def test_attachment_names_find_their_message(engine: SearchEngine) -> None:
    engine.index([doc("m1", "see attached", files=("roadmap.pdf",))])
    assert ids(engine.search_messages(q("roadmap"), ALL, 0, 10)) == ["m1"]


def test_a_prefix_query_matches_the_start_of_the_last_word(engine: SearchEngine) -> None:
    engine.index([doc("m1", "quarterly budget"), doc("m2", "buddy system")])
    assert sorted(ids(engine.search_messages(q("bud").as_prefix(), ALL, 0, 10))) == ["m1", "m2"]
    assert ids(engine.search_messages(q("bud"), ALL, 0, 10)) == []


@pytest.mark.parametrize(
    "text",
    [
        'NEAR(a b) OR c* AND -d ^e {content}:f "unbalanced',
        "content:budget attachment_names:x",
        '"" "\'" \\ % _ ; DROP TABLE messages; --',
        "予算 😀 " * 50,
        "a" * 1000,
    ],
)
def test_hostile_text_is_only_ever_text(engine: SearchEngine, text: str) -> None:
    engine.index([doc("m1", "budget DROP TABLE messages")])
    page = engine.search_messages(q(text), ALL, 0, 10)
    assert page.total in (0, 1)
    engine.search_files(q(text), ALL, 0, 10)
    engine.search_messages(q(text).as_prefix(), ALL, 0, 10)
    assert engine.search_messages(q("budget"), ALL, 0, 10).total == 1, "the index is intact"


def test_reset_empties_the_index(engine: SearchEngine) -> None:
    engine.index([doc("m1", "budget", files=("a.txt",))])
    engine.reset()
    assert engine.search_messages(q("budget"), ALL, 0, 10).total == 0
    assert engine.search_files(q("a"), ALL, 0, 10).total == 0


def test_an_unusable_store_is_unavailable(tmp_path: Path) -> None:
    broken = EmbeddedSearchEngine(str(tmp_path / "no-such-dir" / "search.db"))
    with pytest.raises(SearchUnavailable) as raised:
        broken.search_messages(q("budget"), ALL, 0, 10)
    assert raised.value.message == "Search temporarily unavailable"
    with pytest.raises(SearchUnavailable):
        broken.index([doc("m1", "budget")])
