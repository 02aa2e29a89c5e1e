"""Notification preferences over REST (docs/protocol.md, "Notifications" and "REST"):
`GET /api/prefs`, `PUT /api/prefs`.

PUT replaces the whole document. Unknown fields and bad values are a 400 whose message names the
field, e.g. `chatOverrides.general.level: Input should be 'all', ...`.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import metrics
from tidings.kernel.rest import http_app, json_body
from tidings.notifications import compose as notifications
from tidings.notifications.declaration import PREFS_API
from tidings.notifications.preference_store import DynamoPreferenceStore
from tidings.notifications.preferences import NotificationPreferences

app = http_app()
_caller = assemblies.rest_caller(app, PREFS_API)


@cold_start(PREFS_API)
def _preferences(environment: Environment) -> DynamoPreferenceStore:
    return notifications.preference_store(environment)


@app.get("/api/prefs")
def get_prefs() -> dict[str, Any]:
    return _preferences().get(_caller()).to_wire()


@app.put("/api/prefs")
def put_prefs() -> dict[str, Any]:
    user_id = _caller()
    prefs = NotificationPreferences.model_validate(json_body(app))
    _preferences().put(user_id, prefs)
    metrics.add_metric(name="PreferencesSaved", unit="Count", value=1)
    return prefs.to_wire()


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
