"""WebSocket routes that API Gateway answers itself: MOCK integrations, no Lambda.

Why: a client sends `ping` every 30 s per connection. Routed to a function,
that is one Lambda invocation per connection per 30 s, about 86,400 a month for one idle tab,
for a reply that needs no state. A MOCK integration builds the `pong` in API Gateway's mapping
templates instead, so a heartbeat costs only the WebSocket message itself.

How API Gateway evaluates the pieces (WebSocket APIs, non-proxy integration, two-way route):

1. The route (`CfnRoute`) has `RouteResponseSelectionExpression: $default` and a `$default`
   route response (`CfnRouteResponse`): without a route response API Gateway sends nothing back.
2. The MOCK integration's request template is chosen by `TemplateSelectionExpression:
   \\$default` (a backslash escapes the `$`, so the static key `$default` is selected for every
   frame). In it `$input` is the client's frame. A MOCK integration has no backend: the
   rendered request template must be a JSON object with an integer `statusCode`, and it is
   what the integration "returns". We render `{"statusCode": 200, "refId": "<frame id>"}`,
   carrying the frame's `id` through (the known pattern for echoing a request field from a
   WebSocket MOCK integration: pass it in the request template next to `statusCode`, read it
   in the integration response template).
3. For MOCK integrations the integration response is selected by the status code
   (`$integration.response.statuscode`); the `$default` integration response catches it. Its
   template (again selected by `\\$default`) renders the reply frame. There `$input` is the
   integration's output from step 2, so `$input.path('$.refId')` is the id; should `$input`
   ever be the client's frame instead, the template falls back to `$input.path('$.id')`, so
   either reading yields the right `refId`.

Everything a client controls (the frame id) passes through `$util.escapeJavaScript` (with its
`\\'` turned back into `'`, as the API Gateway docs prescribe for JSON) before it is placed in a
JSON string, so no id can break the JSON or the `statusCode` parse.

The reply is `{"type": <reply_type>, "id": $context.requestId, "timestamp": ISO-8601 UTC with
milliseconds, "payload": {"refId": <id>}}`, the shape of `tidings.kernel.wire.server_frame`.
The timestamp is assembled from `$context.requestTime` (CLF, `24/Nov/2026:10:00:00 +0000`, UTC)
and the last three digits of `$context.requestTimeEpoch` (milliseconds): API Gateway's VTL has
no date formatting of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import aws_apigatewayv2 as apigwv2
from constructs import Construct

from tidings.kernel.declaration import MockRoute
from tidings_infra.nag import acknowledge

# `$default` in a selection expression would be read as a variable; `\$default` is the literal key.
TEMPLATE_SELECTION_EXPRESSION = "\\$default"
DEFAULT_KEY = "$default"

# Reply types are spliced into a template, so they must be plain protocol names.
_REPLY_TYPE = re.compile(r"^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$")
_MONTHS = ", ".join(
    f'"{name}": "{number:02d}"'
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
)


def _json_string(vtl_reference: str) -> str:
    """VTL that renders `vtl_reference` (a string variable) escaped for a JSON string literal."""
    return f'$util.escapeJavaScript({vtl_reference}).replaceAll("\\\\\'", "\'")'


def request_template() -> str:
    """The MOCK integration's request template: status 200 and the client frame's id."""
    return f'#set($refId = "$!input.path(\'$.id\')"){{"statusCode": 200, "refId": "{_json_string("$refId")}"}}'


def response_template(reply_type: str) -> str:
    """The `$default` integration response's template: the reply frame."""
    if not _REPLY_TYPE.match(reply_type):
        raise ValueError(f"mock reply type {reply_type!r} is not a protocol frame type")
    return (
        "#set($refId = \"$!input.path('$.refId')\")"
        '#if($refId == "")#set($refId = "$!input.path(\'$.id\')")#end'
        '#set($time = "$context.requestTime")'
        '#set($epoch = "$context.requestTimeEpoch")'
        "#set($millisFrom = $epoch.length() - 3)"
        f"#set($months = {{{_MONTHS}}})"
        "#set($year = $time.substring(7, 11))"
        "#set($month = $months.get($time.substring(3, 6)))"
        "#set($day = $time.substring(0, 2))"
        "#set($clock = $time.substring(12, 20))"
        "#set($millis = $epoch.substring($millisFrom))"
        f'{{"type": "{reply_type}", "id": "$context.requestId", '
        '"timestamp": "${year}-$!{month}-${day}T${clock}.${millis}Z", '
        f'"payload": {{"refId": "{_json_string("$refId")}"}}}}'
    )


class MockRoutesConstruct(Construct):
    """One two-way MOCK route per declared `MockRoute`, built from L1 resources: the L2
    `WebSocketMockIntegration` of aws-cdk-lib 2.275 takes request templates but cannot declare
    an integration response, which is what carries the reply."""

    def __init__(
        self, scope: Construct, construct_id: str, *, api: apigwv2.WebSocketApi, routes: Sequence[MockRoute]
    ) -> None:
        super().__init__(scope, construct_id)
        self.integrations: dict[str, apigwv2.CfnIntegration] = {}
        self.integration_responses: dict[str, apigwv2.CfnIntegrationResponse] = {}
        self.routes: dict[str, apigwv2.CfnRoute] = {}
        self.route_responses: dict[str, apigwv2.CfnRouteResponse] = {}
        for declared in routes:
            route_id = _route_id(declared.key)
            integration = apigwv2.CfnIntegration(
                self,
                f"{route_id}Integration",
                api_id=api.api_id,
                integration_type="MOCK",
                description=f"Answers {declared.key} with {declared.reply_type} in API Gateway (no Lambda)",
                template_selection_expression=TEMPLATE_SELECTION_EXPRESSION,
                request_templates={DEFAULT_KEY: request_template()},
                passthrough_behavior="WHEN_NO_MATCH",
            )
            integration_response = apigwv2.CfnIntegrationResponse(
                self,
                f"{route_id}IntegrationResponse",
                api_id=api.api_id,
                integration_id=integration.ref,
                integration_response_key=DEFAULT_KEY,
                template_selection_expression=TEMPLATE_SELECTION_EXPRESSION,
                response_templates={DEFAULT_KEY: response_template(declared.reply_type)},
            )
            route = apigwv2.CfnRoute(
                self,
                f"{route_id}Route",
                api_id=api.api_id,
                route_key=declared.key,
                authorization_type="NONE",
                target=f"integrations/{integration.ref}",
                route_response_selection_expression=DEFAULT_KEY,
            )
            route_response = apigwv2.CfnRouteResponse(
                self,
                f"{route_id}RouteResponse",
                api_id=api.api_id,
                route_id=route.ref,
                route_response_key=DEFAULT_KEY,
            )
            acknowledge(
                route,
                "WebSocket APIs authorize once, on $connect (the only route API Gateway lets an "
                "authorizer guard); this frame arrives on that authorized connection and is answered "
                "by API Gateway itself, touching no data.",
                "AwsSolutions-APIG4",
            )
            self.integrations[declared.key] = integration
            self.integration_responses[declared.key] = integration_response
            self.routes[declared.key] = route
            self.route_responses[declared.key] = route_response


def _route_id(route_key: str) -> str:
    """`ping` -> `Ping`, `presence.ping` -> `PresencePing`."""
    words = route_key.lstrip("$").replace(".", " ").replace("_", " ").replace("-", " ").split()
    return "".join(word[:1].upper() + word[1:] for word in words)
