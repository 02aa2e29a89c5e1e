"""`GET /api/chats` (docs/protocol.md, "REST"): the caller's chats."""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.chats import compose as chats
from tidings.chats.chat_list import ChatService
from tidings.chats.declaration import CHATS_API
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import metrics
from tidings.kernel.rest import http_app
from tidings.kernel.wire import encode
from tidings.notifications import compose as notifications

app = http_app()
_caller = assemblies.rest_caller(app, CHATS_API)


@cold_start(CHATS_API)
def _chat_list(environment: Environment) -> ChatService:
    return chats.chat_list(environment, preferences=notifications.preference_store(environment))


@app.get("/api/chats")
def list_chats() -> Response:
    summaries = _chat_list().list_chats(_caller())
    metrics.add_metric(name="ChatListsServed", unit="Count", value=1)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=encode([summary.to_wire() for summary in summaries]),  # type: ignore[arg-type]
    )


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
