"""CDK assertions on `TidingsStack`, looping over the application declaration.

Every expectation is derived from `tidings.app.APPLICATION`, so a new route, table or stream
subscription is covered here without editing this file.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infrastructure import api_assertions
from tests.infrastructure.synthesis import Synthesized
from tidings.app import APPLICATION
from tidings.kernel.declaration import (
    CALLBACK_URL_ENV,
    Access,
    Function,
    HttpRoute,
    MockRoute,
    Route,
    StreamSubscription,
    Table,
)
from tidings.messaging.models import MESSAGES
from tidings_infra import names
from tidings_infra.tables import model_indexes

_HAS_HTTP_API = bool(APPLICATION.http_routes)

# --- helpers -----------------------------------------------------------------------------


def _ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def _get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def _function_resource(synthesized: Synthesized, declared: Function) -> dict[str, Any]:
    return synthesized.resources[synthesized.logical_id(synthesized.stack.functions.function(declared))]


def _table_id(synthesized: Synthesized, declared: Table) -> str:
    return synthesized.logical_id(synthesized.stack.tables.table(declared))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_documents(synthesized: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM policy document in the template: policies, managed policies, inline role
    policies and resource policies (queues)."""
    for logical_id, resource in synthesized.resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy"):
            yield logical_id, properties["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield f"{logical_id}/{policy['PolicyName']}", policy["PolicyDocument"]


def _role_statements(synthesized: Synthesized, declared: Function) -> list[dict[str, Any]]:
    role_id = synthesized.logical_id(synthesized.stack.functions.function(declared).role)  # type: ignore[arg-type]
    statements: list[dict[str, Any]] = []
    for resource in synthesized.of_type("AWS::IAM::Policy").values():
        if _ref(role_id) in resource["Properties"].get("Roles", []):
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions_on(statements: list[dict[str, Any]], resource: Any) -> set[str]:
    return {
        action
        for statement in statements
        if statement["Effect"] == "Allow" and resource in _as_list(statement["Resource"])
        for action in _as_list(statement["Action"])
    }


def _websocket_api_id(synthesized: Synthesized) -> str:
    api_id = api_assertions.api_id(synthesized.resources, "WEBSOCKET")
    assert api_id == synthesized.logical_id(synthesized.stack.websocket.api)
    return api_id


def _http_api_id(synthesized: Synthesized) -> str:
    api_id = api_assertions.api_id(synthesized.resources, "HTTP")
    assert api_id is not None and synthesized.stack.http_api is not None
    assert api_id == synthesized.logical_id(synthesized.stack.http_api.api)
    return api_id


def _route_id(synthesized: Synthesized, route_key: str) -> str:
    """The logical id of the WebSocket route `route_key` (exactly one)."""
    return api_assertions.routes(synthesized.resources, _websocket_api_id(synthesized))[route_key][0]


# --- the WebSocket API -------------------------------------------------------------------


def test_websocket_api_routes_by_body_type(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::ApiGatewayV2::Api", 2 if _HAS_HTTP_API else 1)
    synthesized.template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.type"},
    )


@pytest.mark.parametrize("route", APPLICATION.routes, ids=lambda r: r.key)
def test_every_declared_route_exists_with_its_function(synthesized: Synthesized, route: Route) -> None:
    route_resource = synthesized.resources[_route_id(synthesized, route.key)]["Properties"]
    integration_id = route_resource["Target"]["Fn::Join"][1][1]["Ref"]
    integration = synthesized.resources[integration_id]["Properties"]
    function_id = synthesized.logical_id(synthesized.stack.functions.function(route.function))
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert _get_att(function_id, "Arn") in integration["IntegrationUri"]["Fn::Join"][1]
    if route.two_way:
        assert route_resource.get("RouteResponseSelectionExpression") == "$default"
    else:
        assert "RouteResponseSelectionExpression" not in route_resource


def test_two_way_routes_have_a_route_response(synthesized: Synthesized) -> None:
    """Lambda routes declared two-way, and every mock route (its reply is the point)."""
    responses = synthesized.of_type("AWS::ApiGatewayV2::RouteResponse").values()
    answered = {r["Properties"]["RouteId"]["Ref"] for r in responses}
    two_way = [r.key for r in APPLICATION.routes if r.two_way] + [r.key for r in APPLICATION.mock_routes]
    assert answered == {_route_id(synthesized, key) for key in two_way}


def test_no_undeclared_routes(synthesized: Synthesized) -> None:
    websocket_keys = set(api_assertions.routes(synthesized.resources, _websocket_api_id(synthesized)))
    assert websocket_keys == {r.key for r in APPLICATION.routes} | {r.key for r in APPLICATION.mock_routes}
    all_keys = [r["Properties"]["RouteKey"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()]
    assert len(all_keys) == len(APPLICATION.routes) + len(APPLICATION.mock_routes) + len(APPLICATION.http_routes)


@pytest.mark.parametrize("route", APPLICATION.mock_routes, ids=lambda r: r.key)
def test_mock_routes_are_answered_by_api_gateway_without_lambda(synthesized: Synthesized, route: MockRoute) -> None:
    api_assertions.assert_mock_route(synthesized.resources, _websocket_api_id(synthesized), route)


def test_ping_is_answered(synthesized: Synthesized) -> None:
    """The heartbeat gets its pong whichever way `ping` is declared: by a function on a two-way
    route, or (docs/protocol.md: no invocation per heartbeat) by a mock route."""
    mock = next((r for r in APPLICATION.mock_routes if r.key == "ping"), None)
    if mock is not None:
        assert mock.reply_type == "pong"
        api_assertions.assert_mock_route(synthesized.resources, _websocket_api_id(synthesized), mock)
        return
    route = APPLICATION.route("ping")
    assert route is not None and route.two_way, "ping is neither a mock route nor a two-way route"


def test_connect_route_uses_the_request_authorizer(synthesized: Synthesized) -> None:
    authorizers = synthesized.of_type("AWS::ApiGatewayV2::Authorizer")
    assert len(authorizers) == 1
    ((authorizer_id, authorizer),) = authorizers.items()
    properties = authorizer["Properties"]
    assert properties["AuthorizerType"] == "REQUEST"
    # No identity sources: API Gateway would 401 a request missing any one of them without
    # calling the authorizer, which breaks "header OR ?token=" (see WebSocketConstruct).
    assert properties["IdentitySource"] == []
    authorizer_function = synthesized.logical_id(synthesized.stack.functions.function(APPLICATION.authorizer.function))
    assert _get_att(authorizer_function, "Arn") in properties["AuthorizerUri"]["Fn::Join"][1]

    connect = synthesized.resources[_route_id(synthesized, "$connect")]["Properties"]
    assert connect["AuthorizationType"] == "CUSTOM"
    assert connect["AuthorizerId"] == _ref(authorizer_id)
    for route in APPLICATION.routes:
        if route.key != "$connect":
            other = synthesized.resources[_route_id(synthesized, route.key)]["Properties"]
            assert other["AuthorizationType"] == "NONE"


def test_api_gateway_may_invoke_the_authorizer(synthesized: Synthesized) -> None:
    function_id = synthesized.logical_id(synthesized.stack.functions.function(APPLICATION.authorizer.function))
    permissions = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == _get_att(function_id, "Arn")
    ]
    assert any(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)


def test_stage_deploys_with_throttling_and_json_access_logs(synthesized: Synthesized) -> None:
    properties = api_assertions.stage(synthesized.resources, _websocket_api_id(synthesized))
    assert properties["StageName"] == names.STAGE_NAME
    assert properties["AutoDeploy"] is True
    assert properties["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": names.THROTTLE_BURST_LIMIT,
        "ThrottlingRateLimit": names.THROTTLE_RATE_LIMIT,
    }
    access_log = json.loads(properties["AccessLogSettings"]["Format"])
    assert access_log["connectionId"] == "$context.connectionId"
    assert "DestinationArn" in properties["AccessLogSettings"]


def test_outputs_give_the_websocket_and_callback_urls(synthesized: Synthesized) -> None:
    outputs = synthesized.template.find_outputs("*")
    websocket_url = json.dumps(outputs[names.OUTPUT_WEBSOCKET_URL]["Value"])
    callback_url = json.dumps(outputs[names.OUTPUT_CALLBACK_URL]["Value"])
    assert '"wss://"' in websocket_url and f"/{names.STAGE_NAME}" in websocket_url
    assert '"https://"' in callback_url and f"/{names.STAGE_NAME}" in callback_url


# --- the HTTP API ------------------------------------------------------------------------

needs_http_api = pytest.mark.skipif(not _HAS_HTTP_API, reason="the application declares no HTTP routes")


@pytest.mark.parametrize("route", APPLICATION.http_routes, ids=lambda r: f"{r.method} {r.path}")
def test_every_declared_http_route_exists_on_its_function(synthesized: Synthesized, route: HttpRoute) -> None:
    function_id = synthesized.logical_id(synthesized.stack.functions.function(route.function))
    api_assertions.assert_http_route(synthesized.resources, _http_api_id(synthesized), route, function_id)


@needs_http_api
def test_http_api_has_exactly_the_declared_routes(synthesized: Synthesized) -> None:
    keys = set(api_assertions.routes(synthesized.resources, _http_api_id(synthesized)))
    assert keys == {f"{r.method} {r.path}" for r in APPLICATION.http_routes}


@needs_http_api
def test_http_functions_get_one_proxy_integration_each(synthesized: Synthesized) -> None:
    """A function serving several routes has one integration, shared by its routes."""
    http_api = _http_api_id(synthesized)
    integrations = [
        i["Properties"]
        for i in synthesized.of_type("AWS::ApiGatewayV2::Integration").values()
        if i["Properties"]["ApiId"] == _ref(http_api)
    ]
    assert all(i["IntegrationType"] == "AWS_PROXY" and i["PayloadFormatVersion"] == "2.0" for i in integrations)
    assert len(integrations) == len({r.function.id for r in APPLICATION.http_routes})


@needs_http_api
def test_http_api_has_no_authorizer_but_iam_on_the_admin_routes(synthesized: Synthesized) -> None:
    """The functions verify the bearer JWT themselves (HttpApiConstruct says why); the
    administration routes use IAM authorization, which needs no authorizer resource."""
    http_api = _http_api_id(synthesized)
    authorizers = synthesized.of_type("AWS::ApiGatewayV2::Authorizer").values()
    assert not [a for a in authorizers if a["Properties"]["ApiId"] == _ref(http_api)]
    iam = {r.key for r in APPLICATION.http_routes if r.authorization == "iam"}
    for key, (_, route) in api_assertions.routes(synthesized.resources, http_api).items():
        assert route["AuthorizationType"] == ("AWS_IAM" if key in iam else "NONE") and "AuthorizerId" not in route


@needs_http_api
def test_http_api_allows_browsers_by_cors(synthesized: Synthesized) -> None:
    cors = synthesized.resources[_http_api_id(synthesized)]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == list(names.CORS_DEFAULT_ALLOWED_ORIGINS) == ["*"]
    assert set(cors["AllowMethods"]) == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert set(cors["AllowHeaders"]) == {"Authorization", "Content-Type"}
    assert cors["AllowCredentials"] is False  # bearer tokens, no cookies: required with "*"
    assert cors["ExposeHeaders"] == ["Retry-After"]
    assert cors["MaxAge"] == names.CORS_MAX_AGE_SECONDS


@needs_http_api
def test_http_stage_is_the_default_stage_throttled_and_logged(synthesized: Synthesized) -> None:
    properties = api_assertions.stage(synthesized.resources, _http_api_id(synthesized))
    assert properties["StageName"] == "$default"  # paths reach the handlers as declared
    assert properties["AutoDeploy"] is True
    assert properties["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": names.HTTP_THROTTLE_BURST_LIMIT,
        "ThrottlingRateLimit": names.HTTP_THROTTLE_RATE_LIMIT,
    }
    access_log = json.loads(properties["AccessLogSettings"]["Format"])
    assert access_log["routeKey"] == "$context.routeKey" and access_log["status"] == "$context.status"
    assert not [v for v in access_log.values() if "header" in v.lower() or "body" in v.lower()]
    destination = properties["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[destination]["Type"] == "AWS::Logs::LogGroup"


def test_http_api_url_is_an_output_when_there_are_http_routes(synthesized: Synthesized) -> None:
    outputs = synthesized.template.find_outputs("*")
    if not _HAS_HTTP_API:
        assert names.OUTPUT_HTTP_API_URL not in outputs
        return
    url = outputs[names.OUTPUT_HTTP_API_URL]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and _ref(_http_api_id(synthesized)) in url and url[-1] == "/"


# --- tables ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", APPLICATION.tables, ids=lambda t: t.id)
def test_every_declared_table_has_its_model_keys_and_indexes(synthesized: Synthesized, table: Table) -> None:
    properties = synthesized.resources[_table_id(synthesized, table)]["Properties"]
    attributes = table.model.get_attributes().values()
    hash_key = next(a for a in attributes if a.is_hash_key)
    range_key = next((a for a in attributes if a.is_range_key), None)
    expected_keys = [{"AttributeName": hash_key.attr_name, "KeyType": "HASH"}]
    if range_key is not None:
        expected_keys.append({"AttributeName": range_key.attr_name, "KeyType": "RANGE"})
    assert properties["KeySchema"] == expected_keys

    definitions = {d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]}
    for key in filter(None, (hash_key, range_key)):
        assert definitions[key.attr_name] == key.attr_type

    expected_indexes = {}
    for index in model_indexes(table.model):
        index_attributes = index.Meta.attributes.values()
        index_keys = [{"AttributeName": a.attr_name, "KeyType": "HASH"} for a in index_attributes if a.is_hash_key] + [
            {"AttributeName": a.attr_name, "KeyType": "RANGE"} for a in index_attributes if a.is_range_key
        ]
        for a in index_attributes:
            assert definitions[a.attr_name] == a.attr_type
        expected_indexes[index.Meta.index_name] = (index_keys, index.Meta.projection.projection_type)
    actual_indexes = {
        gsi["IndexName"]: (gsi["KeySchema"], gsi["Projection"]["ProjectionType"])
        for gsi in properties.get("GlobalSecondaryIndexes", [])
    }
    assert actual_indexes == expected_indexes


@pytest.mark.parametrize("table", APPLICATION.tables, ids=lambda t: t.id)
def test_every_table_streams_and_expires_as_declared(synthesized: Synthesized, table: Table) -> None:
    resource = synthesized.resources[_table_id(synthesized, table)]
    properties = resource["Properties"]
    if table.stream:
        assert properties["StreamSpecification"] == {"StreamViewType": table.stream}
    else:
        assert "StreamSpecification" not in properties
    if table.ttl_attribute:
        assert properties["TimeToLiveSpecification"] == {"AttributeName": table.ttl_attribute, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in properties
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}  # AWS-managed KMS key
    assert "TableName" not in properties  # generated; functions get it through env_var
    assert resource["DeletionPolicy"] == "Retain"


def test_no_undeclared_tables(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::DynamoDB::Table", len(APPLICATION.tables))


# --- stream consumers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "subscription", APPLICATION.stream_subscriptions, ids=lambda s: f"{s.table.id}->{s.function.id}"
)
def test_stream_consumers_handle_failures(synthesized: Synthesized, subscription: StreamSubscription) -> None:
    table_id = _table_id(synthesized, subscription.table)
    queue_id = synthesized.logical_id(synthesized.stack.queues.queue(subscription.on_failure))
    function_id = synthesized.logical_id(synthesized.stack.functions.function(subscription.function))
    assert 0 <= subscription.retry_attempts <= 10, "retries must be bounded"
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": _get_att(table_id, "StreamArn"),
            "FunctionName": _ref(function_id),
            "StartingPosition": subscription.starting_position,
            "BatchSize": subscription.batch_size,
            "MaximumBatchingWindowInSeconds": subscription.max_batching_window_seconds,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": subscription.retry_attempts,
            "MaximumRecordAgeInSeconds": subscription.max_record_age_seconds,
            "ParallelizationFactor": subscription.parallelization_factor,
            "DestinationConfig": {"OnFailure": {"Destination": _get_att(queue_id, "Arn")}},
            "FilterCriteria": {
                "Filters": [
                    {"Pattern": json.dumps({"eventName": list(subscription.event_names)}, separators=(",", ":"))}
                ]
            },
        },
    )
    # The consumer may park failed records in the on-failure queue.
    statements = _role_statements(synthesized, subscription.function)
    assert "sqs:SendMessage" in _actions_on(statements, _get_att(queue_id, "Arn"))


