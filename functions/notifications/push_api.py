"""Push subscriptions: `POST/DELETE /api/push/subscriptions`, and
`GET /api/push/vapid-public-key` (the application server key a browser subscribes with)."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.errors import Unavailable
from tidings.kernel.handlers import http_entry
from tidings.kernel.observability import logger, metrics
from tidings.kernel.rest import http_app, json_body
from tidings.kernel.wire import iso
from tidings.notifications import compose as notifications
from tidings.notifications.declaration import PUSH_API, PushSettings
from tidings.notifications.push_store import DynamoSubscriptionStore
from tidings.notifications.wire import parse_identity, parse_registration

if TYPE_CHECKING:
    from tidings.notifications.vapid import VapidConfig

app = http_app()


@dataclass(frozen=True)
class Services:
    subscriptions: DynamoSubscriptionStore
    vapid_config: Callable[[], "VapidConfig | None"]  # read by the key route only: py_vapid loads then
    allow_loopback_http: bool


@cold_start(PUSH_API)
def _services(environment: Environment) -> Services:
    return Services(
        notifications.push_subscriptions(environment),
        lambda: notifications.vapid_config(environment),
        environment.settings(PushSettings).allow_loopback_http,
    )


_authenticated_caller = assemblies.rest_caller(app, PUSH_API)


def _caller() -> str:
    user_id = _authenticated_caller()
    logger.thread_safe_append_keys(userId=user_id)
    return user_id


@app.post("/api/push/subscriptions")
def register() -> Response:
    """Idempotent: registering the same endpoint or token again overwrites it (201 each time)."""
    user_id = _caller()
    registration = parse_registration(json_body(app), allow_loopback_http=_services().allow_loopback_http)
    subscription = registration.subscription(user_id, iso(time.time()))
    _services().subscriptions.save(subscription)
    logger.info(
        "push subscription registered", extra={"platform": subscription.platform, "subscriptionId": subscription.id}
    )
    metrics.add_metric(name="PushSubscriptionsRegistered", unit="Count", value=1)
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"subscriptionId": subscription.id, "platform": subscription.platform}),
    )


@app.delete("/api/push/subscriptions")
def unregister() -> Response:
    """204 whether or not the subscription existed: the caller's intent holds either way."""
    user_id = _caller()
    identity = parse_identity(json_body(app))
    _services().subscriptions.remove(user_id, identity.subscription_id)
    logger.info(
        "push subscription removed", extra={"platform": identity.platform, "subscriptionId": identity.subscription_id}
    )
    return Response(status_code=HTTPStatus.NO_CONTENT, content_type=content_types.APPLICATION_JSON, body="")


@app.get("/api/push/vapid-public-key")
def vapid_public_key() -> dict[str, str]:
    _caller()
    config = _services().vapid_config()
    if config is None:
        raise Unavailable("Web Push is not configured on this deployment")
    return {"publicKey": config.public_key}


@http_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
