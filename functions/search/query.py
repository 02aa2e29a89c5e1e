"""`search.query` and `search.suggest` (PROTOCOL.md §9): full-text search over the searcher's
chats, and suggestions as they type. Search down is an `UNAVAILABLE` ack; nothing else is touched."""

import time
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.edge.websocket import Caller, FrameRoute, frame_routes
from tidings.observability import logger, metrics, tracer
from tidings.protocol.frames import ClientFrame, server_frame
from tidings.protocol.search import SearchQueryPayload, SearchSuggestPayload
from tidings.wiring import search_service


def search_query(caller: Caller, frame: ClientFrame, payload: SearchQueryPayload) -> dict[str, Any]:
    started = time.perf_counter()
    results = search_service().search(
        caller.user_id, payload.query, payload.scope, payload.chatId, payload.cursor, payload.limit
    )
    metrics.add_metric(name="SearchQueries", unit="Count", value=1)
    metrics.add_metric(name="SearchLatency", unit="Milliseconds", value=(time.perf_counter() - started) * 1000)
    return server_frame("search.results", {"refId": frame.id, **results.to_wire()})


def search_suggest(caller: Caller, frame: ClientFrame, payload: SearchSuggestPayload) -> dict[str, Any]:
    suggestions = search_service().suggest(caller.user_id, payload.query)
    return server_frame("search.suggestions", {"refId": frame.id, "suggestions": suggestions})


route = frame_routes(
    {
        "search.query": FrameRoute(SearchQueryPayload, search_query),
        "search.suggest": FrameRoute(SearchSuggestPayload, search_suggest),
    }
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
