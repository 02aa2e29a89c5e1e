"""`POST /api/auth/refresh` and `POST /api/auth/revoke` (docs/protocol.md, "REST"), on the HTTP API."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import logger
from tidings.kernel.rest import caller_id, http_app, json_body
from tidings.sessions import compose as sessions
from tidings.sessions.credentials import CredentialService
from tidings.sessions.declaration import AUTH_API
from tidings.sessions.wire import RefreshRequest

app = http_app()


@dataclass(frozen=True)
class Services:
    credentials: CredentialService
    authenticate: Callable[[str], str]


@cold_start(AUTH_API)
def _services(environment: Environment) -> Services:
    credentials = sessions.credential_service(environment, poster=connections_api.poster(environment))
    return Services(credentials, sessions.authenticate(environment))


@app.post("/api/auth/refresh")
def refresh() -> dict[str, Any]:
    """No bearer token: the access token has usually expired when a client refreshes."""
    request = RefreshRequest.model_validate(json_body(app))
    return _services().credentials.refresh(request.refreshToken).to_wire()


@app.post("/api/auth/revoke")
def revoke() -> dict[str, Any]:
    user_id = caller_id(app, _services().authenticate)
    logger.thread_safe_append_keys(userId=user_id)
    closed = _services().credentials.revoke(user_id)
    logger.info("session revoked", extra={"connectionsClosed": closed})
    return {"revoked": True}


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
