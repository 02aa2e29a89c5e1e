"""`POST /api/chats/{chatId}/attachments` (an upload form) and `GET /api/attachments/{attachmentId}`
(a redirect to the file) (docs/protocol.md, "Attachments")."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.attachments import compose as attachments
from tidings.attachments.declaration import ATTACHMENTS_API
from tidings.attachments.uploading import AttachmentService
from tidings.attachments.wire import AttachmentPath, ChatAttachmentsPath, UploadRequest
from tidings.chats import compose as chats
from tidings.kernel import ratelimits
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import logger, metrics
from tidings.kernel.rest import http_app, json_body, json_response, path_parameters

app = http_app()
_caller = assemblies.rest_caller(app, ATTACHMENTS_API)


@cold_start(ATTACHMENTS_API)
def _attachments(environment: Environment) -> AttachmentService:
    return attachments.attachments(
        environment, members=chats.member_directory(environment), limiter=ratelimits.rate_limiter(environment)
    )


@app.post("/api/chats/<chatId>/attachments")
def request_upload(chatId: str) -> Response:
    user_id = _caller()
    path = ChatAttachmentsPath.model_validate(path_parameters(app))
    request = UploadRequest.model_validate(json_body(app))
    ticket = _attachments().request_upload(user_id, path.chatId, request)
    logger.info("upload form issued", extra={"attachmentId": ticket.attachmentId, "chatId": path.chatId})
    metrics.add_metric(name="AttachmentUploadsRequested", unit="Count", value=1)
    return json_response(HTTPStatus.CREATED, ticket.model_dump(mode="json"))


@app.get("/api/attachments/<attachmentId>")
def download(attachmentId: str) -> Response:
    user_id = _caller()
    path = AttachmentPath.model_validate(path_parameters(app))
    url = _attachments().download_url(user_id, path.attachmentId)
    metrics.add_metric(name="AttachmentDownloads", unit="Count", value=1)
    # A redirect that no cache may keep: the URL is the caller's, and valid for minutes.
    return Response(status_code=HTTPStatus.FOUND, headers={"Location": url, "Cache-Control": "no-store"}, body="")


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
