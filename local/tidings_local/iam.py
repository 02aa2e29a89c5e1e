"""IAM, locally: each function's role allows exactly what the CDK app grants it.

Every function's workers sign their AWS calls with their own access key (`Role.credentials`),
so the service side knows the caller, as AWS does. `Policies.role_for_key` finds the role, and
`Role.allows(action, resource)` evaluates it. The statements come from the declaration, built
the way `infra/tidings_infra/functions.py` and its event sources grant them:

- a table access level: `TABLE_ACTIONS[access]` on the table and its indexes (no Scan, ever);
- each stream it is subscribed to: `dynamodb:DescribeStream`, `GetRecords`, `GetShardIterator`
  on the stream, `ListStreams` on `*` (`grantStreamRead`), and `sqs:SendMessage` (with
  `GetQueueAttributes`, `GetQueueUrl`) on the subscription's on-failure queue;
- each queue it consumes: `sqs:ReceiveMessage`, `ChangeMessageVisibility`, `GetQueueUrl`,
  `DeleteMessage`, `GetQueueAttributes` (`grantConsumeMessages`);
- each queue it sends to: `sqs:SendMessage`, `GetQueueAttributes`, `GetQueueUrl`
  (`grantSendMessages`);
- each secret: `secretsmanager:GetSecretValue`, `DescribeSecret` (`grantRead`);
- `manages_connections`: `execute-api:ManageConnections` on this stage's `*/@connections/*`;
- each bucket: `BUCKET_ACTIONS[access]` for each declared access, on the bucket's objects
  (`arn:aws:s3:::<bucket>/*`). A presigned URL is the signer's request: it is authorized as
  the function that signed it (the access key in its `X-Amz-Credential`).

`requested(service, operation, body)` says which actions on which resources one request needs,
as IAM evaluates it (a `TransactWriteItems` needs `PutItem`, `UpdateItem`, `DeleteItem` or
`ConditionCheckItem` on each item's table; a `Query` on an index needs it on the index), and
`access_denied` answers a refusal in the service's own error format, with AWS's message:
"User: arn:aws:sts::…:assumed-role/…/Tidings-Delivery is not authorized to perform: dynamodb:Scan
on resource: arn:aws:dynamodb:…:table/… because no identity-based policy allows the
dynamodb:Scan action".

A caller whose key is no function's (the developer's own credentials, a test) is the account's
administrator here, and is allowed everything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from tidings.kernel.declaration import BUCKET_ACTIONS, TABLE_ACTIONS, Application, Function
from tidings_local.aws import ACCOUNT_ID, Provisioned, queue_name_of, region

_SEND = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
)
_STREAM_READ = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
_SECRET_READ = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
# Batch operations are authorized as the single action (there is no sqs:SendMessageBatch).
_SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
_TRANSACT_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Statement:
    actions: frozenset[str]  # lower-cased: IAM actions are case-insensitive
    resources: tuple[str, ...]  # ARN patterns (* and ?)

    @classmethod
    def of(cls, actions: Iterable[str], *resources: str) -> Statement:
        return cls(frozenset(action.lower() for action in actions), resources)


@dataclass(frozen=True)
class Role:
    function_id: str
    function_name: str
    role_name: str
    statements: tuple[Statement, ...]

    @property
    def access_key_id(self) -> str:
        return access_key_id(self.function_name)

    @property
    def principal(self) -> str:
        """The ARN a denial names: the role's session is the function's name, as on Lambda."""
        return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{self.role_name}/{self.function_name}"

    def allows(self, action: str, resource: str) -> bool:
        action = action.lower()
        return any(
            action in statement.actions and any(fnmatchcase(resource, pattern) for pattern in statement.resources)
            for statement in self.statements
        )

    def credentials(self) -> dict[str, str]:
        """The role's temporary credentials, as Lambda puts them in the environment."""
        digest = hashlib.sha256(f"secret:{self.function_name}".encode()).digest()
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": base64.b64encode(digest).decode()[:40],
            "AWS_SESSION_TOKEN": base64.b64encode(f"tidings-local:{self.function_name}".encode()).decode(),
        }


