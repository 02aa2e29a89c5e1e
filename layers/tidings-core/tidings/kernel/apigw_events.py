"""Parsed API Gateway WebSocket events: Powertools' models plus the authorizer context that
API Gateway adds to every event of an authorized connection."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from aws_lambda_powertools.utilities.parser.models.apigw_websocket import (
    APIGatewayWebSocketConnectEventRequestContext,
    APIGatewayWebSocketDisconnectEventRequestContext,
    APIGatewayWebSocketMessageEventRequestContext,
)
from pydantic import Field

from tidings.kernel.lazy_model import LazyModel


class AuthorizerContext(LazyModel):
    """What our authorizer returns as context (API Gateway may stringify the values)."""

    principal_id: str = Field(alias="principalId")
    user_id: str = Field(alias="userId")
    token_expires_at: int = Field(alias="tokenExpiresAt")
    # Absent for a connection authorized before the authorizer passed it on.
    token_issued_at: int | None = Field(alias="tokenIssuedAt", default=None)


class _MessageContext(APIGatewayWebSocketMessageEventRequestContext):
    authorizer: AuthorizerContext


class _ConnectContext(APIGatewayWebSocketConnectEventRequestContext):
    authorizer: AuthorizerContext


class WebSocketMessageEvent(APIGatewayWebSocketMessageEventModel):
    request_context: _MessageContext = Field(alias="requestContext")  # type: ignore[assignment]


class WebSocketConnectEvent(APIGatewayWebSocketConnectEventModel):
    request_context: _ConnectContext = Field(alias="requestContext")  # type: ignore[assignment]


class _DisconnectContext(APIGatewayWebSocketDisconnectEventRequestContext):
    # API Gateway passes the authorizer context on $disconnect too; optional, so an event
    # without it (an older runtime, a test) still parses and the user is looked up instead.
    authorizer: AuthorizerContext | None = None


class WebSocketDisconnectEvent(APIGatewayWebSocketDisconnectEventModel):
    request_context: _DisconnectContext = Field(alias="requestContext")  # type: ignore[assignment]
