"""Every name and fixed setting of the CDK app, in one place.

What the application *is* (tables, functions, routes, streams, queues, secrets) is declared in
`tidings.app.APPLICATION`; this module holds only the deployment-side names and knobs that the
declaration has no business knowing (stack and stage names, runtime, log retention, layer paths).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch

# CORS of the HTTP API (browsers call it cross-origin from the web client), shared with the
# local runtime the same way: `tidings_infra.cors`.
from tidings_infra.cors import (  # noqa: F401
    CONTEXT_CORS_ALLOWED_ORIGINS,
    CORS_ALLOWED_HEADERS,
    CORS_ALLOWED_METHODS,
    CORS_DEFAULT_ALLOWED_ORIGINS,
    CORS_EXPOSED_HEADERS,
    CORS_MAX_AGE_SECONDS,
)

# The settings the local runtime shares, re-exported: they live in a module without CDK imports.
from tidings_infra.packaging import COMMON_ENVIRONMENT, LAYER_DISTRIBUTIONS  # noqa: F401

# --- paths (absolute, so the app synthesizes the same from any working directory) ----------

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
CORE_PACKAGE_DIR = REPO_ROOT / "layers" / "tidings-core" / "tidings"
# Where our layer is built, as `layer-<content hash>/` (gitignored, `staging.stage`). Lambda puts
# `python/` of a layer on sys.path.
LAYER_BUILD_DIR = REPO_ROOT / "build" / "layer"
# Where the functions' assets are built, as `<folder>-<content hash>/`, one a folder of
# `FUNCTIONS_DIR` (gitignored).
FUNCTION_BUILD_DIR = REPO_ROOT / "build" / "functions"
# --- stack, stage and constructs ---------------------------------------------------------

STACK_NAME = "TidingsStack"
STACK_DESCRIPTION = "Tidings real-time messaging backend (API Gateway WebSocket, Lambda, DynamoDB)"
STAGE_NAME = "prod"

TABLES_CONSTRUCT = "Tables"
QUEUES_CONSTRUCT = "Queues"
SECRETS_CONSTRUCT = "Secrets"
LAYER_CONSTRUCT = "Layers"
FUNCTIONS_CONSTRUCT = "Functions"
WEBSOCKET_CONSTRUCT = "WebSocket"
EVENT_SOURCES_CONSTRUCT = "EventSources"
HTTP_API_CONSTRUCT = "HttpApi"
API_GATEWAY_ACCOUNT_CONSTRUCT = "ApiGatewayAccount"
SEARCH_CONSTRUCT = "Search"
BUCKETS_CONSTRUCT = "Buckets"
MONITORING_CONSTRUCT = "Monitoring"
LOGS_KEY_ID = "LogsKey"

WEBSOCKET_API_ID = "Api"
WEBSOCKET_STAGE_ID = "Stage"
AUTHORIZER_ID = "ConnectAuthorizer"
ROUTE_SELECTION_EXPRESSION = "$request.body.type"

HTTP_API_ID = "Api"
HTTP_STAGE_ID = "Stage"
# The HTTP API's `$default` stage serves at the root of its URL, so a request's path is exactly
# the declared route path (`/api/chats`), which is what the Powertools resolvers in the
# handlers match on (a named stage would prefix every rawPath with `/<stage>`).
HTTP_STAGE_NAME = "$default"

OUTPUT_WEBSOCKET_URL = "WebSocketUrl"
OUTPUT_CALLBACK_URL = "CallbackUrl"
OUTPUT_HTTP_API_URL = "HttpApiUrl"
OUTPUT_ADMIN_API_URL = "AdminApiUrl"
OUTPUT_ADMIN_INVOKE_POLICY_ARN = "AdminInvokePolicyArn"
# The managed policy allowing `execute-api:Invoke` on exactly the IAM-authorized routes.
ADMIN_INVOKE_POLICY_ID = "AdminInvokePolicy"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_DASHBOARD_URL = "DashboardUrl"
OUTPUT_TABLE_NAME_SUFFIX = "TableName"  # <table id>TableName, one per declared table
OUTPUT_SECRET_ARN_SUFFIX = "SecretArn"  # <secret id>SecretArn, one per declared secret
OUTPUT_BUCKET_NAME_SUFFIX = "BucketName"  # <bucket id>BucketName, one per declared bucket

# --- Lambda ------------------------------------------------------------------------------

# Python 3.11 matches the interpreter the project is developed and tested on (pyproject
# requires-python, .venv) and the Powertools layer variant below.
RUNTIME = lambda_.Runtime.PYTHON_3_11
ARCHITECTURE = lambda_.Architecture.X86_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# --- the AWS-managed Powertools layer ----------------------------------------------------

# Powertools publishes its layer ARNs as public SSM parameters
#   /aws/service/powertools/python/{arch}/{python_version}/{version | latest}
# (Powertools docs, "Lambda Layer" -> "Using SSM Parameter Store"). We pin the version that
# tidings-core pins (layers/tidings-core/pyproject.toml; a test keeps the two equal) rather than
# `latest`, so what runs on Lambda is what the tests ran against and upgrades show up in a diff.
# CloudFormation resolves it per region at deploy time; if a region lacks the parameter for this
# version (it has happened: powertools-lambda-python#7689), the deploy fails with
# ParameterNotFound rather than running an untested layer.
POWERTOOLS_VERSION = "3.37.0"
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{POWERTOOLS_VERSION}"

# --- search (OpenSearch Service) ----------------------------------------------------------

SEARCH_ENGINE_VERSION = opensearch.EngineVersion.OPENSEARCH_2_19
# One small node: the index is derived and rebuildable (docs/architecture.md "Search").
SEARCH_DATA_NODES = 1
SEARCH_INSTANCE_TYPE = "t3.medium.search"  # the smallest type with encryption at rest
SEARCH_VOLUME_GB = 20

# --- API Gateway -------------------------------------------------------------------------

# Stage-wide default route throttling (steady requests per second, burst). Per-user limits
# are the application's token buckets; this protects the account-level quota and the backends.
THROTTLE_RATE_LIMIT = 500
THROTTLE_BURST_LIMIT = 1000
# The same for the HTTP API's stage (REST calls are far rarer than WebSocket frames).
HTTP_THROTTLE_RATE_LIMIT = 100
HTTP_THROTTLE_BURST_LIMIT = 200


# --- context keys (cdk.json or `cdk synth -c key=value`) ---------------------------------

# "retain" (default) keeps tables, queues and secrets when the stack is deleted; "destroy"
# is for throwaway dev stacks.
CONTEXT_REMOVAL_POLICY = "tidings:removalPolicy"
# API Gateway writes WebSocket logs through an account-wide CloudWatch role. Set this to
# false when the account already has one that something else manages.
CONTEXT_MANAGE_APIGW_ACCOUNT = "tidings:manageApiGatewayAccount"
# The origins browsers may call the HTTP API from (`CONTEXT_CORS_ALLOWED_ORIGINS`, above): a
# list in cdk.json, or a comma-separated string on the command line
# (`-c tidings:corsAllowedOrigins=https://app.example.com`). Default: any origin ("*").
# The platform's OpenID Connect providers whose tokens Tidings accepts beside its own: a list of
# {issuer, audience, jwksUrl, userIdClaim?, algorithms?, justInTimeProvisioning?} in cdk.json,
# or that list as a JSON string on the command line. Default: none (Tidings' own tokens only).
CONTEXT_IDENTITY_PROVIDERS = "tidings:identityProviders"
# Days a message is kept in a chat that sets no `retentionDays` of its own; the hourly
# retention sweep deletes older ones (`-c tidings:retentionDays=365`). Default: 0, forever.
CONTEXT_RETENTION_DAYS = "tidings:retentionDays"
