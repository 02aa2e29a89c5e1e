"""Members stream consumer: when a watermark moves, sends `read.receipt` to the other members
and recounts the reader's badge (`notification.badge` to all of the reader's connections).

The event source's batching window coalesces bursts: one receipt per reader per chat per batch,
with the highest seq. A move made by the member's own message (`lastReadBy: "send"`) sends no
receipt, and recounts only when the sender had something unread (`tidings.messaging.receipts`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.chats import compose as chats
from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, planned_stream_records, process_batch
from tidings.kernel.wire import encode
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import RECEIPTS
from tidings.messaging.fanout import Fanout
from tidings.messaging.receipts import Plan, plan, read_receipt
from tidings.messaging.records import advance_of, watermark_advance
from tidings.notifications import compose as notifications
from tidings.notifications.badges import BadgeService
from tidings.sessions import compose as sessions


@dataclass(frozen=True)
class Services:
    fanout: Fanout
    badges: BadgeService


@cold_start(RECEIPTS)
def _services(environment: Environment) -> Services:
    poster = connections_api.poster(environment)
    connections = sessions.connection_store(environment)
    members = chats.member_directory(environment)
    return Services(
        messaging.fanout(environment, poster=poster, members=members, connections=connections),
        notifications.badge_service(environment, poster=poster, connections=connections),
    )


def receipts_for(batch: Plan) -> Callable[[DynamoDBRecord], None]:
    def send_receipt(record: DynamoDBRecord) -> None:
        mark = watermark_advance(record)
        if mark is None:
            return  # not a watermark move
        services = _services()
        if mark in batch.receipts:  # else superseded later in this batch, or made by a send
            services.fanout.to_chat(mark.chat_id, encode(read_receipt(mark)), except_user=mark.user_id)
        if mark in batch.recounts:
            services.badges.chat_read(mark.chat_id, mark.user_id)  # the reader's badge, on every session

    return send_receipt


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    batch = plan(planned_stream_records(event, advance_of))
    return process_batch(event, context, receipts_for(batch), EventType.DynamoDBStreams)
