"""DynamoDB stream records, parsed: the event name and the images as PynamoDB model instances,
so no consumer reads `image["kind"]["S"]` by hand. Each feature's `records.py` turns these into
its own types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pynamodb.models import Model

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

M = TypeVar("M", bound=Model)


def is_insert(record: DynamoDBRecord) -> bool:
    # Imported here: the stores that share a module with these helpers handle no records, and
    # the consumers that do have loaded Powertools' data classes already (the batch utility).
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecordEventName

    return record.event_name == DynamoDBRecordEventName.INSERT


def raw_new_image(record: DynamoDBRecord) -> dict[str, Any] | None:
    """The new image in DynamoDB JSON, or None (a REMOVE, a KEYS_ONLY stream)."""
    image = record.dynamodb.raw_event.get("NewImage") if record.dynamodb else None
    return image or None


def new_item(record: DynamoDBRecord, model: type[M]) -> M | None:
    """The new image as an item of `model`, or None."""
    image = raw_new_image(record)
    return model.from_raw_data(image) if image else None
