"""Test tables are created from the same PynamoDB models the stack and the runtime use."""

from __future__ import annotations

import boto3

from tidings.app import APPLICATION


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
