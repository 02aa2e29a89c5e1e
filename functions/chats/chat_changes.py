"""Chats and members (docs/protocol.md, "Chats and members"): `POST /api/chats`,
`PATCH /api/chats/{chatId}`, `PUT` and `DELETE /api/chats/{chatId}/members/{userId}`."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict, TypeAdapter

from tidings import assemblies
from tidings.chats import compose as chats
from tidings.chats.declaration import CHAT_CHANGES
from tidings.chats.membership import ChatAdministration, ChatView
from tidings.chats.wire import ChatPathParameters, CreateChat, CreateDm, MemberPathParameters, PutMember, UpdateChat
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import metrics
from tidings.kernel.rest import http_app, json_body, json_response, path_parameters

app = http_app()
_caller = assemblies.rest_caller(app, CHAT_CHANGES)
_create_request: TypeAdapter[Any] = TypeAdapter(
    CreateChat, config=ConfigDict(defer_build=True)
)  # built on the first create, as the models are


@cold_start(CHAT_CHANGES)
def _chats(environment: Environment) -> ChatAdministration:
    return chats.chat_administration(environment)


def _chat(status: int, view: ChatView) -> Response:
    return json_response(status, {"chat": view.to_wire()})


@app.post("/api/chats")
def create_chat() -> Response:
    caller = _caller()
    request = _create_request.validate_python(json_body(app))
    if isinstance(request, CreateDm):
        view, created = _chats().open_dm(caller, request.members[0])
    else:
        view = _chats().create_chat(
            caller, request.type, request.name, request.members, request.description, request.visibility
        )
        created = True
    metrics.add_metric(name="ChatsCreated", unit="Count", value=int(created))
    return _chat(201 if created else 200, view)


@app.route("/api/chats/<chatId>", method="PATCH")
def update_chat(chatId: str) -> Response:
    caller = _caller()
    path = ChatPathParameters.model_validate(path_parameters(app))
    request = UpdateChat.model_validate(json_body(app))
    view = _chats().update_chat(caller, path.chatId, request.change())
    return _chat(200, view)


@app.put("/api/chats/<chatId>/members/<userId>")
def put_member(chatId: str, userId: str) -> Response:
    caller = _caller()
    path = MemberPathParameters.model_validate(path_parameters(app))
    request = PutMember.model_validate(json_body(app) if app.current_event.body else {})
    role, added = _chats().put_member(caller, path.chatId, path.userId, request.role)
    metrics.add_metric(name="MembersAdded", unit="Count", value=int(added))
    return json_response(201 if added else 200, {"chatId": path.chatId, "userId": path.userId, "role": role})


@app.delete("/api/chats/<chatId>/members/<userId>")
def remove_member(chatId: str, userId: str) -> Response:
    caller = _caller()
    path = MemberPathParameters.model_validate(path_parameters(app))
    _chats().remove_member(caller, path.chatId, path.userId)
    metrics.add_metric(name="MembersRemoved", unit="Count", value=1)
    return Response(status_code=204, body="")


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
