"""CDK assertions for push: the job queue and its DLQ, the worker's subscription, the secrets
the operator fills in, the grants, and the worker's dependencies in our layer."""

from __future__ import annotations

import importlib.metadata
import re

from tests.infrastructure.synthesis import Synthesized
from tests.infrastructure.test_stack import _actions_on, _get_att, _ref, _role_statements
from tidings.messaging.declaration import DELIVERY
from tidings.notifications.declaration import (
    NOTIFY_RETRY,
    PUSH_API,
    PUSH_APNS,
    PUSH_FCM,
    PUSH_JOBS,
    PUSH_VAPID,
    PUSH_WORKER,
)
from tidings.notifications.models import PUSH_SUBSCRIPTIONS
from tidings.sessions.declaration import JWT_SIGNING_KEY
from tidings_infra import names

PUSH_SECRETS = (PUSH_VAPID, PUSH_FCM, PUSH_APNS)


def _queue_id(synthesized: Synthesized) -> str:
    return synthesized.logical_id(synthesized.stack.queues.queue(PUSH_JOBS))


def test_the_push_queue_has_a_dead_letter_queue_and_outlasts_the_worker(synthesized: Synthesized) -> None:
    properties = synthesized.resources[_queue_id(synthesized)]["Properties"]
    assert properties["RedrivePolicy"]["maxReceiveCount"] == 3
    dlq_id = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[dlq_id]["Type"] == "AWS::SQS::Queue"
    assert synthesized.resources[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    # SQS event sources need visibility >= the function timeout, or a slow batch is redelivered.
    assert properties["VisibilityTimeout"] >= 6 * PUSH_WORKER.timeout_seconds


def test_the_worker_consumes_the_push_queue_with_partial_batch_failures(synthesized: Synthesized) -> None:
    worker_id = synthesized.logical_id(synthesized.stack.functions.function(PUSH_WORKER))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": _get_att(_queue_id(synthesized), "Arn"),
            "FunctionName": _ref(worker_id),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_the_notifying_functions_and_the_worker_may_send_push_jobs(synthesized: Synthesized) -> None:
    queue_arn = _get_att(_queue_id(synthesized), "Arn")
    for notifying in (DELIVERY, NOTIFY_RETRY):
        assert "sqs:SendMessage" in _actions_on(_role_statements(synthesized, notifying), queue_arn), notifying.id
    assert "sqs:SendMessage" in _actions_on(_role_statements(synthesized, PUSH_WORKER), queue_arn)  # retries
    assert "sqs:SendMessage" not in _actions_on(_role_statements(synthesized, PUSH_API), queue_arn)


def test_push_functions_get_the_subscriptions_table_and_the_queue_url(synthesized: Synthesized) -> None:
    for declared in (PUSH_API, PUSH_WORKER):
        variables = synthesized.resources[synthesized.logical_id(synthesized.stack.functions.function(declared))][
            "Properties"
        ]["Environment"]["Variables"]
        assert PUSH_SUBSCRIPTIONS.env_var in variables
    worker = synthesized.resources[synthesized.logical_id(synthesized.stack.functions.function(PUSH_WORKER))]
    variables = worker["Properties"]["Environment"]["Variables"]
    assert {PUSH_JOBS.env_var, PUSH_VAPID.env_var, PUSH_FCM.env_var, PUSH_APNS.env_var} <= set(variables)
    assert "PUSH_ALLOW_LOOPBACK_HTTP" not in variables, "Web Push endpoints are https-only on AWS"


def test_push_secrets_start_as_the_unconfigured_placeholder(synthesized: Synthesized) -> None:
    for declared in PUSH_SECRETS:
        properties = synthesized.resources[synthesized.logical_id(synthesized.stack.secrets.secret(declared))][
            "Properties"
        ]
        assert properties["SecretString"] == "{}"
        assert "GenerateSecretString" not in properties
    jwt = synthesized.resources[synthesized.logical_id(synthesized.stack.secrets.secret(JWT_SIGNING_KEY))]
    assert "GenerateSecretString" in jwt["Properties"]


def test_the_api_reads_only_the_vapid_secret_and_the_worker_all_three(synthesized: Synthesized) -> None:
    def readable(function) -> set[str]:
        statements = _role_statements(synthesized, function)
        return {
            secret.id
            for secret in PUSH_SECRETS
            if "secretsmanager:GetSecretValue"
            in _actions_on(statements, _ref(synthesized.logical_id(synthesized.stack.secrets.secret(secret))))
        }

    assert readable(PUSH_API) == {PUSH_VAPID.id}
    assert readable(PUSH_WORKER) == {PUSH_VAPID.id, PUSH_FCM.id, PUSH_APNS.id}
    assert readable(DELIVERY) == readable(NOTIFY_RETRY) == set()


# What the Lambda runtime (boto3 and its dependencies) and the Powertools layer (pydantic and
# its dependencies) already provide.
_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "typing-extensions", "pydantic"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_requirements(distribution: str, extras: frozenset[str] = frozenset()) -> set[str]:
    found: set[str] = set()
    for requirement in importlib.metadata.requires(distribution) or []:
        name, _, marker = requirement.partition(";")
        if "extra ==" in marker and not any(f'extra == "{extra}"' in marker for extra in extras):
            continue
        if "python_version < " in marker or "platform_python_implementation == 'PyPy'" in marker:
            continue
        found.add(_normalized(re.split(r"[\s\[<>=!~(]", name.strip(), maxsplit=1)[0]))
    return found


def test_the_layer_carries_the_push_workers_whole_dependency_closure() -> None:
    wanted, seen = {"pywebpush", "httpx", "h2"}, set()
    while wanted:
        name = wanted.pop()
        if name in seen or name in _PROVIDED:
            continue
        seen.add(name)
        wanted |= _runtime_requirements(name)
    missing = seen - {_normalized(name) for name in names.LAYER_DISTRIBUTIONS}
    assert not missing, f"add to names.LAYER_DISTRIBUTIONS: {sorted(missing)}"


# --- compiled dependencies must run on Lambda's glibc ----------------------------------------


class _Wheel:
    def __init__(self, *tags: str) -> None:
        self._wheel = "Wheel-Version: 1.0\n" + "".join(f"Tag: {tag}\n" for tag in tags)

    def read_text(self, name: str) -> str | None:
        return self._wheel if name == "WHEEL" else None


def test_a_wheel_runs_on_lambda_when_pure_or_built_for_glibc_2_26_or_older() -> None:
    from tidings_infra.lambda_wheels import runs_on_lambda

    assert runs_on_lambda(_Wheel("py3-none-any"))
    assert runs_on_lambda(_Wheel("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"))
    assert runs_on_lambda(_Wheel("cp311-cp311-manylinux1_x86_64"))
    assert not runs_on_lambda(_Wheel("cp311-abi3-manylinux_2_34_x86_64"))
    assert not runs_on_lambda(_Wheel("cp311-abi3-manylinux_2_28_x86_64"))
    assert not runs_on_lambda(_Wheel("cp311-cp311-linux_x86_64"))
    assert not runs_on_lambda(_Wheel("cp311-cp311-manylinux_2_17_aarch64"))


def test_every_compiled_file_in_the_built_layer_comes_from_a_wheel_lambda_can_load(synthesized: Synthesized) -> None:
    from email.parser import Parser

    from tidings_infra.lambda_wheels import LAMBDA_GLIBC, _tag_glibc
    from tidings_infra.layer_build import build_layer

    site = build_layer() / "python"
    for info in site.glob("*.dist-info"):
        tags = Parser().parsestr((info / "WHEEL").read_text()).get_all("Tag") or []
        platforms = {tag.rsplit("-", 1)[-1] for tag in tags}
        if platforms == {"any"}:
            continue
        glibcs = [g for g in (_tag_glibc(p) for p in platforms) if g is not None]
        assert glibcs and min(glibcs) <= LAMBDA_GLIBC, f"{info.name} needs glibc {min(glibcs, default=None)}"


def test_the_stack_outputs_where_the_operator_puts_each_push_secret(synthesized: Synthesized) -> None:
    outputs = synthesized.template.find_outputs("*")
    for declared in PUSH_SECRETS:
        secret_id = synthesized.logical_id(synthesized.stack.secrets.secret(declared))
        assert outputs[f"{declared.id}SecretArn"]["Value"] == _ref(secret_id)
        assert "put-secret-value" in outputs[f"{declared.id}SecretArn"]["Description"]
    # The generated signing key is output too, but it is not one the operator fills in.
    assert "put-secret-value" not in outputs[f"{JWT_SIGNING_KEY.id}SecretArn"]["Description"]
