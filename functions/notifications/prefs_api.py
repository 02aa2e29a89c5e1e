"""Notification preferences over REST (PROTOCOL.md §7, §11): `GET /api/prefs`, `PUT /api/prefs`.

PUT replaces the whole document (seed §3.6 schema). Unknown fields and bad values are a 400
whose message names the field, e.g. `chatOverrides.general.level: Input should be 'all', ...`.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.rest import caller_id, http_app, json_body
from tidings.notifications.preferences import NotificationPreferences
from tidings.wiring import preference_store, revocations, signing_key

app = http_app()


@app.get("/api/prefs")
def get_prefs() -> dict[str, Any]:
    user_id = caller_id(app, signing_key, revocations().revoked_before)
    return preference_store().get(user_id).to_wire()


@app.put("/api/prefs")
def put_prefs() -> dict[str, Any]:
    user_id = caller_id(app, signing_key, revocations().revoked_before)
    prefs = NotificationPreferences.model_validate(json_body(app))
    preference_store().put(user_id, prefs)
    metrics.add_metric(name="PreferencesSaved", unit="Count", value=1)
    return prefs.to_wire()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
