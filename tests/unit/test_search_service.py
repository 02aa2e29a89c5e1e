"""The search service over the embedded engine and an in-memory directory: access control,
paging across the four kinds of result, suggestions and prefix marks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.fakes import NoLimits
from tidings.chats.directory import ChatInfo, Person
from tidings.kernel.errors import BadFrame, Forbidden
from tidings.search.embedded_engine import EmbeddedSearchEngine
from tidings.search.port import FileDocument, MessageDocument
from tidings.search.query import parse
from tidings.search.searching import SearchService, decode_cursor, encode_cursor, mark_prefixes

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CHATS = {
    "general": ChatInfo("general", "general", "channel"),
    "plans": ChatInfo("plans", "Planning Desk", "group"),
    "dm": ChatInfo("dm", None, "dm"),
    "hidden": ChatInfo("hidden", "Planning Secrets", "group"),
}
MEMBERS = {"general": ["pat", "paula", "sam"], "plans": ["pat", "sam"], "dm": ["pat", "quinn"], "hidden": ["zoe"]}
NAMES = {"pat": "Pat Plant", "paula": "Paula", "sam": "Sam", "quinn": "Quinn", "zoe": "Zoe Planner"}


class Directory:
    def chats_of(self, user_id: str) -> list[ChatInfo]:
        return [CHATS[chat_id] for chat_id, members in MEMBERS.items() if user_id in members]

    def people_in(self, chat_ids: Sequence[str]) -> list[Person]:
        ids = dict.fromkeys(user for chat_id in chat_ids for user in MEMBERS[chat_id])
        return [Person(user_id, NAMES[user_id]) for user_id in ids]


@pytest.fixture
def engine(tmp_path: Path):
    engine = EmbeddedSearchEngine(str(tmp_path / "search.db"))
    yield engine
    engine.close()


@pytest.fixture
def service(engine) -> SearchService:
    return SearchService(lambda: engine, Directory(), NoLimits(), now=lambda: NOW)  # type: ignore[arg-type]


def doc(message_id: str, chat_id: str, content: str, files: tuple[str, ...] = ()) -> MessageDocument:
    return MessageDocument(
        message_id,
        chat_id,
        1,
        "sam",
        "Sam",
        content,
        f"2026-11-25T10:00:0{message_id[-1]}.000Z",
        files=tuple(FileDocument(f"{message_id}:{i}", name) for i, name in enumerate(files)),
    )


def test_all_pages_people_channels_files_then_messages_with_one_total(service, engine) -> None:
    engine.index(
        [
            doc("m1", "general", "plan the offsite", files=("plan.pdf",)),
            doc("m2", "plans", "plan B"),
            doc("m3", "hidden", "plan never seen"),
        ]
    )
    # "pla" starts Pat *Pla*nt and *Pla*nning Desk; files and messages need whole words.
    prefix = service.search("pat", "pla", limit=2)
    assert prefix.total == 2 and prefix.cursor is None
    assert [r["type"] for r in prefix.results] == ["person", "channel"]
    assert prefix.results[0]["highlight"]["displayName"] == ["Pat <mark>Pla</mark>nt"]
    whole = service.search("pat", "plan", limit=50)
    assert [r["type"] for r in whole.results] == ["person", "channel", "file", "message", "message"]
    assert whole.total == 5
    assert all(r["message"]["chatId"] != "hidden" for r in whole.results if r["type"] == "message")


def test_paging_is_exact_across_the_kinds(service, engine) -> None:
    engine.index([doc(f"m{i}", "general", f"plan {i}", files=(f"plan-{i}.txt",)) for i in range(1, 4)])
    everything = service.search("pat", "plan", limit=50).results
    paged: list[dict] = []
    cursor = None
    for _ in range(10):
        page = service.search("pat", "plan", cursor=cursor, limit=3)
        assert page.total == len(everything) == 1 + 1 + 3 + 3
        paged += page.results
        cursor = page.cursor
        if cursor is None:
            break
    assert paged == everything


def test_chat_id_must_be_the_searchers_and_in_narrows(service, engine) -> None:
    engine.index([doc("m1", "general", "budget"), doc("m2", "plans", "budget")])
    with pytest.raises(Forbidden):
        service.search("pat", "budget", chat_id="hidden")
    only = service.search("pat", "budget", scope="messages", chat_id="plans")
    assert [r["message"]["messageId"] for r in only.results] == ["m2"]
    by_name = service.search("pat", 'budget in:"planning desk"', scope="messages")
    assert [r["message"]["messageId"] for r in by_name.results] == ["m2"]
    assert service.search("pat", "budget in:hidden", scope="messages").total == 0
    newest_first = service.search("pat", "in:general", scope="messages")
    assert [r["message"]["messageId"] for r in newest_first.results] == ["m1"]


def test_people_are_members_of_the_searchers_chats_by_prefix(service) -> None:
    people = service.search("sam", "pa", scope="people")
    assert [r["person"]["userId"] for r in people.results] == ["pat", "paula"]
    assert people.results[0]["highlight"]["displayName"] == ["<mark>Pa</mark>t Plant"]
    assert service.search("sam", "zoe", scope="people").total == 0, "not in any of sam's chats"
    assert service.search("sam", "pa from:pat", scope="people").total == 0, "operators only apply to messages"


def test_an_empty_query_finds_nothing(service, engine) -> None:
    engine.index([doc("m1", "general", "anything")])
    assert service.search("pat", "").total == 0
    assert service.search("pat", "   !!! ").total == 0


def test_suggestions_are_capped_at_five_with_at_most_three_messages(service, engine) -> None:
    engine.index([doc(f"m{i}", "general", f"pacific {i}") for i in range(1, 6)])
    suggestions = service.suggest("sam", "pa")
    assert [s["type"] for s in suggestions] == ["person", "person", "message", "message", "message"]
    assert service.suggest("sam", "p") == []
    assert service.suggest("sam", "pa before:2026-1") == [], "a date still being typed"


def test_prefix_marks_escape_the_name() -> None:
    query = parse("al bu", user_id="x", now=NOW)
    marked = mark_prefixes("Al <b>Bundy</b> & alma", query)
    assert marked == "<mark>Al</mark> &lt;b&gt;<mark>Bu</mark>ndy&lt;/b&gt; &amp; <mark>al</mark>ma"


def test_cursors_round_trip_and_foreign_ones_are_bad_frames() -> None:
    assert decode_cursor(encode_cursor(40)) == 40
    for bad in ("not-a-cursor", encode_cursor(-1), "eyJ4IjogMX0"):
        with pytest.raises(BadFrame):
            decode_cursor(bad)
