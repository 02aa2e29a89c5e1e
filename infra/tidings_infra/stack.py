"""`TidingsStack`: the whole backend, built from the application declaration."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct
from pydantic import ValidationError

from tidings.app import APPLICATION
from tidings.chats.models import MAX_RETENTION_DAYS
from tidings.kernel.declaration import Application
from tidings.messaging.declaration import RetentionSettings
from tidings.sessions.provider_settings import parse_providers, providers_variable
from tidings_infra import names
from tidings_infra.buckets import BucketsConstruct
from tidings_infra.event_sources import EventSourcesConstruct
from tidings_infra.functions import FunctionsConstruct
from tidings_infra.http_api import HttpApiConstruct
from tidings_infra.layer import LayerConstruct
from tidings_infra.log_encryption import encrypt_log_groups
from tidings_infra.monitoring import MonitoringConstruct
from tidings_infra.queues import QueuesConstruct
from tidings_infra.search import SearchConstruct
from tidings_infra.secrets import SecretsConstruct
from tidings_infra.tables import TablesConstruct
from tidings_infra.web_client import add_web_client
from tidings_infra.websocket import ApiGatewayAccountConstruct, WebSocketConstruct

_REMOVAL_POLICIES = {"retain": RemovalPolicy.RETAIN, "destroy": RemovalPolicy.DESTROY}


class TidingsStack(Stack):
    """One stack, one construct per concern, every resource derived from `application`.

    Construction order is the dependency order: state (tables, queues, secrets), layers, the
    WebSocket API and stage, the functions (which need the stage's callback URL), then what
    invokes the functions (WebSocket routes, the HTTP API, event sources), and last what watches
    it all (alarms, the dashboard). The HTTP API exists only when the application declares HTTP
    routes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str = names.STACK_NAME,
        *,
        application: Application = APPLICATION,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=names.STACK_DESCRIPTION, **kwargs)
        _check_functions_declared(application)
        removal_policy = self._removal_policy()
        self.logs_key = encrypt_log_groups(self, names.LOGS_KEY_ID, removal_policy)

        self.tables = tables = TablesConstruct(
            self, names.TABLES_CONSTRUCT, tables=application.tables, removal_policy=removal_policy
        )
        self.queues = queues = QueuesConstruct(
            self,
            names.QUEUES_CONSTRUCT,
            queues=application.queues,
            failure_destinations={
                *(s.on_failure.id for s in application.stream_subscriptions),
                *(s.on_failure.id for s in application.bucket_subscriptions),
                *(s.on_failure.id for s in application.schedules),
            },
            removal_policy=removal_policy,
        )
        self.secrets = secrets = SecretsConstruct(
            self, names.SECRETS_CONSTRUCT, secrets=application.secrets, removal_policy=removal_policy
        )
        self.search = search = SearchConstruct(
            self, names.SEARCH_CONSTRUCT, indexes=application.search_indexes, removal_policy=removal_policy
        )
        self.buckets = buckets = BucketsConstruct(
            self, names.BUCKETS_CONSTRUCT, buckets=application.buckets, removal_policy=removal_policy
        )
        self.layers = layers = LayerConstruct(self, names.LAYER_CONSTRUCT)

        self.websocket = websocket = WebSocketConstruct(self, names.WEBSOCKET_CONSTRUCT, removal_policy=removal_policy)
        if self.node.try_get_context(names.CONTEXT_MANAGE_APIGW_ACCOUNT) not in (False, "false"):
            account = ApiGatewayAccountConstruct(self, names.API_GATEWAY_ACCOUNT_CONSTRUCT)
            websocket.stage.node.add_dependency(account)

        self.functions = functions = FunctionsConstruct(
            self,
            names.FUNCTIONS_CONSTRUCT,
            functions=application.functions,
            tables=tables,
            queues=queues,
            secrets=secrets,
            layers=layers,
            search=search,
            buckets=buckets,
            callback_stage=websocket.stage,
            async_invoked={
                *(s.function.id for s in application.schedules),
                *(s.function.id for s in application.bucket_subscriptions),
            },
            removal_policy=removal_policy,
            settings=self._deployment_settings(),
        )

        websocket.add_routes(
            routes=application.routes,
            mock_routes=application.mock_routes,
            authorizer=application.authorizer,
            function_for=functions.function,
        )
        self.http_api: HttpApiConstruct | None = None
        if application.http_routes:
            self.http_api = HttpApiConstruct(
                self,
                names.HTTP_API_CONSTRUCT,
                routes=application.http_routes,
                function_for=functions.function,
                removal_policy=removal_policy,
            )
        # The web client on S3 + CloudFront, with `-c tidings:webClient=true` only (web_client.py).
        self.web_client = add_web_client(
            self,
            websocket_url=websocket.url,
            http_api_url=self.http_api.url if self.http_api else None,
            removal_policy=removal_policy,
        )
        self.event_sources = EventSourcesConstruct(
            self,
            names.EVENT_SOURCES_CONSTRUCT,
            stream_subscriptions=application.stream_subscriptions,
            queue_subscriptions=application.queue_subscriptions,
            schedules=application.schedules,
            bucket_subscriptions=application.bucket_subscriptions,
            tables=tables,
            queues=queues,
            buckets=buckets,
            function_for=functions.function,
        )
        self.monitoring = monitoring = MonitoringConstruct(
            self,
            names.MONITORING_CONSTRUCT,
            application=application,
            function_for=functions.function,
            queues=queues,
            websocket_api=websocket.api,
            websocket_stage=websocket.stage,
            removal_policy=removal_policy,
        )

        CfnOutput(
            self,
            names.OUTPUT_WEBSOCKET_URL,
            value=websocket.url,
            description="WebSocket endpoint clients connect to (wss://…/prod)",
        )
        CfnOutput(
            self,
            names.OUTPUT_CALLBACK_URL,
            value=websocket.callback_url,
            description="@connections management endpoint (https://…/prod)",
        )
        if self.http_api is not None:
            CfnOutput(
                self,
                names.OUTPUT_HTTP_API_URL,
                value=self.http_api.url,
                description="HTTP API base URL (https://…/); REST paths such as api/chats go after it",
            )
            if self.http_api.invoke_policy is not None:
                CfnOutput(
                    self,
                    names.OUTPUT_ADMIN_API_URL,
                    value=f"{self.http_api.url}admin/",
                    description="Administration API (SigV4, execute-api:Invoke): users, sessions, export",
                )
                CfnOutput(
                    self,
                    names.OUTPUT_ADMIN_INVOKE_POLICY_ARN,
                    value=self.http_api.invoke_policy.managed_policy_arn,
                    description="Managed policy allowing the administration API: attach it to your backend's role",
                )
        # Where the data is, for operators and scripts (one output per declared table).
        for declared_table in application.tables:
            CfnOutput(
                self,
                f"{declared_table.id}{names.OUTPUT_TABLE_NAME_SUFFIX}",
                value=tables.table(declared_table).table_name,
                description=f"DynamoDB table of {declared_table.model.__name__} items",
            )
        for declared_bucket in application.buckets:
            CfnOutput(
                self,
                f"{declared_bucket.id}{names.OUTPUT_BUCKET_NAME_SUFFIX}",
                value=buckets.bucket(declared_bucket).bucket_name,
                description=f"S3 bucket {declared_bucket.id} (private: objects only through presigned URLs)",
            )
        # Every secret's ARN: the generated keys (what a token service signs with) and the ones
        # the operator fills in after deploying (README, "Deploy").
        for declared in application.secrets:
            if declared.placeholder is None:
                description = f"{declared.description}; generated at deploy time"
            else:
                description = f"aws secretsmanager put-secret-value --secret-id <this>: {declared.description}"
            CfnOutput(
                self,
                f"{declared.id}{names.OUTPUT_SECRET_ARN_SUFFIX}",
                value=secrets.secret(declared).secret_arn,
                description=description,
            )
        CfnOutput(
            self,
            names.OUTPUT_ALARM_TOPIC_ARN,
            value=monitoring.topic.topic_arn,
            description="SNS topic every alarm notifies (subscribe your on-call email, chat or pager to it)",
        )
        CfnOutput(
            self,
            names.OUTPUT_DASHBOARD_URL,
            value=monitoring.dashboard_url,
            description="CloudWatch dashboard of connections, delivery, search, lag, failures and push",
        )

    def _removal_policy(self) -> RemovalPolicy:
        value = str(self.node.try_get_context(names.CONTEXT_REMOVAL_POLICY) or "retain").lower()
        if value not in _REMOVAL_POLICIES:
            raise ValueError(f"{names.CONTEXT_REMOVAL_POLICY} must be one of {sorted(_REMOVAL_POLICIES)}")
        return _REMOVAL_POLICIES[value]

    def _deployment_settings(self) -> dict[str, str]:
        """Feature settings this deployment sets from context: the identity providers, the
        default retention."""
        return self._identity_providers() | self._retention()

    def _identity_providers(self) -> dict[str, str]:
        value = self.node.try_get_context(names.CONTEXT_IDENTITY_PROVIDERS)
        if value is None:
            return {}
        try:
            providers = parse_providers(value)
        except ValueError as exc:
            raise ValueError(f"{names.CONTEXT_IDENTITY_PROVIDERS}: {exc}") from None
        return {"IDENTITY_PROVIDERS": providers_variable(providers)} if providers else {}

    def _retention(self) -> dict[str, str]:
        value = self.node.try_get_context(names.CONTEXT_RETENTION_DAYS)
        if value is None:
            return {}
        try:
            settings = RetentionSettings.model_validate({"days": value})
        except ValidationError:
            raise ValueError(
                f"{names.CONTEXT_RETENTION_DAYS} must be a whole number of days from 0 to {MAX_RETENTION_DAYS}"
            ) from None
        return {RetentionSettings.variables()["days"]: str(settings.days)}


def _check_functions_declared(application: Application) -> None:
    """Every function a route, the authorizer, a subscription or a schedule names must be in
    `application.functions`, which is what gets built."""
    declared = {f.id for f in application.functions}
    used = {
        application.authorizer.function.id,
        *(r.function.id for r in application.routes),
        *(r.function.id for r in application.http_routes),
        *(s.function.id for s in application.stream_subscriptions),
        *(s.function.id for s in application.queue_subscriptions),
        *(s.function.id for s in application.schedules),
    }
    missing = sorted(used - declared)
    if missing:
        raise ValueError(f"functions used but not listed in Application.functions: {missing}")
