"""`GET /api/chats` (docs/protocol.md, "REST"): the caller's chats; `GET /api/channels`: the
public channels, for a channel directory."""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.chats import compose as chats
from tidings.chats.chat_list import ChatService
from tidings.chats.declaration import CHATS_API
from tidings.chats.membership import ChannelDirectory
from tidings.chats.wire import ChannelsQuery
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


@cold_start(CHATS_API)
def _channels(environment: Environment) -> ChannelDirectory:
    return chats.channel_directory(environment)


@app.get("/api/chats")
def list_chats() -> Response:
    summaries = _chat_list().list_chats(_caller())
    metrics.add_metric(name="ChatListsServed", unit="Count", value=1)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=encode([summary.to_wire() for summary in summaries]),  # type: ignore[arg-type]
    )


@app.get("/api/channels")
def list_channels() -> Response:
    caller = _caller()
    query = ChannelsQuery.model_validate(app.current_event.query_string_parameters or {})
    page = _channels().channels(caller, query.query, query.cursor)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=encode(page.to_wire()))


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
