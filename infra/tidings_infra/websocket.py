"""The API Gateway WebSocket API: routes by `$request.body.type`, a JWT authorizer on `$connect`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from tidings.kernel.declaration import Authorizer, Function, MockRoute, Route
from tidings_infra import names
from tidings_infra.access_logs import json_access_logs
from tidings_infra.mock_routes import MockRoutesConstruct
from tidings_infra.nag import acknowledge

# One JSON object per WebSocket event (connect, message, disconnect). Metadata only: ids,
# route, status and errors, never a frame's body.
_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "messageId": "$context.messageId",
    "status": "$context.status",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "userId": "$context.authorizer.principalId",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerError": "$context.authorizer.error",
    "errorMessage": "$context.error.message",
}


class WebSocketConstruct(Construct):
    """The WebSocket API and its `prod` stage, then (in `add_routes`) its routes.

    The API and stage come first because connection-managing functions need the stage's
    callback URL and `@connections` ARN; the routes come last because they need the functions.
    CloudFormation then sees functions -> API/stage and integrations -> functions: no cycle.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.WebSocketApi(
            self,
            names.WEBSOCKET_API_ID,
            api_name=f"{Stack.of(self).stack_name}-websocket",
            description="Tidings real-time messaging",
            route_selection_expression=names.ROUTE_SELECTION_EXPRESSION,
        )
        self.stage = apigwv2.WebSocketStage(
            self,
            names.WEBSOCKET_STAGE_ID,
            web_socket_api=self.api,
            stage_name=names.STAGE_NAME,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=names.THROTTLE_RATE_LIMIT, burst_limit=names.THROTTLE_BURST_LIMIT
            ),
            access_log_settings=json_access_logs(self, "AccessLogs", _ACCESS_LOG_FIELDS, removal_policy),
        )

    def add_routes(
        self,
        *,
        routes: Sequence[Route],
        mock_routes: Sequence[MockRoute] = (),
        authorizer: Authorizer,
        function_for: Callable[[Function], lambda_.IFunction],
    ) -> None:
        """One route per declared `Route`, `$connect` with the Lambda REQUEST authorizer, and one
        MOCK route per declared `MockRoute`, answered by API Gateway without Lambda (see
        `tidings_infra.mock_routes`: that is how a heartbeat every 30 s per connection costs no
        invocation)."""
        _check_route_keys(routes, mock_routes)
        # Identity sources: none. API Gateway answers 401 *without invoking the authorizer* when
        # any configured identity source is missing, and it requires all of them, so
        # ["route.request.header.Authorization", "route.request.querystring.token"] would reject
        # every client that sends only one of the two forms (browsers cannot set headers on a
        # WebSocket and must use ?token=). For WebSocket APIs the identity source of a REQUEST
        # authorizer is optional (ApiGatewayV2 CreateAuthorizer: "For a REQUEST authorizer, this
        # is optional") and serves only as that presence check: WebSocket authorizers have no
        # result caching (AuthorizerResultTtlInSeconds is HTTP-API only), so no cache key is
        # needed. With none, the authorizer always runs and applies the protocol itself: no
        # token in either place -> it raises "Unauthorized" (API Gateway answers 401); a bad
        # token -> it returns a Deny policy (403).
        connect_authorizer = authorizers.WebSocketLambdaAuthorizer(
            names.AUTHORIZER_ID, function_for(authorizer.function), identity_source=[]
        )
        for route in routes:
            route_construct = self.api.add_route(
                route.key,
                integration=integrations.WebSocketLambdaIntegration(
                    f"{_route_id(route.key)}Integration", function_for(route.function)
                ),
                authorizer=connect_authorizer if route.key == "$connect" else None,
                return_response=True if route.two_way else None,
            )
            if route.key != "$connect":
                acknowledge(
                    route_construct,
                    "WebSocket APIs authorize once, on $connect (the only route API Gateway lets an "
                    "authorizer guard); every later frame arrives on that authorized connection and "
                    "handlers read the authorizer context (userId) from the event.",
                    "AwsSolutions-APIG4",
                )
        self.mock_routes = MockRoutesConstruct(self, "MockRoutes", api=self.api, routes=mock_routes)

    @property
    def url(self) -> str:
        return self.stage.url

    @property
    def callback_url(self) -> str:
        return self.stage.callback_url


def _check_route_keys(routes: Sequence[Route], mock_routes: Sequence[MockRoute]) -> None:
    keys = [r.key for r in routes] + [r.key for r in mock_routes]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(
            f"WebSocket route keys declared more than once (as a Route and a MockRoute, or twice): {twice}"
        )
    if any(r.key.startswith("$") for r in mock_routes):
        raise ValueError("$connect, $disconnect and $default cannot be mock routes: declare them as Routes")


def _route_id(route_key: str) -> str:
    """`$connect` -> `Connect`, `message.send` -> `MessageSend`."""
    words = route_key.lstrip("$").replace(".", " ").replace("_", " ").replace("-", " ").split()
    return "".join(word[:1].upper() + word[1:] for word in words)


class ApiGatewayAccountConstruct(Construct):
    """API Gateway's account-wide CloudWatch Logs role (AWS::ApiGateway::Account).

    WebSocket stages write access logs through this one role per account and region; without
    it the stage fails to deploy with "CloudWatch Logs role ARN must be set in account
    settings". Opt out with `-c tidings:manageApiGatewayAccount=false` where the account
    already has a role that something else manages. The role is retained on stack deletion,
    because other APIs in the account may log through it by then.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
            ],
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            role,
            "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-documented policy for API Gateway's "
            "account-level logging role; it must cover log groups API Gateway itself names (execution "
            "logs of any API in the account), so it cannot be scoped to this stack's log groups.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
        )
        account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=role.role_arn)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        self.role = role
