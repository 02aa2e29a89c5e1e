"""The administration API (docs/protocol.md, "Administration API"): IAM-authorized routes of
the HTTP API for the platform's own backend. API Gateway has checked the caller's SigV4
signature and `execute-api:Invoke` permission before this runs."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.admin import compose as admin
from tidings.admin.declaration import ADMIN_API
from tidings.admin.service import AdminService
from tidings.admin.wire import SessionRequest, UserPut, user_id_of
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import logger
from tidings.kernel.rest import http_app, json_body, json_response, path_parameters
from tidings.sessions import compose as sessions

app = http_app()


@cold_start(ADMIN_API)
def _admin(environment: Environment) -> AdminService:
    return admin.admin_service(environment, sessions=sessions.session_issuer(environment))


def _path_user_id() -> str:
    """The `{userId}` of the path, as API Gateway decoded it (`pathParameters`; the resolver
    passes the routes the raw, still percent-encoded segment, which they leave unused)."""
    return user_id_of(path_parameters(app).get("userId"))


@app.put("/admin/users/<userId>")
def put_user(userId: str) -> Response:
    profile, created = _admin().put_user(_path_user_id(), UserPut.model_validate(json_body(app)))
    return json_response(201 if created else 200, {"user": profile.to_wire()})


@app.get("/admin/users/<userId>")
def get_user(userId: str) -> dict[str, Any]:
    profile = _admin().get_user(_path_user_id())
    return {"user": profile.to_wire(), **({"erasure": "running"} if profile.erasing else {})}


@app.delete("/admin/users/<userId>")
def erase_user(userId: str) -> Response:
    user_id = _path_user_id()
    return json_response(202, {"userId": user_id, "erasure": _admin().erase_user(user_id)})


@app.get("/admin/users/<userId>/export")
def export_user(userId: str) -> dict[str, Any]:
    return _admin().export(_path_user_id())


@app.post("/admin/sessions")
def issue_session() -> dict[str, Any]:
    return _admin().issue_session(SessionRequest.model_validate(json_body(app)))


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    logger.thread_safe_append_keys(adminCaller=iam.get("userArn"))  # who provisioned what, in every line
    return app.resolve(event, context)