def test_no_stream_has_more_than_two_readers(synthesized: Synthesized) -> None:
    """DynamoDB Streams throttles more than two processes reading one shard; every event source
    mapping on a stream reads all of its shards."""
    readers: dict[str, list[str]] = {}
    for mapping in synthesized.of_type("AWS::Lambda::EventSourceMapping").values():
        source = mapping["Properties"]["EventSourceArn"]
        if isinstance(source, dict) and source.get("Fn::GetAtt", [None, None])[1] == "StreamArn":
            readers.setdefault(source["Fn::GetAtt"][0], []).append(mapping["Properties"]["FunctionName"]["Ref"])
    assert readers, "the template has stream consumers"
    assert len(readers[_table_id(synthesized, MESSAGES)]) == 2  # the Delivery consumer and the search indexer
    assert {table: functions for table, functions in readers.items() if len(functions) > 2} == {}


def test_the_delivery_consumer_reads_four_batches_per_shard_at_once(synthesized: Synthesized) -> None:
    """Each chat's events stay in order in one batch sequence (the partition key is the chat),
    and a slow chat holds up only the chats that share its sequence."""
    [delivery] = [s for s in APPLICATION.stream_subscriptions if s.table is MESSAGES and s.function.id == "Delivery"]
    assert delivery.parallelization_factor == 4
    function_id = synthesized.logical_id(synthesized.stack.functions.function(delivery.function))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"FunctionName": _ref(function_id), "ParallelizationFactor": 4}
    )


