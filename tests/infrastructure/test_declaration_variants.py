"""The parts of the declaration vocabulary that `APPLICATION` does not use yet (SQS consumers,
schedules, DLQs, delay queues, send queues, several stream event names) and the context flags,
on a small synthetic application, so they work the day someone declares them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure import monitoring_assertions
from tidings.kernel.declaration import (
    Application,
    Authorizer,
    Function,
    Queue,
    QueueSubscription,
    Route,
    Schedule,
    StreamSubscription,
)
from tidings.messaging.models import MESSAGES
from tidings.sessions.models import CONNECTIONS
from tidings_infra import names
from tidings_infra.app import build_app
from tidings_infra.layer_build import build_layer

WORK = Queue("Work", delay_seconds=5, visibility_timeout_seconds=60, dead_letter_after=3)
FAILURES = Queue("Failures")
PRODUCER = Function(
    "Producer", "sessions", "connect.handler", "sends work", tables=((CONNECTIONS, "read"),), send_queues=(WORK,)
)
WORKER = Function("Worker", "messaging", "fanout.handler", "consumes work", timeout_seconds=30)
TICKER = Function("Ticker", "messaging", "send.handler", "runs every two minutes")
VARIANT = Application(
    name="Variant",
    tables=(CONNECTIONS, MESSAGES),
    functions=(PRODUCER, WORKER, TICKER),
    authorizer=Authorizer(PRODUCER),
    routes=(Route("$connect", PRODUCER, two_way=False), Route("work.do", PRODUCER)),
    stream_subscriptions=(StreamSubscription(MESSAGES, WORKER, on_failure=FAILURES, event_names=("INSERT", "MODIFY")),),
    queues=(WORK, FAILURES),
    queue_subscriptions=(QueueSubscription(WORK, WORKER, batch_size=5, max_batching_window_seconds=2),),
    schedules=(Schedule("Tick", TICKER, rate_seconds=120, on_failure=FAILURES),),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app, stack = build_app(
        application=VARIANT,
        context={names.CONTEXT_REMOVAL_POLICY: "destroy", names.CONTEXT_MANAGE_APIGW_ACCOUNT: "false"},
        nag=False,
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
    )
    yield json.loads(json.dumps(app.synth().get_stack_artifact(stack.artifact_id).template))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template["Resources"])


def _of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in resources.values() if r["Type"] == resource_type]


def test_queue_consumers_report_partial_batch_failures(resources: dict[str, dict[str, Any]]) -> None:
    (sqs_mapping,) = [
        m["Properties"]
        for m in _of_type(resources, "AWS::Lambda::EventSourceMapping")
        if "StartingPosition" not in m["Properties"]
    ]
    assert sqs_mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs_mapping["BatchSize"] == 5
    assert sqs_mapping["MaximumBatchingWindowInSeconds"] == 2


def test_stream_filter_passes_every_declared_event_name(resources: dict[str, dict[str, Any]]) -> None:
    (stream_mapping,) = [
        m["Properties"]
        for m in _of_type(resources, "AWS::Lambda::EventSourceMapping")
        if "StartingPosition" in m["Properties"]
    ]
    (pattern,) = stream_mapping["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {"eventName": ["INSERT", "MODIFY"]}


def test_queues_get_their_delay_and_dead_letter_queue(resources: dict[str, dict[str, Any]]) -> None:
    queues = _of_type(resources, "AWS::SQS::Queue")
    assert len(queues) == 3  # Work, its DLQ, Failures
    (work,) = [q["Properties"] for q in queues if "RedrivePolicy" in q["Properties"]]
    assert work["DelaySeconds"] == 5
    assert work["VisibilityTimeout"] == 60
    assert work["RedrivePolicy"]["maxReceiveCount"] == 3


def test_senders_get_the_queue_url_and_send_permission(resources: dict[str, dict[str, Any]]) -> None:
    (producer,) = [
        f["Properties"]
        for f in _of_type(resources, "AWS::Lambda::Function")
        if f["Properties"]["Description"] == PRODUCER.description
    ]
    assert "Ref" in producer["Environment"]["Variables"][WORK.env_var]
    actions = {
        action
        for policy in _of_type(resources, "AWS::IAM::Policy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }
    assert "sqs:SendMessage" in actions


def test_schedules_become_eventbridge_rules(resources: dict[str, dict[str, Any]]) -> None:
    (rule,) = _of_type(resources, "AWS::Events::Rule")
    assert rule["Properties"]["ScheduleExpression"] == "rate(2 minutes)"
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_removal_policy_and_account_flags_apply(resources: dict[str, dict[str, Any]]) -> None:
    for table in _of_type(resources, "AWS::DynamoDB::Table"):
        assert table["DeletionPolicy"] == "Delete"
    assert not _of_type(resources, "AWS::ApiGateway::Account")


def test_no_http_routes_means_no_http_api(template: dict[str, Any]) -> None:
    assert not VARIANT.http_routes
    apis = _of_type(template["Resources"], "AWS::ApiGatewayV2::Api")
    assert [a["Properties"]["ProtocolType"] for a in apis] == ["WEBSOCKET"]
    assert len(_of_type(template["Resources"], "AWS::ApiGatewayV2::Stage")) == 1
    assert names.OUTPUT_HTTP_API_URL not in template["Outputs"]


def test_layer_build_copies_sources_and_distributions_without_caches(tmp_path: Path) -> None:
    package = tmp_path / "src" / "tidings"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    output = tmp_path / "layer"
    (tmp_path / "layer-0ld" / "python" / "stale").mkdir(parents=True)  # an earlier build

    site = build_layer(output, package, ("pynamodb", "PyJWT")) / "python"
    assert site.parent.name.startswith("layer-") and site.parent.name != "layer-0ld"
    assert (site / "tidings" / "__init__.py").is_file()
    assert (site / "pynamodb" / "models.py").is_file()
    assert (site / "jwt" / "api_jwt.py").is_file()
    assert not (site / "stale").exists()
    assert not (site / "tidings" / "__pycache__" / "x.cpython-311.pyc").exists(), "the source tree's caches stay out"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".layer")] == []


def test_a_changed_source_is_a_new_build_beside_the_last_which_stays_readable(tmp_path: Path) -> None:
    """Parallel synths: one may still be copying the build another has just replaced."""
    package = tmp_path / "src" / "tidings"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    output = tmp_path / "layer"
    first = build_layer(output, package, ())
    assert build_layer(output, package, ()) == first, "the same content, the same build"
    (package / "__init__.py").write_text("CHANGED = True\n")
    second = build_layer(output, package, ())
    assert second != first
    assert (first / "python" / "tidings" / "__init__.py").read_text() == ""
    assert (second / "python" / "tidings" / "__init__.py").read_text() == "CHANGED = True\n"
    for generation in range(5):
        (package / "__init__.py").write_text(f"GENERATION = {generation}\n")
        build_layer(output, package, ())
    assert len(list(tmp_path.glob("layer-*"))) == 3, "old builds are pruned"


def test_the_layer_ships_bytecode_python_loads_without_reading_the_sources(tmp_path: Path) -> None:
    """Lambda's /opt is read-only: without shipped `.pyc` files every cold start compiles every
    module. Each module gets unchecked-hash bytecode, the same bytes
    on every build (the asset hash must not change when nothing did), and Python uses it as is."""
    package = tmp_path / "src" / "tidings"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "answer.py").write_text("VALUE = 42\n")
    output = tmp_path / "layer"
    site = build_layer(output, package, ("PyJWT",)) / "python"

    sources = sorted(site.rglob("*.py"))
    assert sources
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        header = cached.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        assert header[4:8] == (1).to_bytes(4, "little"), f"{source}: not unchecked-hash bytecode"
        assert header[8:] == importlib.util.source_hash(source.read_bytes()), source
    first = {p: p.read_bytes() for p in site.rglob("*.pyc")}
    assert {p: p.read_bytes() for p in build_layer(output, package, ("PyJWT",)).rglob("*.pyc")} == first

    # A source changed after the build is not even read: the shipped bytecode is what runs.
    (site / "tidings" / "answer.py").write_text("VALUE = 0\n")
    result = subprocess.run(
        [sys.executable, "-B", "-c", "import tidings.answer as a; print(a.VALUE)"],
        env={"PYTHONPATH": str(site), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["42"]


def test_unacknowledged_nag_findings_fail_the_synth(tmp_path: Path) -> None:
    """cdk-nag really gates the synth: a queue added without TLS enforcement, and acknowledged by
    nothing, fails it; the variant's SQS consumer without an on-failure destination does not,
    because that finding is acknowledged (its queue has a DLQ), and neither does its schedule,
    whose target and function park failures in the declared on-failure queue."""
    from aws_cdk import aws_sqs as sqs

    app, stack = build_app(
        application=VARIANT, context={names.CONTEXT_MANAGE_APIGW_ACCOUNT: "false"}, outdir=str(tmp_path)
    )
    sqs.Queue(stack, "Unguarded", encryption=sqs.QueueEncryption.SQS_MANAGED)
    with pytest.raises(Exception, match=r"Validation ?[Ff]ailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}
    assert "AwsSolutions-SQS4" in rules
    assert "Serverless-LambdaEventSourceMappingDestination" not in rules
    assert "Serverless-EventBusDLQ" not in rules
    assert "Serverless-LambdaDLQ" not in rules


def test_a_new_queue_consumer_and_function_get_their_alarms(resources: dict[str, dict[str, Any]]) -> None:
    """Alarms follow the declaration: the variant's DLQ, failure queue, consumer and functions."""
    monitoring_assertions.assert_alarms_cover(VARIANT, resources)
    assert monitoring_assertions.failure_queue_names(VARIANT) == {"WorkDlq", "Failures"}
