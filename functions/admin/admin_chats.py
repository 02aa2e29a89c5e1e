"""The administration API's chats and members (docs/protocol.md, "Administration API"):
`POST /admin/chats`, `PATCH /admin/chats/{chatId}`, `PUT` and `DELETE
/admin/chats/{chatId}/members/{userId}`. The chat changes' logic, called as the platform: no
admin rule applies, and every change is the same chat event a client's change is."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict, TypeAdapter

from tidings.admin.declaration import ADMIN_CHATS
from tidings.admin.wire import AdminCreateChat, AdminCreateDm
from tidings.chats import compose as chats
from tidings.chats.membership import PLATFORM, ChatAdministration
from tidings.chats.wire import ChatPathParameters, MemberPathParameters, PutMember, UpdateChat
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import logger, metrics
from tidings.kernel.rest import http_app, json_body, json_response, path_parameters

app = http_app()
_create_request: TypeAdapter[Any] = TypeAdapter(
    AdminCreateChat, config=ConfigDict(defer_build=True)
)  # built on the first create, as the models are


@cold_start(ADMIN_CHATS)
def _chats(environment: Environment) -> ChatAdministration:
    return chats.chat_administration(environment)


@app.post("/admin/chats")
def create_chat() -> Response:
    request = _create_request.validate_python(json_body(app))
    if isinstance(request, AdminCreateDm):
        # The pair has one DM: asking again answers it (200), as for a client.
        view, created = _chats().open_dm_between(*request.members)
    else:
        view = _chats().create_chat(
            PLATFORM,
            request.type,
            request.name,
            request.members,
            request.description,
            request.visibility,
            admins=request.admins,
            chat_id=request.chatId,
        )
        created = True
    metrics.add_metric(name="AdminChatsCreated", unit="Count", value=int(created))
    return json_response(201 if created else 200, {"chat": view.to_wire()})


@app.route("/admin/chats/<chatId>", method="PATCH")
def update_chat(chatId: str) -> Response:
    path = ChatPathParameters.model_validate(path_parameters(app))
    request = UpdateChat.model_validate(json_body(app))
    view = _chats().update_chat(PLATFORM, path.chatId, request.change())
    return json_response(200, {"chat": view.to_wire()})


@app.put("/admin/chats/<chatId>/members/<userId>")
def put_member(chatId: str, userId: str) -> Response:
    path = MemberPathParameters.model_validate(path_parameters(app))
    request = PutMember.model_validate(json_body(app) if app.current_event.body else {})
    role, added = _chats().put_member(PLATFORM, path.chatId, path.userId, request.role)
    return json_response(201 if added else 200, {"chatId": path.chatId, "userId": path.userId, "role": role})


@app.delete("/admin/chats/<chatId>/members/<userId>")
def remove_member(chatId: str, userId: str) -> Response:
    path = MemberPathParameters.model_validate(path_parameters(app))
    _chats().remove_member(PLATFORM, path.chatId, path.userId)
    return Response(status_code=204, body="")


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    logger.thread_safe_append_keys(adminCaller=iam.get("userArn"))  # who changed what, in every line
    return app.resolve(event, context)
