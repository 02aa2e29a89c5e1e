"""Messages stream consumer: the notification pipeline for every new message (docs/protocol.md,
"Notifications").

For each recipient the evaluator decides: the badge, a toast for an online user, a push job for
an offline one. A delete takes its message out of the badges that counted it. Edits and
reactions notify nobody.
"""

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.chats import compose as chats
from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.messaging.records import chat_event
from tidings.notifications import compose as notifications
from tidings.notifications.badges import BadgeService
from tidings.notifications.declaration import NOTIFY
from tidings.notifications.notifying import NotificationService
from tidings.presence import compose as presence
from tidings.sessions import compose as sessions


@dataclass(frozen=True)
class Services:
    notifications: NotificationService
    badges: BadgeService


@cold_start(NOTIFY)
def _services(environment: Environment) -> Services:
    poster = connections_api.poster(environment)
    connections = sessions.connection_store(environment)
    service = notifications.notification_service(
        environment,
        poster=poster,
        members=chats.member_directory(environment),
        connections=connections,
        presence=presence.presence_store(environment),  # DND
        chats=chats.chat_directory(environment),
    )
    return Services(service, notifications.badge_service(environment, poster=poster, connections=connections))


def notify(record: DynamoDBRecord) -> None:
    event = chat_event(record)
    if event is None:
        return
    if event.kind == "message":
        _services().notifications.message_arrived(event.item)
    elif event.kind == "delete" and event.target_seq is not None:
        _services().badges.message_deleted(event.item.chat_id, event.target_seq)
    # edits and reactions change no count


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, notify, EventType.DynamoDBStreams)
