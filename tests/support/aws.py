"""Test tables are created from the same PynamoDB models the stack and the runtime use."""

from __future__ import annotations

import os
import re

import boto3

from tidings.app import APPLICATION
from tidings.kernel.declaration import CALLBACK_URL_ENV


def create_tables() -> None:
    # moto creates tables ACTIVE at once, so there is nothing to wait for; one client serves all
    # (creating a boto3 client costs more than creating a table here, and this runs per test).
    dynamodb = boto3.client("dynamodb")
    for table in APPLICATION.tables:
        table.model.create_table(wait=False)
        if table.stream:
            dynamodb.update_table(
                TableName=table.default_name,
                StreamSpecification={"StreamEnabled": True, "StreamViewType": table.stream},
            )


def stream_records(table_name: str) -> list[dict]:
    """Every record on the table's stream so far, exactly as DynamoDB Streams returns them."""
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    for record in records:
        record["eventSourceARN"] = arn
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if created is not None and hasattr(created, "timestamp"):
            record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    return records


CALLBACK_URL = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod"


def declare_environment(monkeypatch) -> dict[str, str]:
    """What the runtime gives the declared functions, on moto: every declared queue, secret
    (placeholders) and bucket, and an @connections endpoint (tests replace the poster). Variables a test
    has set already are kept. Table names are set for the whole test process
    (`tests/conftest.py`)."""
    sqs = boto3.client("sqs")
    secrets = boto3.client("secretsmanager")
    environment: dict[str, str] = {CALLBACK_URL_ENV: CALLBACK_URL}
    for queue in APPLICATION.queues:
        environment[queue.env_var] = sqs.create_queue(QueueName=_kebab(queue.id))["QueueUrl"]
    for secret in APPLICATION.secrets:
        name = f"tidings/test-{_kebab(secret.id)}"
        value = secret.placeholder or "test-secret-value-that-is-long-enough-for-hs256"
        environment[secret.env_var] = secrets.create_secret(Name=name, SecretString=value)["ARN"]
    s3 = boto3.client("s3")
    for bucket in APPLICATION.buckets:
        name = f"tidings-test-{_kebab(bucket.id)}"
        s3.create_bucket(Bucket=name)
        environment[bucket.env_var] = name
    for name, value in environment.items():
        if name not in os.environ:
            monkeypatch.setenv(name, value)
    return environment


def _kebab(resource_id: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", resource_id).lower()


def count_batch_gets(monkeypatch, model) -> list[int]:
    """Records the number of keys of each `model.batch_get` call (PynamoDB splits it into
    BatchGetItems of 100) from now on."""
    calls: list[int] = []
    real = model.batch_get

    def counted(keys, **kwargs):
        keys = list(keys)
        calls.append(len(keys))
        return real(keys, **kwargs)

    monkeypatch.setattr(model, "batch_get", counted)
    return calls
