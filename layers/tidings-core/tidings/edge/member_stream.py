"""From DynamoDB stream records of the Members table to read watermark advances."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from tidings.domain.receipts import Watermark


def watermark_advance(record: DynamoDBRecord) -> Watermark | None:
    """The new watermark when this record moved `lastReadSeq` forward, else None."""
    stream = record.dynamodb
    if stream is None:
        return None
    new, old = stream.new_image, stream.old_image
    new_seq, old_seq = int(new.get("lastReadSeq") or 0), int(old.get("lastReadSeq") or 0)
    if new_seq <= old_seq:
        return None
    return Watermark(
        chat_id=str(new["chatId"]),
        user_id=str(new["userId"]),
        seq=new_seq,
        message_id=new.get("lastReadMessageId"),
    )
