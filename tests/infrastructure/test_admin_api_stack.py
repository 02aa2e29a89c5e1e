"""The administration API in the synthesized stack: IAM authorization on its routes (and only
on them), the managed policy allowing exactly those routes, the outputs, and the function's grants."""

from __future__ import annotations

from typing import Any

from tests.infrastructure import api_assertions
from tests.infrastructure.synthesis import Synthesized
from tests.infrastructure.test_stack import _actions_on, _get_att, _ref, _role_statements
from tidings.admin.declaration import ADMIN_API, ADMIN_CHATS, ERASURE_JOBS, ERASURE_WORKER
from tidings.app import APPLICATION
from tidings_infra import names
from tidings_infra.nag import flatten_cfn_reference


def _http_routes(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    api = api_assertions.api_id(synthesized.resources, "HTTP")
    assert api is not None
    return {key: props for key, (_, props) in api_assertions.routes(synthesized.resources, api).items()}


def test_admin_routes_use_iam_authorization_and_the_api_routes_do_not(synthesized: Synthesized) -> None:
    routes = _http_routes(synthesized)
    admin = {key for key in routes if key.split(" ")[1].startswith("/admin/")}
    assert admin == {r.key for r in APPLICATION.http_routes if r.authorization == "iam"}
    assert {
        "PUT /admin/users/{userId}",
        "GET /admin/users/{userId}",
        "DELETE /admin/users/{userId}",
        "POST /admin/sessions",
    } <= admin
    assert {
        "POST /admin/chats",
        "PATCH /admin/chats/{chatId}",
        "PUT /admin/chats/{chatId}/members/{userId}",
        "DELETE /admin/chats/{chatId}/members/{userId}",
    } <= admin
    for key, props in routes.items():
        if key in admin:
            assert props["AuthorizationType"] == "AWS_IAM", key
        else:
            assert props.get("AuthorizationType", "NONE") == "NONE", key


def test_the_invoke_policy_allows_exactly_the_admin_routes(synthesized: Synthesized) -> None:
    [policy] = synthesized.of_type("AWS::IAM::ManagedPolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    api = api_assertions.api_id(synthesized.resources, "HTTP")
    resources = sorted(flatten_cfn_reference(resource) for resource in statement["Resource"])
    expected = sorted(
        f"arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<{api}>/*/{r.method}"
        + r.path.replace("{userId}", "*").replace("{chatId}", "*")
        for r in APPLICATION.http_routes
        if r.authorization == "iam"
    )
    assert resources == expected
    assert not any("/api/" in resource for resource in resources)


def test_outputs_give_the_admin_url_the_policy_the_tables_and_the_signing_key(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    [policy_id] = synthesized.of_type("AWS::IAM::ManagedPolicy")
    assert outputs[names.OUTPUT_ADMIN_INVOKE_POLICY_ARN]["Value"] == {"Ref": policy_id}
    admin_url = flatten_cfn_reference(outputs[names.OUTPUT_ADMIN_API_URL]["Value"])
    assert admin_url.startswith("https://") and admin_url.endswith("/admin/")
    assert f"JwtSigningKey{names.OUTPUT_SECRET_ARN_SUFFIX}" in outputs
    for table in ("Users", "Members", "Chats", "Messages"):
        assert f"{table}{names.OUTPUT_TABLE_NAME_SUFFIX}" in outputs


def test_the_admin_function_is_granted_only_what_it_uses(synthesized: Synthesized) -> None:
    """No connection tables, no @connections: it neither posts to nor closes connections; its one
    queue is the erasures' (an erasure is the worker's to carry out)."""
    granted = {table.id for table, _ in ADMIN_API.tables}
    assert granted == {"Users", "RefreshTokens", "Members", "Chats", "Messages", "PushSubscriptions"}
    assert not ADMIN_API.manages_connections and ADMIN_API.send_queues == (ERASURE_JOBS,)
    [function] = [
        props
        for props in (r["Properties"] for r in synthesized.of_type("AWS::Lambda::Function").values())
        if props.get("Description") == ADMIN_API.description
    ]
    variables = set(function["Environment"]["Variables"])
    assert "CONNECTIONS_TABLE" not in variables and "WEBSOCKET_CALLBACK_URL" not in variables
    assert {"USERS_TABLE", "REFRESH_TOKENS_TABLE", "JWT_SIGNING_KEY_SECRET_ARN"} <= variables


def test_the_admin_chats_function_has_the_chat_changes_grants_and_no_secret(synthesized: Synthesized) -> None:
    """It writes chats, members and their chat events; it verifies no token and mints none."""
    granted = {(table.id, access) for table, access in ADMIN_CHATS.tables}
    assert granted == {
        ("Chats", "read_write"),
        ("Members", "read_write"),
        ("Users", "read_write"),
        ("Messages", "write"),
    }
    assert not ADMIN_CHATS.secrets and not ADMIN_CHATS.manages_connections and not ADMIN_CHATS.send_queues
    [function] = [
        props
        for props in (r["Properties"] for r in synthesized.of_type("AWS::Lambda::Function").values())
        if props.get("Description") == ADMIN_CHATS.description
    ]
    variables = set(function["Environment"]["Variables"])
    assert {"CHATS_TABLE", "MEMBERS_TABLE", "USERS_TABLE", "MESSAGES_TABLE"} <= variables
    assert "JWT_SIGNING_KEY_SECRET_ARN" not in variables and "CONNECTIONS_TABLE" not in variables


def _erasure_queue_id(synthesized: Synthesized) -> str:
    return synthesized.logical_id(synthesized.stack.queues.queue(ERASURE_JOBS))


def test_the_erasure_worker_is_granted_only_what_its_stages_touch(synthesized: Synthesized) -> None:
    """Each stage's tables at the access it needs, no secret (it verifies and mints no token),
    its own queue and the token timers (a close met in a handshake), @connections to close."""
    assert {(table.id, access) for table, access in ERASURE_WORKER.tables} == {
        ("Users", "read_write"),
        ("RefreshTokens", "read_write"),
        ("Connections", "read_write"),
        ("UserConnections", "read_write"),
        ("Messages", "read_write"),
        ("Idempotency", "read_write"),
        ("Chats", "read_write"),
        ("Members", "read_write"),
        ("PushSubscriptions", "read_write"),
        ("Presence", "write"),
        ("PresenceSubscriptions", "read_write"),
        ("Attachments", "read_write"),  # each deleted message's attachments
    }
    assert not ERASURE_WORKER.secrets and ERASURE_WORKER.manages_connections
    assert [(index.id, access) for index, access in ERASURE_WORKER.search] == [("Search", "read_write")]
    statements = _role_statements(synthesized, ERASURE_WORKER)
    assert not any("secretsmanager:GetSecretValue" in str(statement["Action"]) for statement in statements)
    sending = {
        queue.id
        for queue in APPLICATION.queues
        if "sqs:SendMessage"
        in _actions_on(statements, _get_att(synthesized.logical_id(synthesized.stack.queues.queue(queue)), "Arn"))
    }
    assert sending == {"ErasureJobs", "TokenTimers"}


def test_the_worker_consumes_the_erasure_queue_which_outlasts_it_and_has_a_dlq(synthesized: Synthesized) -> None:
    properties = synthesized.resources[_erasure_queue_id(synthesized)]["Properties"]
    assert properties["VisibilityTimeout"] >= 6 * ERASURE_WORKER.timeout_seconds
    assert properties["RedrivePolicy"]["maxReceiveCount"] == 5
    worker_id = synthesized.logical_id(synthesized.stack.functions.function(ERASURE_WORKER))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": _get_att(_erasure_queue_id(synthesized), "Arn"),
            "FunctionName": _ref(worker_id),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 1,
        },
    )
    api_statements = _role_statements(synthesized, ADMIN_API)
    assert "sqs:SendMessage" in _actions_on(api_statements, _get_att(_erasure_queue_id(synthesized), "Arn"))
