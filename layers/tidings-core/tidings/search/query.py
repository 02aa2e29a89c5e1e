"""The search query language parsed into a typed query both engines translate.

    budget "quarterly report" from:alice in:project-x mentions:me has:attachment
    before:2026-11-20 after:2026-11-01 during:last-week        ... last week

- Free terms are ANDed; a `"quoted phrase"` must appear as written (an unbalanced quote runs
  to the end of the input).
- `from:`, `in:`, `mentions:` may repeat; repeats of one operator are alternatives (any of).
  A leading `@` or `#` is ignored; `mentions:me` is the searcher.
- Dates are UTC days. `before:D` is strictly before day D, `after:D` strictly after day D
  (Slack's meaning); `during:` takes today, yesterday, this-week, last-week (Monday-based
  calendar weeks), this-month, last-month.
- A trailing `today`, `yesterday`, `last week` or `last month` is a time range, not terms: as
  here `last week` is the last 7 days and `last month` the last 30 days (whereas
  `during:last-week` is the previous calendar week).
- Anything else that looks like an operator (`foo:bar`, `has:link`, an empty `from:`) is a
  plain term. Only a bad date is an error (`BadQuery`, a BAD_FRAME ack).

Hostile input is bounded: at most `MAX_QUERY_CHARS` characters and `MAX_CLAUSES` clauses are
read, the rest ignored. Terms and phrases are kept as the user typed them; each engine escapes
them for its own syntax (FTS5 string literals, OpenSearch `match` queries), so no input can
become query syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from tidings.kernel.errors import BadFrame

MAX_QUERY_CHARS = 1000
MAX_CLAUSES = 32
MAX_VALUE_CHARS = 128

OPERATORS = ("from", "in", "mentions", "has", "before", "after", "during")
DURING_VALUES = ("today", "yesterday", "this-week", "last-week", "this-month", "last-month")

# One clause: `op:"quoted value"`, `op:value`, `"phrase"` (closing quote optional), or a word.
_CLAUSE = re.compile(
    r'(?P<op>[A-Za-z]+):"(?P<qvalue>[^"]*)"?'
    r"|(?P<op2>[A-Za-z]+):(?P<value>[^\s\"]+)"
    r'|"(?P<phrase>[^"]*)"?'
    r"|(?P<word>[^\s\"]+)"
)
_WORD_CHAR = re.compile(r"\w")
# Control characters (NUL included) separate words, as spaces do: no engine can match them, and
# SQLite's FTS5 would read a NUL as the end of the query.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BadQuery(BadFrame):
    """A search query the server cannot run as written (only bad dates); a BAD_FRAME ack."""


@dataclass(frozen=True)
class TimeRange:
    """`start <= createdAt < end`, either bound open (None)."""

    start: datetime | None = None
    end: datetime | None = None

    def narrowed(self, other: TimeRange) -> TimeRange:
        starts = [s for s in (self.start, other.start) if s is not None]
        ends = [e for e in (self.end, other.end) if e is not None]
        return TimeRange(max(starts) if starts else None, min(ends) if ends else None)


@dataclass(frozen=True)
class SearchQuery:
    terms: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    from_users: tuple[str, ...] = ()
    in_chats: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    has_attachment: bool = False
    time: TimeRange = TimeRange()
    # Suggestions: the last term matches as a prefix ("bud" finds "budget").
    prefix_last_term: bool = False

    @property
    def has_text(self) -> bool:
        return bool(self.terms or self.phrases)

    @property
    def has_message_filters(self) -> bool:
        """Operators that only messages (and their files) have: people and channels never match them."""
        return bool(
            self.from_users
            or self.mentions
            or self.has_attachment
            or self.time.start is not None
            or self.time.end is not None
        )

    @property
    def words(self) -> tuple[str, ...]:
        """Every free word, phrases split, for prefix matching of names."""
        return tuple(word for text in (*self.terms, *self.phrases) for word in text.split())

    def as_prefix(self) -> SearchQuery:
        return replace(self, prefix_last_term=bool(self.terms))


def parse(text: str, *, user_id: str, now: datetime) -> SearchQuery:
    """The typed query for `text`, typed by `user_id` (for `mentions:me`) at `now` (UTC)."""
    text = _CONTROL.sub(" ", text[:MAX_QUERY_CHARS])
    today = now.astimezone(UTC).date()
    clauses = [match for match in _CLAUSE.finditer(text)][:MAX_CLAUSES]
    words = [m.group("word") for m in clauses]
    time = TimeRange()
    # Trailing natural ranges: only at the very end, only as bare words.
    tail = [w.lower() if w else None for w in words[-2:]]
    if len(tail) == 2 and tail[0] == "last" and tail[1] in ("week", "month"):
        days = 7 if tail[1] == "week" else 30
        time = TimeRange(start=now - timedelta(days=days))
        clauses = clauses[:-2]
    elif tail and tail[-1] in ("today", "yesterday"):
        time = _during(tail[-1], today)
        clauses = clauses[:-1]

    terms: list[str] = []
    phrases: list[str] = []
    from_users: list[str] = []
    in_chats: list[str] = []
    mentions: list[str] = []
    has_attachment = False
    for clause in clauses:
        if clause.group("phrase") is not None:
            phrase = " ".join(clause.group("phrase").split())[:MAX_QUERY_CHARS]
            if _WORD_CHAR.search(phrase):
                phrases.append(phrase)
            continue
        if clause.group("word") is not None:
            _add_term(terms, clause.group("word"))
            continue
        op = (clause.group("op") or clause.group("op2")).lower()
        raw_value = clause.group("qvalue") if clause.group("op") else clause.group("value")
        value = raw_value.strip()[:MAX_VALUE_CHARS]
        if op not in OPERATORS or not value:
            _add_term(terms, clause.group(0))
            continue
        if op == "from":
            from_users.append(value.lstrip("@").lower())
        elif op == "in":
            in_chats.append(value.lstrip("#"))
        elif op == "mentions":
            name = value.lstrip("@").lower()
            mentions.append(user_id if name == "me" else name)
        elif op == "has":
            if value.lower() in ("attachment", "attachments", "file", "files"):
                has_attachment = True
            else:
                _add_term(terms, clause.group(0))
        elif op == "before":
            time = time.narrowed(TimeRange(end=_midnight(_day(op, value))))
        elif op == "after":
            time = time.narrowed(TimeRange(start=_midnight(_day(op, value) + timedelta(days=1))))
        else:  # during
            if value.lower() not in DURING_VALUES:
                raise BadQuery(f"during:{value} is not a period; use one of {', '.join(DURING_VALUES)}")
            time = time.narrowed(_during(value.lower(), today))
    return SearchQuery(
        terms=tuple(terms),
        phrases=tuple(phrases),
        from_users=tuple(dict.fromkeys(from_users)),
        in_chats=tuple(dict.fromkeys(in_chats)),
        mentions=tuple(dict.fromkeys(mentions)),
        has_attachment=has_attachment,
        time=time,
    )


def _add_term(terms: list[str], word: str) -> None:
    # A term without a letter or digit ("!!!", "--") can match nothing in any engine.
    if _WORD_CHAR.search(word):
        terms.append(word[:MAX_VALUE_CHARS])


def _day(op: str, value: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{op}:{value} is not a date; write {op}:YYYY-MM-DD, e.g. {op}:2026-11-20") from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _during(period: str, today: date) -> TimeRange:
    if period == "today":
        return TimeRange(_midnight(today), _midnight(today + timedelta(days=1)))
    if period == "yesterday":
        return TimeRange(_midnight(today - timedelta(days=1)), _midnight(today))
    monday = today - timedelta(days=today.weekday())
    if period == "this-week":
        return TimeRange(_midnight(monday), _midnight(monday + timedelta(days=7)))
    if period == "last-week":
        return TimeRange(_midnight(monday - timedelta(days=7)), _midnight(monday))
    first = today.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    if period == "this-month":
        return TimeRange(_midnight(first), _midnight(next_month))
    previous = (first - timedelta(days=1)).replace(day=1)
    return TimeRange(_midnight(previous), _midnight(first))  # last-month