def test_every_event_source_mapping_is_declared(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is(
        "AWS::Lambda::EventSourceMapping",
        len(APPLICATION.stream_subscriptions) + len(APPLICATION.queue_subscriptions),
    )


# --- functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_every_function_is_built_as_declared(synthesized: Synthesized, function: Function) -> None:
    properties = _function_resource(synthesized, function)["Properties"]
    assert properties["Handler"] == function.handler
    assert properties["Runtime"] == "python3.11"
    assert properties["Architectures"] == ["x86_64"]
    assert properties["MemorySize"] == function.memory_mb
    assert properties["Timeout"] == function.timeout_seconds
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert "Ref" in properties["LoggingConfig"]["LogGroup"]


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_every_function_gets_exactly_its_environment(synthesized: Synthesized, function: Function) -> None:
    variables = _function_resource(synthesized, function)["Properties"]["Environment"]["Variables"]
    expected = dict(names.COMMON_ENVIRONMENT)
    for table, _ in function.tables:
        expected[table.env_var] = _ref(_table_id(synthesized, table))
    for secret in function.secrets:
        expected[secret.env_var] = _ref(synthesized.logical_id(synthesized.stack.secrets.secret(secret)))
    for queue in function.send_queues:
        expected[queue.env_var] = _ref(synthesized.logical_id(synthesized.stack.queues.queue(queue)))
    for index, _ in function.search:
        domain_id = synthesized.logical_id(synthesized.stack.search.domain(index))
        expected[index.env_var] = {"Fn::Join": ["", ["https://", _get_att(domain_id, "DomainEndpoint")]]}
        expected[index.engine_env] = "opensearch"
        expected[index.index_env] = index.index_name
    for bucket, _ in function.buckets:
        expected[bucket.env_var] = _ref(synthesized.logical_id(synthesized.stack.buckets.bucket(bucket)))
    callback = variables.pop(CALLBACK_URL_ENV, None)
    assert variables == expected
    if function.manages_connections:
        api_id = synthesized.logical_id(synthesized.stack.websocket.api)
        assert callback is not None
        parts = callback["Fn::Join"][1]
        assert parts[0] == "https://" and _ref(api_id) in parts and parts[-1] == f"/{names.STAGE_NAME}"
    else:
        assert callback is None


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_every_function_has_both_layers(synthesized: Synthesized, function: Function) -> None:
    layers = _function_resource(synthesized, function)["Properties"]["Layers"]
    core_id = synthesized.logical_id(synthesized.stack.layers.core)
    parameters = synthesized.template.find_parameters("*")
    powertools = [key for key, value in parameters.items() if value.get("Default") == names.POWERTOOLS_LAYER_PARAMETER]
    assert len(powertools) == 1
    assert parameters[powertools[0]]["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert sorted(json.dumps(layer) for layer in layers) == sorted(
        json.dumps(_ref(i)) for i in (core_id, powertools[0])
    )


def test_core_layer_is_built_for_the_runtime(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": ["python3.11"], "CompatibleArchitectures": ["x86_64"]},
    )


def test_powertools_layer_version_matches_what_tests_run_against() -> None:
    assert importlib.metadata.version("aws-lambda-powertools") == names.POWERTOOLS_VERSION


def test_log_groups_have_a_retention(synthesized: Synthesized) -> None:
    log_groups = synthesized.of_type("AWS::Logs::LogGroup")
    api_access_logs = 2 if _HAS_HTTP_API else 1
    search_logs = 3 * len(APPLICATION.search_indexes)  # slow search, slow index, application
    assert len(log_groups) == len(APPLICATION.functions) + api_access_logs + search_logs
    for log_group in log_groups.values():
        assert log_group["Properties"]["RetentionInDays"] == 30


# --- least privilege ---------------------------------------------------------------------

_WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
_READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
# The only actions that may have Resource "*": they support no resource-level permissions.
_RESOURCE_WILDCARD_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"}


def test_no_policy_grants_a_wildcard_action(synthesized: Synthesized) -> None:
    documents = list(_policy_documents(synthesized))
    assert documents
    for name, document in documents:
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue  # a Deny on sqs:* (the TLS-only queue policy) is the opposite of a grant
            assert "NotAction" not in statement, f"{name} allows everything but some actions"
            for action in _as_list(statement.get("Action", [])):
                assert action != "*", f"{name} allows every action"
                assert not action.endswith(":*"), f"{name} allows a service wildcard {action}"
                assert "*" not in action, f"{name} allows a wildcard action {action}"


def test_no_role_may_scan_a_table(synthesized: Synthesized) -> None:
    """No Tidings code path Scans; IAM makes a Scan fail loudly."""
    for name, document in _policy_documents(synthesized):
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                assert "dynamodb:Scan" not in _as_list(statement.get("Action", [])), f"{name} may Scan"


def test_only_resourceless_actions_apply_to_every_resource(synthesized: Synthesized) -> None:
    for name, document in _policy_documents(synthesized):
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource", [])):
                actions = set(_as_list(statement["Action"]))
                assert actions <= _RESOURCE_WILDCARD_ACTIONS, f"{name}: {actions} on every resource"


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_functions_reach_only_their_declared_tables(synthesized: Synthesized, function: Function) -> None:
    statements = _role_statements(synthesized, function)
    declared: dict[str, Access] = {table.id: access for table, access in function.tables}
    for table in APPLICATION.tables:
        actions = _actions_on(statements, _get_att(_table_id(synthesized, table), "Arn"))
        access = declared.get(table.id)
        if access is None:
            assert not actions, f"{function.id} may touch undeclared table {table.id}"
            continue
        assert (actions >= _READ_ACTIONS) == (access in ("read", "read_write")), (table.id, actions)
        assert (actions >= _WRITE_ACTIONS) == (access in ("write", "read_write")), (table.id, actions)
        if access == "read":
            assert not actions & _WRITE_ACTIONS
        if access == "write":
            assert not actions & _READ_ACTIONS


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_only_connection_managers_post_to_connections_of_this_stage(
    synthesized: Synthesized, function: Function
) -> None:
    manage = [
        s for s in _role_statements(synthesized, function) if "execute-api:ManageConnections" in _as_list(s["Action"])
    ]
    if not function.manages_connections:
        assert not manage
        return
    (statement,) = manage
    (resource,) = _as_list(statement["Resource"])
    api_id = synthesized.logical_id(synthesized.stack.websocket.api)
    parts = resource["Fn::Join"][1]
    assert _ref(api_id) in parts
    assert parts[-1] == f"/{names.STAGE_NAME}/*/@connections/*"


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_functions_read_only_their_declared_secrets(synthesized: Synthesized, function: Function) -> None:
    statements = _role_statements(synthesized, function)
    declared = {secret.id for secret in function.secrets}
    for secret in APPLICATION.secrets:
        secret_id = synthesized.logical_id(synthesized.stack.secrets.secret(secret))
        can_read = "secretsmanager:GetSecretValue" in _actions_on(statements, _ref(secret_id))
        assert can_read == (secret.id in declared)


def test_functions_use_no_aws_managed_policies(synthesized: Synthesized) -> None:
    for declared in APPLICATION.functions:
        role_id = synthesized.logical_id(synthesized.stack.functions.function(declared).role)  # type: ignore[arg-type]
        assert "ManagedPolicyArns" not in synthesized.resources[role_id]["Properties"]


# --- queues and secrets ------------------------------------------------------------------


def test_queues_are_encrypted_and_tls_only(synthesized: Synthesized) -> None:
    queues = synthesized.of_type("AWS::SQS::Queue")
    assert len(queues) == len(APPLICATION.queues) + sum(1 for q in APPLICATION.queues if q.dead_letter_after)
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    synthesized.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_secrets_are_generated_signing_keys(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::SecretsManager::Secret", len(APPLICATION.secrets))
    synthesized.template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}},
    )


# --- the template as a whole -------------------------------------------------------------


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "Ref" in node and isinstance(node["Ref"], str):
            yield node["Ref"]
        if "Fn::GetAtt" in node:
            yield str(node["Fn::GetAtt"][0])
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def test_the_template_has_no_dependency_cycle(synthesized: Synthesized) -> None:
    resources = synthesized.resources
    edges = {
        logical_id: {
            target
            for target in [*_references(resource.get("Properties", {})), *_as_list(resource.get("DependsOn", []))]
            if target in resources and target != logical_id
        }
        for logical_id, resource in resources.items()
    }
    remaining = dict(edges)
    while remaining:
        ready = [node for node, deps in remaining.items() if not deps & remaining.keys()]
        assert ready, f"dependency cycle among {sorted(remaining)}"
        for node in ready:
            del remaining[node]


def test_cdk_nag_reports_nothing(synthesized: Synthesized) -> None:
    report_path = synthesized.outdir / "validation-report.json"
    if report_path.exists():
        report = json.loads(report_path.read_text())
        assert report.get("pluginReports", []) == []
