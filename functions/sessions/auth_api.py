"""`POST /api/auth/refresh` and `POST /api/auth/revoke` (docs/protocol.md, "REST"), on the HTTP API."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import logger
from tidings.kernel.rest import http_app, json_body
from tidings.sessions import compose as sessions
from tidings.sessions.credentials import CredentialService
from tidings.sessions.declaration import AUTH_API
from tidings.sessions.wire import RefreshRequest

app = http_app()
_caller = assemblies.rest_caller(app, AUTH_API)


@cold_start(AUTH_API)
def _credentials(environment: Environment) -> CredentialService:
    return sessions.credential_service(environment, poster=connections_api.poster(environment))


@app.post("/api/auth/refresh")
def refresh() -> dict[str, Any]:
    """No bearer token: the access token has usually expired when a client refreshes."""
    request = RefreshRequest.model_validate(json_body(app))
    return _credentials().refresh(request.refreshToken).to_wire()


@app.post("/api/auth/revoke")
def revoke() -> dict[str, Any]:
    user_id = _caller()
    logger.thread_safe_append_keys(userId=user_id)
    closed = _credentials().revoke(user_id)
    logger.info("session revoked", extra={"connectionsClosed": closed})
    return {"revoked": True}


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
