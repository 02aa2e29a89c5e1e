"""The `$connect` authorizer: a JWT from `Authorization: Bearer …` or `?token=…`.

API Gateway answers 401 when the authorizer raises `Unauthorized` (no token at all) and 403
when the returned policy denies (a token that fails verification), as docs/protocol.md asks.
"""

from __future__ import annotations

from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponseWebSocket,
)

from tidings.kernel.observability import logger, metrics
from tidings.sessions.tokens import Identity, InvalidToken


class AccessTokens(Protocol):
    def verify(self, token: str) -> Identity:
        """Raises InvalidToken."""


class Unauthorized(Exception):
    """Raised with exactly this message, API Gateway turns it into HTTP 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def token_from(event: APIGatewayAuthorizerRequestEvent) -> str | None:
    header = (event.headers or {}).get("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = (event.get("queryStringParameters") or {}).get("token")
    return token or None


def authorize(raw_event: dict[str, Any], verifier: AccessTokens) -> dict[str, Any]:
    """`verifier`: Tidings' own tokens and the identity providers', refused when the user's
    session was revoked (so a revoked session cannot reconnect) or, for a provider's token, when
    the user is unknown and cannot be provisioned."""
    event = APIGatewayAuthorizerRequestEvent(raw_event)
    token = token_from(event)
    if token is None:
        metrics.add_metric(name="ConnectionsRefused", unit="Count", value=1)
        raise Unauthorized()
    try:
        identity = verifier.verify(token)
    except InvalidToken as exc:
        logger.info("token refused", extra={"reason": str(exc)})  # a fixed phrase, never the token
        metrics.add_metric(name="ConnectionsRefused", unit="Count", value=1)
        policy = APIGatewayAuthorizerResponseWebSocket.from_route_arn(event.method_arn, principal_id="anonymous")
        policy.deny_all_routes()
        return policy.asdict()
    policy = APIGatewayAuthorizerResponseWebSocket.from_route_arn(
        event.method_arn,
        principal_id=identity.user_id,
        # tokenIssuedAt: `$connect` checks it against a revocation written after this check.
        context={
            "userId": identity.user_id,
            "tokenExpiresAt": identity.expires_at,
            "tokenIssuedAt": identity.issued_at,
        },
    )
    policy.allow_all_routes()
    return policy.asdict()