def access_key_id(function_name: str) -> str:
    """A temporary access key id (`ASIA` and 16 characters), derived from the function."""
    digest = base64.b32encode(hashlib.sha256(function_name.encode()).digest()).decode()
    return "ASIA" + digest[:16]


def access_key_of(authorization: str | None, query: str = "") -> str | None:
    """The access key id of a SigV4 `Authorization` header (`... Credential=AKID/date/...`),
    or of a presigned URL's `X-Amz-Credential`."""
    if not authorization or "Credential=" not in authorization:
        credential = parse_qs(query).get("X-Amz-Credential")
        return credential[0].split("/", 1)[0].strip() or None if credential else None
    return authorization.split("Credential=", 1)[1].split("/", 1)[0].strip() or None


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{region()}:{ACCOUNT_ID}:table/{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{region()}:{ACCOUNT_ID}:{name}"


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def connections_arn(api_id: str, stage: str, method: str, connection_id: str) -> str:
    return f"arn:aws:execute-api:{region()}:{ACCOUNT_ID}:{api_id}/{stage}/{method}/@connections/{connection_id}"


class Policies:
    """Every function's role, from the declaration and what was provisioned."""

    def __init__(self, application: Application, provisioned: Provisioned, *, api_id: str, stage: str) -> None:
        self._provisioned = provisioned
        self._secret_arns_by_name = {
            arn.split(":")[-1].rsplit("-", 1)[0]: arn for arn in provisioned.secret_arns.values()
        }
        self._roles = {
            function.id: self._role(application, function, api_id, stage) for function in application.functions
        }
        self._by_key = {role.access_key_id: role for role in self._roles.values()}

    def role(self, function: Function) -> Role:
        return self._roles[function.id]

    def role_for_key(self, key: str | None) -> Role | None:
        return self._by_key.get(key or "")

    def _role(self, application: Application, function: Function, api_id: str, stage: str) -> Role:
        statements = []
        for table, access in function.tables:
            arn = table_arn(table.default_name)
            statements.append(Statement.of(TABLE_ACTIONS[access], arn, f"{arn}/index/*"))
        for subscription in application.stream_subscriptions:
            if subscription.function.id == function.id:
                statements.append(
                    Statement.of(_STREAM_READ, self._provisioned.stream_arns.get(subscription.table.id, ""))
                )
                statements.append(Statement.of(("dynamodb:ListStreams",), "*"))
                statements.append(Statement.of(_SEND, self._provisioned.queue_arns[subscription.on_failure.id]))
        for queue_subscription in application.queue_subscriptions:
            if queue_subscription.function.id == function.id:
                statements.append(Statement.of(_CONSUME, self._provisioned.queue_arns[queue_subscription.queue.id]))
        for queue in function.send_queues:
            statements.append(Statement.of(_SEND, self._provisioned.queue_arns[queue.id]))
        for secret in function.secrets:
            statements.append(Statement.of(_SECRET_READ, self._provisioned.secret_arns[secret.id]))
        if function.manages_connections:
            statements.append(
                Statement.of(("execute-api:ManageConnections",), connections_arn(api_id, stage, "*", "*"))
            )
        for bucket, accesses in function.buckets:
            actions = [action for access in accesses for action in BUCKET_ACTIONS[access]]
            statements.append(Statement.of(actions, f"{bucket_arn(self._provisioned.bucket_names[bucket.id])}/*"))
        name = f"{application.name}-{function.id}"
        return Role(function.id, name, f"{name}-role", tuple(statements))

    def requested(self, service: str, operation: str, body: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The (action, resource) pairs one request needs: all must be allowed."""
        if service in ("dynamodb", "dynamodbstreams"):
            return _dynamodb_requested(operation, body)
        if service == "sqs":
            action = f"sqs:{_SQS_BATCH_ACTIONS.get(operation, operation)}"
            url = body.get("QueueUrl")
            name = queue_name_of(url) if isinstance(url, str) else body.get("QueueName")
            return [(action, queue_arn(name) if isinstance(name, str) else "*")]
        if service == "secretsmanager":
            ids = body.get("SecretIdList") if operation == "BatchGetSecretValue" else [body.get("SecretId")]
            action = (
                "secretsmanager:GetSecretValue" if operation == "BatchGetSecretValue" else f"secretsmanager:{operation}"
            )
            return [(action, self._secret_resource(secret_id)) for secret_id in ids or ["*"]]
        return [(f"{service}:{operation}", "*")]

    def _secret_resource(self, secret_id: Any) -> str:
        if not isinstance(secret_id, str):
            return "*"
        if secret_id.startswith("arn:"):
            return secret_id
        return self._secret_arns_by_name.get(secret_id, secret_id)


def s3_requested(method: str, path: str, query: str, copy_source: str | None) -> list[tuple[str, str]]:
    """The (action, resource) pairs of one path-style S3 request (`/bucket/key?...`):
    object reads, writes, deletes and their tagging; anything on the bucket itself
    (listing, its configuration) is asked as `s3:<METHOD>Bucket` on the bucket, which no
    function is granted."""
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not key:
        return [(f"s3:{method.title()}Bucket", bucket_arn(bucket))]
    resource = f"{bucket_arn(bucket)}/{key}"
    tagging = "tagging" in parse_qs(query, keep_blank_values=True)
    actions = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "POST": "PutObject"}
    actions["DELETE"] = "DeleteObject"
    action = actions.get(method.upper(), f"{method.title()}Object")
    if tagging:
        action = {"GetObject": "GetObjectTagging", "PutObject": "PutObjectTagging"}.get(action, "DeleteObjectTagging")
    pairs = [(f"s3:{action}", resource)]
    if copy_source:
        source = unquote(copy_source).lstrip("/").split("?", 1)[0]
        pairs.append(("s3:GetObject", f"arn:aws:s3:::{source}"))
    return pairs


def _dynamodb_requested(operation: str, body: Mapping[str, Any]) -> list[tuple[str, str]]:
    def resource(table: Any, index: Any = None) -> str:
        if not isinstance(table, str):
            return "*"
        arn = table if table.startswith("arn:") else table_arn(table)
        return f"{arn}/index/{index}" if isinstance(index, str) else arn

    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", resource(table)) for table in body.get("RequestItems") or {}] or [
            (f"dynamodb:{operation}", "*")
        ]
    if operation == "TransactWriteItems":
        pairs = []
        for item in body.get("TransactItems") or []:
            for kind, request in item.items() if isinstance(item, dict) else ():
                if isinstance(request, dict):
                    pairs.append(
                        (f"dynamodb:{_TRANSACT_WRITE_ACTIONS.get(kind, kind)}", resource(request.get("TableName")))
                    )
        return pairs or [("dynamodb:TransactWriteItems", "*")]
    if operation == "TransactGetItems":
        pairs = [
            ("dynamodb:GetItem", resource((item.get("Get") or {}).get("TableName")))
            for item in body.get("TransactItems") or []
            if isinstance(item, dict)
        ]
        return pairs or [("dynamodb:TransactGetItems", "*")]
    if "StreamArn" in body:
        return [(f"dynamodb:{operation}", str(body["StreamArn"]))]
    if "TableName" in body:
        return [(f"dynamodb:{operation}", resource(body["TableName"], body.get("IndexName")))]
    return [(f"dynamodb:{operation}", "*")]


def access_denied(service: str, role: Role, action: str, resource: str) -> tuple[int, dict[str, str], bytes]:
    """The refusal, as the service answers it: (status, headers, body)."""
    if service == "sqs":
        action = action.lower()  # SQS names the action in lower case
    message = (
        f"User: {role.principal} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )
    if service in ("dynamodb", "dynamodbstreams"):
        body = {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message}
        return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body).encode()
    if service == "sqs":
        # SQS speaks JSON, but keeps its query-protocol error code (AccessDenied) in a header.
        body = {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": "AccessDenied;Sender"}
        return 403, headers, json.dumps(body).encode()
    if service == "s3":
        body_xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>AccessDenied</Code><Message>{escape(message)}</Message></Error>"
        )
        return 403, {"Content-Type": "application/xml"}, body_xml.encode()
    body = {"__type": "AccessDeniedException", "Message": message}
    return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()
