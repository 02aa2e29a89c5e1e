"""Lambda functions: one per declared `Function`, each with its own least-privilege role."""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from tidings.kernel.declaration import (
    BUCKET_ACTIONS,
    TABLE_ACTIONS,
    Access,
    Bucket,
    Function,
    Queue,
    SearchIndex,
    Secret,
    Table,
)
from tidings_infra import names
from tidings_infra.buckets import BucketsConstruct
from tidings_infra.bytecode import LAMBDA_TASK_ROOT, compile_bytecode
from tidings_infra.layer import LayerConstruct
from tidings_infra.nag import acknowledge, acknowledge_wildcard_resource
from tidings_infra.packaging import deployment_settings, lambda_environment
from tidings_infra.queues import QueuesConstruct
from tidings_infra.search import SearchConstruct
from tidings_infra.secrets import SecretsConstruct
from tidings_infra.staging import stage
from tidings_infra.tables import TablesConstruct, model_indexes

# Kept out of the function bundles: caches, and anything that is not handler code.
_ASSET_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", "tests"}


def build_function_code(code_dir: Path, output_dir: Path) -> Path:
    """A function folder's asset, staged beside `output_dir` (`staging.stage`): its modules,
    with their bytecode."""

    def fill(staging: Path, previous: Path | None) -> None:
        for source in sorted(code_dir.rglob("*")):
            relative = source.relative_to(code_dir)
            if source.is_file() and source.suffix != ".pyc" and not _ASSET_SKIPPED_PARTS.intersection(relative.parts):
                (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, staging / relative)
        compile_bytecode(staging, LAMBDA_TASK_ROOT, previous=previous)

    return stage(output_dir, fill)


def _grant_table(table: dynamodb.Table, access: Access, grantee: iam.IGrantable) -> None:
    """Grants on the table and its indexes (Table.grant covers both)."""
    table.grant(grantee, *TABLE_ACTIONS[access])


