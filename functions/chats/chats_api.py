"""`GET /api/chats` (docs/protocol.md, "REST"): the caller's chats."""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.rest import caller_id, http_app
from tidings.kernel.wire import encode
from tidings.wiring import chat_service, revocations, signing_key

app = http_app()


def _json(body: Any) -> Response:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=encode(body))


@app.get("/api/chats")
def list_chats() -> Response:
    user_id = caller_id(app, signing_key, revocations().revoked_before)
    chats = chat_service().list_chats(user_id)
    metrics.add_metric(name="ChatListsServed", unit="Count", value=1)
    return _json([chat.to_wire() for chat in chats])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
