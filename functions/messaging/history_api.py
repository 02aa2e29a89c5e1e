"""`GET /api/chats/{chatId}/messages` (docs/protocol.md, "REST"): a chat's history, newest first."""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.chats import compose as chats
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import metrics
from tidings.kernel.rest import http_app, path_parameters
from tidings.kernel.wire import encode
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import HISTORY_API
from tidings.messaging.history import HistoryService
from tidings.messaging.wire import ChatPath, MessagesQuery

app = http_app()
_caller = assemblies.rest_caller(app, HISTORY_API)


@cold_start(HISTORY_API)
def _history(environment: Environment) -> HistoryService:
    return messaging.history(environment, members=chats.member_directory(environment))


def _json(body: Any) -> Response:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=encode(body))


@app.get("/api/chats/<chatId>/messages")
def list_messages(chatId: str) -> Response:
    user_id = _caller()
    path = ChatPath.model_validate(path_parameters(app))
    query = MessagesQuery.model_validate(app.current_event.query_string_parameters or {})
    page = _history().messages(user_id, path.chatId, query.before, query.limit)
    metrics.add_metric(name="HistoryPagesServed", unit="Count", value=1)
    return _json(page.to_wire())


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