class FunctionsConstruct(Construct):
    """Builds every declared function with: the Python 3.11 runtime on x86_64, its domain folder
    as code, both layers, active X-Ray tracing, its own log group with a retention, and
    environment variables for exactly the tables, secrets and queues it was declared with.

    Each function has its own IAM role, with only what it was declared with: table data access
    by `Access`, the declared S3 object actions on its buckets' objects (`BUCKET_ACTIONS`),
    `secretsmanager:GetSecretValue` on its secrets, `sqs:SendMessage` on its send
    queues, and `execute-api:ManageConnections` on this stage's `@connections/*` when it
    `manages_connections`. There is no AWS managed policy: logging is granted on its own log
    group only.

    `callback_stage` is the WebSocket stage the connection-managing functions post to. The
    stage and its API are created before the functions and the routes after them, so the
    dependency runs one way (functions -> API/stage, routes -> functions) and there is no cycle.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[Function],
        tables: TablesConstruct,
        queues: QueuesConstruct,
        secrets: SecretsConstruct,
        layers: LayerConstruct,
        search: SearchConstruct,
        buckets: BucketsConstruct,
        callback_stage: apigwv2.WebSocketStage,
        async_invoked: Collection[str],
        removal_policy: RemovalPolicy,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = dict(settings or {})
        self._staged_code: dict[str, Path] = {}
        self._tables = tables
        self._queues = queues
        self._secrets = secrets
        self._layers = layers
        self._search = search
        self._buckets = buckets
        self._callback_stage = callback_stage
        self._removal_policy = removal_policy
        self.functions: dict[str, lambda_.Function] = {}
        for declared in functions:
            self.functions[declared.id] = self._function(declared, declared.id in async_invoked)

    def function(self, declared: Function) -> lambda_.Function:
        return self.functions[declared.id]

    def _environment(self, declared: Function) -> dict[str, str]:
        """The declaration's variables, named by this stack, and the Powertools settings every
        function gets (`packaging.lambda_environment`, which `tidings dev` uses too), with the
        deployment's values of the feature settings it declared (`settings`, from context)."""
        return lambda_environment(declared, _StackNames(self)) | deployment_settings(declared, self._settings)

    def _code(self, domain: str, code_dir: Path) -> Path:
        """One staged asset a folder, built once a synth however many functions share it."""
        if domain not in self._staged_code:
            self._staged_code[domain] = build_function_code(code_dir, names.FUNCTION_BUILD_DIR / domain)
        return self._staged_code[domain]

    def _function(self, declared: Function, is_async_invoked: bool) -> lambda_.Function:
        code_dir = names.FUNCTIONS_DIR / declared.domain
        if not code_dir.is_dir():
            raise FileNotFoundError(f"function {declared.id}: code folder {code_dir} does not exist")

        role = iam.Role(
            self,
            f"{declared.id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Tidings {declared.id} function",
        )
        log_group = logs.LogGroup(
            self,
            f"{declared.id}Logs",
            retention=names.LOG_RETENTION,
            removal_policy=self._removal_policy,
        )
        log_group.grant_write(role)

        function = lambda_.Function(
            self,
            declared.id,
            description=declared.description,
            runtime=names.RUNTIME,
            architecture=names.ARCHITECTURE,
            code=lambda_.Code.from_asset(str(self._code(declared.domain, code_dir))),
            handler=declared.handler,
            layers=self._layers.layers,
            memory_size=declared.memory_mb,
            timeout=Duration.seconds(declared.timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            environment=self._environment(declared),
        )
        self._grant(declared, role)
        self._acknowledge(declared, function, role, is_async_invoked)
        return function

    def _grant(self, declared: Function, role: iam.Role) -> None:
        for table, access in declared.tables:
            _grant_table(self._tables.table(table), access, role)
        for secret in declared.secrets:
            self._secrets.secret(secret).grant_read(role)
        for queue in declared.send_queues:
            self._queues.queue(queue).grant_send_messages(role)
        if declared.manages_connections:
            self._callback_stage.grant_management_api_access(role)
        for index, access in declared.search:
            self._search.grant(index, access, role)
        for bucket, accesses in declared.buckets:
            actions = [action for access in accesses for action in BUCKET_ACTIONS[access]]
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=actions, resources=[self._buckets.bucket(bucket).arn_for_objects("*")])
            )

    def _acknowledge(
        self, declared: Function, function: lambda_.Function, role: iam.Role, is_async_invoked: bool
    ) -> None:
        acknowledge(
            function,
            f"Runtime pinned to {names.RUNTIME.name}: it is the interpreter the project is developed and "
            "tested on (pyproject requires-python, the dev venv) and the AWS Powertools layer "
            "variant we pin. Moving runtimes is a deliberate, tested upgrade of all three.",
            "AwsSolutions-L1",
            "Serverless-LambdaLatestVersion",
        )
        if not is_async_invoked:
            acknowledge(
                function,
                "A dead-letter queue only applies to asynchronous invocations. This function is "
                "invoked synchronously, by API Gateway (the caller sees the error) or by an event "
                "source mapping (which has its own on-failure destination).",
                "Serverless-LambdaDLQ",
            )
        acknowledge_wildcard_resource(
            role,
            "*",
            "X-Ray's PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level "
            "permissions, and DynamoDB's ListStreams (stream consumers) applies to the account.",
        )
        for table, _ in declared.tables:
            if model_indexes(table.model):
                acknowledge_wildcard_resource(
                    role,
                    f"{self._tables.table(table).table_arn}/index/*",
                    f"Query access to the indexes of {table.id} (index/* under that one table's ARN): "
                    "the indexes are how handlers find items without a Scan.",
                )
        for bucket, _ in declared.buckets:
            acknowledge_wildcard_resource(
                role,
                self._buckets.bucket(bucket).arn_for_objects("*"),
                f"Object actions on the objects of {bucket.id} only: object keys are made per upload at "
                "run time, so the grant cannot name them. The actions are exactly the declared ones.",
            )
        if declared.manages_connections:
            stage = self._callback_stage
            api_arn = Stack.of(self).format_arn(service="execute-api", resource=stage.api.api_id)
            acknowledge_wildcard_resource(
                role,
                f"{api_arn}/{stage.stage_name}/*/@connections/*",
                "execute-api:ManageConnections on this API's own stage only; connection ids exist only "
                "at runtime, so @connections/* cannot be narrowed further.",
            )


class _StackNames:
    """The declared resources as this stack names them (CloudFormation references)."""

    def __init__(self, functions: FunctionsConstruct) -> None:
        self._functions = functions

    def table_name(self, table: Table) -> str:
        return self._functions._tables.table(table).table_name

    def queue_url(self, queue: Queue) -> str:
        return self._functions._queues.queue(queue).queue_url

    def secret_arn(self, secret: Secret) -> str:
        return self._functions._secrets.secret(secret).secret_arn

    def callback_url(self) -> str:
        return self._functions._callback_stage.callback_url

    def search_endpoint(self, index: SearchIndex) -> str:
        return self._functions._search.endpoint(index)

    def bucket_name(self, bucket: Bucket) -> str:
        return self._functions._buckets.bucket(bucket).bucket_name
