"""DynamoDB, DynamoDB Streams, SQS, Secrets Manager and S3 in process, through moto.

`LocalAws` starts `moto.mock_aws()` for the runtime's life and creates every table, queue and
secret that the application declares, from the declaration itself: keys and indexes come from
the PynamoDB models (`Model.create_table`), streams and TTL from the `Table` entries.

Importing this module installs the moto patches of `moto_patches.py` (one lock around moto,
request notifications, cheap transaction backups), once per process. The functions' workers
reach the same backends through moto's server (`moto_server.py`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
from moto import mock_aws

from tidings.kernel.declaration import Application, Bucket, Queue, Secret, Table
from tidings_local import moto_patches

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


moto_patches.install()


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def resource_name(application: Application, resource_id: str) -> str:
    """`Tidings` + `JwtSigningKey` -> `tidings-jwt-signing-key` (the local physical name)."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", resource_id).lower()
    return f"{application.name.lower()}-{words}"


def queue_names(application: Application, queue: Queue) -> tuple[str, str | None]:
    """A declared queue's local name, and its dead-letter queue's (None without one)."""
    name = resource_name(application, queue.id)
    return name, (f"{name}-dlq" if queue.dead_letter_after is not None else None)


def queue_name_of(url: str) -> str:
    """A queue URL's last segment: the queue's name."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def secret_name(application: Application, secret: Secret) -> str:
    """Secrets Manager names are path-like: `tidings/jwt-signing-key`."""
    prefix = application.name.lower()
    return resource_name(application, secret.id).replace(f"{prefix}-", f"{prefix}/", 1)


@dataclass
class Provisioned:
    """What `LocalAws.start` created, by declared id, and the env vars that point at it."""

    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    secret_arns: dict[str, str] = field(default_factory=dict)
    stream_arns: dict[str, str] = field(default_factory=dict)
    bucket_names: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)


class LocalAws:
    """moto for the life of a runtime, provisioned from the declaration.

    Only one can be active per process: moto's backends are process-global, so a second one
    would provision the same tables into the same backends. Started inside an active
    `mock_aws()` (a test's own), it provisions into that mock's backends: moto counts nested
    starts and resets its data only when the outermost one starts or stops.
    """

    _active: ClassVar[LocalAws | None] = None

    def __init__(self, application: Application, secret_values: Mapping[str, str] | None = None) -> None:
        self.application = application
        self._secret_values = dict(secret_values or {})
        self._mock: Any = None
        self.provisioned = Provisioned()

    def start(self) -> Provisioned:
        if LocalAws._active is not None:
            raise RuntimeError("another local runtime is already running in this process")
        LocalAws._active = self
        os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
        os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
        # A stray endpoint override would send our calls past moto to a real endpoint.
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[name]
        self._mock = mock_aws()
        self._mock.start()
        # One client per service: each new one costs tens of milliseconds of model loading.
        dynamodb = boto3.client("dynamodb", region_name=region())
        for table in self.application.tables:
            self._create_table(table, dynamodb)
        sqs = boto3.client("sqs", region_name=region())
        for queue in self.application.queues:
            self._create_queue(queue, sqs)
        secretsmanager = boto3.client("secretsmanager", region_name=region())
        for secret in self.application.secrets:
            self._create_secret(secret, secretsmanager)
        s3 = boto3.client("s3", region_name=region())
        for bucket in self.application.buckets:
            self._create_bucket(bucket, s3)
        return self.provisioned

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if LocalAws._active is self:
            LocalAws._active = None

    def _create_table(self, table: Table, client: DynamoDBClient) -> None:
        table.model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
        name = table.default_name
        if table.stream:
            described = client.update_table(
                TableName=name,
                StreamSpecification={"StreamEnabled": True, "StreamViewType": table.stream},
            )
            self.provisioned.stream_arns[table.id] = described["TableDescription"]["LatestStreamArn"]
        if table.ttl_attribute:
            ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        self.provisioned.environment[table.env_var] = name

    def _create_queue(self, queue: Queue, sqs: SQSClient) -> None:
        name, dlq_name = queue_names(self.application, queue)
        attributes: dict[QueueAttributeNameType, str] = {
            "DelaySeconds": str(queue.delay_seconds),
            "VisibilityTimeout": str(queue.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(min(queue.retention_days, 14) * 86400),
        }
        if dlq_name is not None and queue.dead_letter_after is not None:
            dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue.dead_letter_after)}
            )
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.provisioned.queue_urls[queue.id] = url
        self.provisioned.queue_arns[queue.id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.provisioned.environment[queue.env_var] = url

    def _create_bucket(self, bucket: Bucket, s3: Any) -> None:
        name = resource_name(self.application, bucket.id)
        s3.create_bucket(Bucket=name)
        self.provisioned.bucket_names[bucket.id] = name
        self.provisioned.environment[bucket.env_var] = name

    def _create_secret(self, secret: Secret, secretsmanager: SecretsManagerClient) -> None:
        value = self._secret_values.get(secret.id) or secret.placeholder or secrets.token_urlsafe(48)
        arn = secretsmanager.create_secret(
            Name=secret_name(self.application, secret), Description=secret.description, SecretString=value
        )["ARN"]
        self.provisioned.secret_arns[secret.id] = arn
        self.provisioned.environment[secret.env_var] = arn
