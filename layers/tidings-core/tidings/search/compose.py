"""Construction of search's services, from a function's environment. The directory's ports
(a user's chats, the people in them) and the message store are passed in by the handler.

The OpenSearch client is imported only by a function whose environment selects OpenSearch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

from tidings.chats.directory import all_chat_ids
from tidings.kernel.environment import Environment, environment_of
from tidings.kernel.ratelimits import RateLimiter
from tidings.messaging.message import Message
from tidings.messaging.message_store import DynamoMessageStore
from tidings.search.declaration import SEARCH_INDEX, SEARCH_REINDEX
from tidings.search.indexing import Reindexer, SearchIndexer
from tidings.search.port import SearchEngine
from tidings.search.searching import SearchDirectory, SearchService, utc_now


def search_engine(environment: Environment) -> Callable[[], SearchEngine]:
    """The engine the environment selects, opened on first use. Engines are cached per
    location, so every function of one process (`tidings dev`) shares one embedded engine."""
    location = environment.search(SEARCH_INDEX)

    def engine() -> SearchEngine:
        if location.engine == "opensearch":
            assert location.endpoint is not None  # the environment requires it
            return _opensearch_engine(location.endpoint, location.index_name, environment.region)
        return _embedded_engine(location.db_path)

    return engine


@cache
def _embedded_engine(path: str) -> SearchEngine:
    # Imported by the engine in use only: each engine loads its own client (sqlite3, opensearch-py).
    from tidings.search.embedded_engine import EmbeddedSearchEngine

    return EmbeddedSearchEngine(path)


@cache
def _opensearch_engine(endpoint: str, index: str, region: str) -> SearchEngine:
    from tidings.search.opensearch_engine import OpenSearchEngine, client_for_aws

    return OpenSearchEngine(client_for_aws(endpoint, region), index)


def search_service(environment: Environment, *, directory: SearchDirectory, limiter: RateLimiter) -> SearchService:
    return SearchService(search_engine(environment), directory, limiter, now=utc_now)


def search_indexer(environment: Environment, *, load_message: Callable[[str, int], Message | None]) -> SearchIndexer:
    return SearchIndexer(search_engine(environment), load_message)


def reindexer(
    environment: Environment,
    *,
    chat_ids: Callable[[], Iterable[str]],
    messages: Callable[[str], Iterable[Message]],
) -> Reindexer:
    return Reindexer(search_engine(environment), chat_ids, messages)


def operator_reindexer() -> Reindexer:
    """The rebuild, with the environment of the `SearchReindex` function: for whoever runs it
    outside Lambda (locally, `tidings reindex` through `tidings dev`)."""
    environment = environment_of(SEARCH_REINDEX)
    return reindexer(environment, chat_ids=all_chat_ids, messages=DynamoMessageStore().messages_of)
