"""Search's part of the application (docs/protocol.md, "Search"): the search frames, the
indexer that follows the Messages stream, and the rebuild."""

from __future__ import annotations

from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.declaration import Feature, Function, Queue, Route, SearchIndex, StreamSubscription
from tidings.kernel.ephemeral import EPHEMERAL
from tidings.kernel.ratelimits import Rule
from tidings.messaging.models import MESSAGES

# search.query and search.suggest share one bucket per user (docs/protocol.md, "Limits").
SEARCH_REQUESTS = Rule("search", capacity=5, refill_per_second=5)

SEARCH_INDEX = SearchIndex("Search", index_name="tidings-messages")
SEARCH_INDEX_FAILURES = Queue("SearchIndexFailures")

SEARCH = Function(
    "Search",
    "search",
    "search_frames.handler",
    "search.query, search.suggest: full-text search over the searcher's chats, people and files",
    tables=((MEMBERS, "read"), (CHATS, "read"), (USERS, "read"), (EPHEMERAL, "read_write")),
    search=((SEARCH_INDEX, "read"),),
)
SEARCH_INDEXER = Function(
    "SearchIndexer",
    "search",
    "index_consumer.handler",
    "Messages stream consumer: indexes new messages, re-indexes edits, removes deletes",
    tables=((MESSAGES, "read"),),
    search=((SEARCH_INDEX, "read_write"),),
    timeout_seconds=30,
)
SEARCH_REINDEX = Function(
    "SearchReindex",
    "search",
    "reindex.handler",
    "Rebuilds the search index from the message store (the recovery path; invoked by an operator)",
    tables=((CHATS, "read"), (MESSAGES, "read")),
    search=((SEARCH_INDEX, "read_write"),),
    memory_mb=1024,
    timeout_seconds=900,
)

FEATURE = Feature(
    "search",
    functions=(SEARCH, SEARCH_INDEXER, SEARCH_REINDEX),
    routes=(Route("search.query", SEARCH), Route("search.suggest", SEARCH)),
    stream_subscriptions=(
        StreamSubscription(
            MESSAGES,
            SEARCH_INDEXER,
            on_failure=SEARCH_INDEX_FAILURES,
            max_batching_window_seconds=0,  # searchable within 2 s of the ack (docs/protocol.md, "Search")
            event_names=("INSERT",),
        ),
    ),
)
