"""`POST /api/auth/refresh` and `POST /api/auth/revoke` (PROTOCOL.md §11), on the HTTP API."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.rest import caller_id, http_app, json_body
from tidings.sessions.wire import RefreshRequest
from tidings.wiring import credential_service, revocations, signing_key

app = http_app()


@app.post("/api/auth/refresh")
def refresh() -> dict[str, Any]:
    """No bearer token: the access token has usually expired when a client refreshes."""
    request = RefreshRequest.model_validate(json_body(app))
    return credential_service().refresh(request.refreshToken).to_wire()


@app.post("/api/auth/revoke")
def revoke() -> dict[str, Any]:
    user_id = caller_id(app, signing_key, revocations().revoked_before)
    logger.thread_safe_append_keys(userId=user_id)
    closed = credential_service().revoke(user_id)
    logger.info("session revoked", extra={"connectionsClosed": closed})
    return {"revoked": True}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
