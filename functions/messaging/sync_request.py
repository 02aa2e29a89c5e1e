"""`sync.request`: the chat events a client missed, one chat or every chat at once (PROTOCOL.md §6)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.router import Caller, frame_route
from tidings.kernel.wire import ClientFrame, server_frame
from tidings.messaging.wire import SyncRequestPayload
from tidings.wiring import badge_service, presence_service, sync_service


def sync_request(caller: Caller, frame: ClientFrame, payload: SyncRequestPayload) -> dict[str, Any]:
    if payload.chats is not None:
        badges = [badge.to_wire() for badge in badge_service().current(caller.user_id, list(payload.chats))]
        # The users this user subscribed to (empty when presence is down: sync works without it).
        presence = presence_service().subscribed_presence(caller.user_id)
        response = sync_service().sync_all(caller.user_id, payload.chats, payload.limit, badges, presence)
        metrics.add_metric(name="ChatsSynced", unit="Count", value=len(response.chats))
        return server_frame("sync.response", {"refId": frame.id, **response.to_wire()})
    assert payload.chatId is not None  # the payload model requires chatId without chats
    result = sync_service().sync_chat(
        caller.user_id, payload.chatId, payload.lastKnownSeq, payload.cursor, payload.limit
    )
    metrics.add_metric(name="ChatsSynced", unit="Count", value=1)
    return server_frame("sync.response", {"refId": frame.id, **result.to_wire()})


route = frame_route(SyncRequestPayload, sync_request)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
