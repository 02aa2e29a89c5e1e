"""The API Gateway HTTP API: the REST calls of docs/protocol.md, one route per declared `HttpRoute`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from tidings.kernel.declaration import Function, HttpRoute
from tidings_infra import names
from tidings_infra.access_logs import json_access_logs
from tidings_infra.cors import cors_allowed_origins
from tidings_infra.nag import acknowledge, acknowledge_wildcard_resource

# One JSON object per request. Metadata only: never a body, a query string (`?token=` is not
# used here, but a future route might) or a header value such as Authorization.
_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "routeKey": "$context.routeKey",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "errorMessage": "$context.error.message",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
}


class HttpApiConstruct(Construct):
    """The HTTP API, its `$default` stage (throttled, JSON access logs) and one route per
    declared `HttpRoute`, exactly as declared (`GET /api/chats/{chatId}/messages`).

    Each declared function gets one Lambda proxy integration with payload format 2.0 (the
    handlers use Powertools' `APIGatewayHttpResolver`), shared by all of its routes; CDK adds
    one `lambda:InvokeFunction` permission per route, scoped to this API and that route's path.

    **IAM authorization on the administration routes** (`authorization="iam"`): API Gateway
    refuses any request that is not SigV4-signed by a principal allowed `execute-api:Invoke` on
    the route, before a function runs. `invoke_policy` is the managed policy that allows exactly
    those routes: a platform team attaches it to its backend's role. No secret is shared.

    **No API Gateway authorizer on the other routes.** Their function verifies the bearer JWT itself
    (`tidings.kernel.rest.caller_id`), exactly as the WebSocket `$connect` authorizer does, and
    `POST /api/auth/refresh` takes no access token at all. HTTP APIs' native JWT authorizer
    cannot verify our tokens: it validates signatures only against the JWKS of an OIDC issuer
    (public keys fetched from the issuer's `jwks_uri`), while Tidings access tokens are HS256,
    signed with a shared secret held in Secrets Manager, which must never be published. A
    Lambda authorizer would run the same verification in a second invocation per request and
    add latency and cost for nothing the function does not already do.

    Browsers call this API cross-origin, so CORS is on: API Gateway answers the preflight
    itself, for the origins of the `tidings:corsAllowedOrigins` context key (default `*`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: Sequence[HttpRoute],
        function_for: Callable[[Function], lambda_.IFunction],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        _check_routes(routes)
        self.api = apigwv2.HttpApi(
            self,
            names.HTTP_API_ID,
            api_name=f"{Stack.of(self).stack_name}-http",
            description="Tidings REST API",
            create_default_stage=False,
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=cors_allowed_origins(self.node.try_get_context(names.CONTEXT_CORS_ALLOWED_ORIGINS)),
                allow_methods=[apigwv2.CorsHttpMethod[method] for method in names.CORS_ALLOWED_METHODS],
                allow_headers=list(names.CORS_ALLOWED_HEADERS),
                expose_headers=list(names.CORS_EXPOSED_HEADERS),
                allow_credentials=False,
                max_age=Duration.seconds(names.CORS_MAX_AGE_SECONDS),
            ),
        )
        self.stage = apigwv2.HttpStage(
            self,
            names.HTTP_STAGE_ID,
            http_api=self.api,
            stage_name=names.HTTP_STAGE_NAME,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=names.HTTP_THROTTLE_RATE_LIMIT, burst_limit=names.HTTP_THROTTLE_BURST_LIMIT
            ),
            access_log_settings=json_access_logs(self, "AccessLogs", _ACCESS_LOG_FIELDS, removal_policy),
        )

        iam_authorizer = authorizers.HttpIamAuthorizer()
        self.integrations: dict[str, integrations.HttpLambdaIntegration] = {}
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        for declared in routes:
            integration = self.integrations.get(declared.function.id)
            if integration is None:
                integration = integrations.HttpLambdaIntegration(
                    f"{declared.function.id}Integration",
                    function_for(declared.function),
                    payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
                )
                self.integrations[declared.function.id] = integration
            route = apigwv2.HttpRoute(
                self,
                _route_id(declared),
                http_api=self.api,
                route_key=apigwv2.HttpRouteKey.with_(declared.path, apigwv2.HttpMethod[declared.method]),
                integration=integration,
                authorizer=iam_authorizer if declared.authorization == "iam" else None,
            )
            if declared.authorization == "jwt":
                acknowledge(
                    route,
                    "No API Gateway authorizer on purpose: the route's function verifies the bearer JWT "
                    "itself (HS256 with our own Secrets Manager key, the same check as the WebSocket "
                    "$connect authorizer). HTTP APIs' JWT authorizer only verifies tokens against an OIDC "
                    "issuer's published JWKS, which a shared-secret HS256 key cannot have.",
                    "AwsSolutions-APIG4",
                )
            self.routes[route_key(declared)] = route

        self.iam_routes = [declared for declared in routes if declared.authorization == "iam"]
        self.invoke_policy: iam.ManagedPolicy | None = None
        if self.iam_routes:
            self.invoke_policy = iam.ManagedPolicy(
                self,
                names.ADMIN_INVOKE_POLICY_ID,
                description="Allows calling the Tidings administration API (SigV4, execute-api:Invoke)",
                statements=[
                    iam.PolicyStatement(
                        actions=["execute-api:Invoke"],
                        resources=[self._invoke_arn(declared) for declared in self.iam_routes],
                    )
                ],
            )
            for declared in self.iam_routes:
                acknowledge_wildcard_resource(
                    self.invoke_policy,
                    self._invoke_arn(declared),
                    f"Invoke on {declared.key} only: the stage and path parameters are wildcards "
                    "(one stage; any user id), the route is not.",
                )

    def _invoke_arn(self, route: HttpRoute) -> str:
        """The route's `execute-api` ARN, `{api}/{stage}/{METHOD}/{path}`, with each path
        parameter a `*`, which IAM matches against any user id. The stage is `*`: the API has
        the one `$default` stage, and this is how CDK scopes the routes' own invoke permissions."""
        path = re.sub(r"\{[^}/]+\}", "*", route.path)
        return self.api.arn_for_execute_api(route.method, path)

    @property
    def url(self) -> str:
        """`https://{api}.execute-api.{region}.{suffix}/`: paths are appended as declared."""
        return self.stage.url


def route_key(route: HttpRoute) -> str:
    """API Gateway's route key of a declared route: `GET /api/chats`."""
    return route.key


def _route_id(route: HttpRoute) -> str:
    """`GET /api/chats/{chatId}/messages` -> `GetApiChatsChatIdMessages`."""
    words = [route.method.lower(), *route.path.replace("{", "/").replace("}", "/").replace("-", "/").split("/")]
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def _check_routes(routes: Sequence[HttpRoute]) -> None:
    seen: set[str] = set()
    ids: set[str] = set()
    for route in routes:
        key = route_key(route)
        if not route.path.startswith("/"):
            raise ValueError(f"HTTP route {key!r}: the path must start with '/'")
        if key in seen:
            raise ValueError(f"HTTP route {key!r} is declared twice")
        if _route_id(route) in ids:
            raise ValueError(f"HTTP route {key!r} collides with another route's construct id {_route_id(route)}")
        seen.add(key)
        ids.add(_route_id(route))
