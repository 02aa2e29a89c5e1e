"""`search.query` and `search.suggest`: full-text search over the searcher's
chats, and suggestions as they type. Search down is an `UNAVAILABLE` ack; nothing else is touched."""

import time
from typing import Any

from tidings.chats import compose as chats
from tidings.kernel import ratelimits
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.observability import metrics
from tidings.kernel.router import Caller, FrameRoute, frame_handler, frame_routes
from tidings.kernel.wire import ClientFrame, server_frame
from tidings.search import compose as search
from tidings.search.declaration import SEARCH
from tidings.search.searching import SearchService
from tidings.search.wire import (
    SearchQueryPayload,
    SearchResultsPayload,
    SearchSuggestionsPayload,
    SearchSuggestPayload,
)


@cold_start(SEARCH)
def _search(environment: Environment) -> SearchService:
    return search.search_service(
        environment, directory=chats.user_chats(environment), limiter=ratelimits.rate_limiter(environment)
    )


def search_query(caller: Caller, frame: ClientFrame, payload: SearchQueryPayload) -> dict[str, Any]:
    started = time.perf_counter()
    results = _search().search(
        caller.user_id, payload.query, payload.scope, payload.chatId, payload.cursor, payload.limit
    )
    metrics.add_metric(name="SearchQueries", unit="Count", value=1)
    metrics.add_metric(name="SearchLatency", unit="Milliseconds", value=(time.perf_counter() - started) * 1000)
    return server_frame("search.results", SearchResultsPayload.model_validate({"refId": frame.id, **results.to_wire()}))


def search_suggest(caller: Caller, frame: ClientFrame, payload: SearchSuggestPayload) -> dict[str, Any]:
    suggestions = _search().suggest(caller.user_id, payload.query)
    reply = SearchSuggestionsPayload.model_validate({"refId": frame.id, "suggestions": suggestions})
    return server_frame("search.suggestions", reply)


route = frame_routes(
    {
        "search.query": FrameRoute(SearchQueryPayload, search_query),
        "search.suggest": FrameRoute(SearchSuggestPayload, search_suggest),
    }
)

handler = frame_handler(route)
