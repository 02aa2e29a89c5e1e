"""The chats REST API (PROTOCOL.md §11): `GET /api/chats` and `GET /api/chats/{chatId}/messages`."""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from tidings.domain.chats import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.rest import caller_id, http_app
from tidings.kernel.wire import encode
from tidings.protocol.frames import MAX_SEQ
from tidings.wiring import chat_service, revocations, signing_key

app = http_app()


class MessagesQuery(BaseModel):
    """`?before=SEQ&limit=N`; a bad value is a 400 naming the parameter."""

    model_config = ConfigDict(extra="ignore")

    before: int | None = Field(None, ge=1, le=MAX_SEQ)
    limit: int = Field(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)


class ChatPath(BaseModel):
    chatId: str = Field(min_length=1, max_length=128)


def _json(body: Any) -> Response:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=encode(body))


def _caller() -> str:
    """The bearer token's user; 401 for a missing, invalid or revoked token."""
    return caller_id(app, signing_key, revocations().revoked_before)


@app.get("/api/chats")
def list_chats() -> Response:
    user_id = _caller()
    chats = chat_service().list_chats(user_id)
    metrics.add_metric(name="ChatListsServed", unit="Count", value=1)
    return _json([chat.to_wire() for chat in chats])


@app.get("/api/chats/<chatId>/messages")
def list_messages(chatId: str) -> Response:
    user_id = _caller()
    path = ChatPath.model_validate({"chatId": chatId})
    query = MessagesQuery.model_validate(app.current_event.query_string_parameters or {})
    page = chat_service().messages(user_id, path.chatId, query.before, query.limit)
    metrics.add_metric(name="HistoryPagesServed", unit="Count", value=1)
    return _json(page.to_wire())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
