"""Template lookups and assertions for the two APIs (WebSocket and HTTP), shared by the tests of
the real application and of the variant declarations, so both check the same things."""

from __future__ import annotations

from typing import Any

from tidings.kernel.declaration import HttpRoute, MockRoute
from tidings_infra.mock_routes import TEMPLATE_SELECTION_EXPRESSION
from tidings_infra.nag import flatten_cfn_reference

Resources = dict[str, dict[str, Any]]


def of_type(resources: Resources, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == resource_type}


def api_id(resources: Resources, protocol: str) -> str | None:
    """The logical id of the one API with `protocol` ("WEBSOCKET" or "HTTP"), None if there is none."""
    apis = [
        k
        for k, v in of_type(resources, "AWS::ApiGatewayV2::Api").items()
        if v["Properties"]["ProtocolType"] == protocol
    ]
    assert len(apis) <= 1, f"more than one {protocol} API: {apis}"
    return apis[0] if apis else None


def _on_api(resources: Resources, resource_type: str, api: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in of_type(resources, resource_type).items() if v["Properties"]["ApiId"] == {"Ref": api}}


def routes(resources: Resources, api: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Route key -> (logical id, properties) of the routes of one API; fails on a duplicate key."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, resource in _on_api(resources, "AWS::ApiGatewayV2::Route", api).items():
        key = resource["Properties"]["RouteKey"]
        assert key not in found, f"route {key!r} exists twice"
        found[key] = (logical_id, resource["Properties"])
    return found


def stage(resources: Resources, api: str) -> dict[str, Any]:
    (found,) = _on_api(resources, "AWS::ApiGatewayV2::Stage", api).values()
    return dict(found["Properties"])


def target_integration(resources: Resources, route_properties: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The integration a route targets (`integrations/<Ref>`)."""
    prefix, reference = route_properties["Target"]["Fn::Join"][1]
    assert prefix == "integrations/"
    return reference["Ref"], resources[reference["Ref"]]["Properties"]


def lambda_permission_arns(resources: Resources) -> list[str]:
    """Every Lambda permission's SourceArn, flattened (`<Ref>` for references)."""
    return [
        flatten_cfn_reference(p["Properties"].get("SourceArn"))
        for p in of_type(resources, "AWS::Lambda::Permission").values()
    ]


def assert_mock_route(resources: Resources, websocket_api: str, declared: MockRoute) -> None:
    """API Gateway answers the route itself: a two-way route on a MOCK integration whose request
    template passes the frame id, a `$default` integration response building the reply frame,
    a `$default` route response, and no Lambda anywhere on the way."""
    route_id, route = routes(resources, websocket_api)[declared.key]
    assert route["RouteResponseSelectionExpression"] == "$default"
    assert route["AuthorizationType"] == "NONE"

    integration_id, integration = target_integration(resources, route)
    assert integration["IntegrationType"] == "MOCK"
    assert "IntegrationUri" not in integration
    assert integration["TemplateSelectionExpression"] == TEMPLATE_SELECTION_EXPRESSION
    request = integration["RequestTemplates"]["$default"]
    assert '"statusCode": 200' in request
    assert "input.path('$.id')" in request and '"refId"' in request

    (response,) = [
        r["Properties"]
        for r in of_type(resources, "AWS::ApiGatewayV2::IntegrationResponse").values()
        if r["Properties"]["IntegrationId"] == {"Ref": integration_id}
    ]
    assert response["IntegrationResponseKey"] == "$default"
    assert response["TemplateSelectionExpression"] == TEMPLATE_SELECTION_EXPRESSION
    reply = response["ResponseTemplates"]["$default"]
    assert f'"type": "{declared.reply_type}"' in reply
    assert '"id": "$context.requestId"' in reply
    assert "input.path('$.refId')" in reply and '"payload": {"refId": ' in reply
    assert '"timestamp": ' in reply

    (route_response,) = [
        r["Properties"]
        for r in of_type(resources, "AWS::ApiGatewayV2::RouteResponse").values()
        if r["Properties"]["RouteId"] == {"Ref": route_id}
    ]
    assert route_response["RouteResponseKey"] == "$default"

    # No function may be invoked for this route: WebSocket Lambda permissions end in `/*<route key>`.
    invokable = [arn for arn in lambda_permission_arns(resources) if arn.endswith(f"/*{declared.key}")]
    assert not invokable, f"a Lambda permission names mock route {declared.key}: {invokable}"


def assert_http_route(resources: Resources, http_api: str, declared: HttpRoute, function_id: str) -> None:
    """The route exists with exactly the declared key, with its declared authorization (IAM, or
    none: the function verifies the JWT), on a Lambda proxy integration (payload 2.0) of its
    function, which API Gateway may invoke for that path."""
    key = f"{declared.method} {declared.path}"
    _, route = routes(resources, http_api)[key]
    assert route["AuthorizationType"] == ("AWS_IAM" if declared.authorization == "iam" else "NONE")
    assert "AuthorizerId" not in route
    _, integration = target_integration(resources, route)
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [function_id, "Arn"]}
    permitted = [
        p["Properties"]["SourceArn"]["Fn::Join"][1]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    # arn:...:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path>, the path as declared
    assert any(parts[-2:] == [{"Ref": http_api}, f"/*/*{declared.path}"] for parts in permitted), permitted
