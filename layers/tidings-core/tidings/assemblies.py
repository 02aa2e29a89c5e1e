"""Services put together from more than one feature, for the functions that share them.

A handler composes the features it uses itself (`functions/<feature>/`). Where several functions
need the same cross-feature assembly, it is written here once: this module sits beside
`tidings.app` in the application layer, so it may import every feature and no feature imports
it (the import-linter layers contract). Each assembly imports its features when it is called,
so a function that uses one assembly does not load the features of the others at cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tidings.kernel.declaration import Function
from tidings.kernel.environment import Environment, cold_start

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from tidings.kernel.connections_api import ConnectionPoster
    from tidings.kernel.delay_queue import DelayQueue
    from tidings.messaging.message import Message
    from tidings.messaging.typing_indicators import TypingService
    from tidings.notifications.notifying import ChatEventNotifications, Notices
    from tidings.notifications.records import NotificationRetry
    from tidings.sessions.connection_store import DynamoConnectionStore


def typing_service(environment: Environment) -> TypingService:
    """Typing indicators as the `typing.*` routes and the typing expiry timers both use them."""
    from tidings.chats import compose as chats
    from tidings.kernel import connections_api, ratelimits
    from tidings.messaging import compose as messaging
    from tidings.sessions import compose as sessions

    members = chats.member_directory(environment)
    return messaging.typing(
        environment,
        poster=connections_api.poster(environment),
        members=members,
        membership=members,
        users=chats.user_directory(environment),
        connections=sessions.connection_store(environment),
        limiter=ratelimits.rate_limiter(environment),
    )


def rest_caller(app: APIGatewayHttpResolver, function: Function) -> Callable[[], str]:
    """`caller()` for an HTTP API function: the user of the request `app` is resolving, by its
    bearer token (`Unauthorized`, a 401, without a valid one). The token check (signature,
    expiry, revocation: the sessions feature) is built on the first request."""
    # Imported here: the typing service above is for WebSocket functions, which load no HTTP resolver.
    from tidings.kernel.rest import caller_id
    from tidings.sessions import compose as sessions

    authenticate = cold_start(function)(sessions.authenticate)
    return lambda: caller_id(app, authenticate())


def chat_event_notifications(
    environment: Environment, *, poster: ConnectionPoster, connections: DynamoConnectionStore
) -> ChatEventNotifications:
    """What a chat event means for notifications, as the Delivery consumer, the fan-out workers
    (a big chat's new message) and the notification retry do it: members and chats from the
    chats feature, DND from presence."""
    from tidings.chats import compose as chats
    from tidings.notifications import compose as notifications
    from tidings.presence import compose as presence

    return notifications.chat_event_notifications(
        environment,
        poster=poster,
        members=chats.member_directory(environment),
        connections=connections,
        presence=presence.presence_store(environment),  # DND
        chats=chats.chat_directory(environment),
    )


def defer_notification(
    retries: DelayQueue[NotificationRetry], record: dict[str, Any], user_ids: Sequence[str] | None = None
) -> None:
    """Queues a chat event's stream record for the notification retry (only `user_ids`'
    notifications, when given: a message shard's members); if that raises, the caller's record
    fails."""
    from tidings.kernel.observability import logger, metrics
    from tidings.notifications.records import NotificationRetry

    logger.exception("notification failed; queued for the notification retry")
    metrics.add_metric(name="NotificationsDeferred", unit="Count", value=1)
    retries.schedule(NotificationRetry(record, None if user_ids is None else tuple(user_ids)))


def new_message_targets(
    notifications: ChatEventNotifications,
    retries: DelayQueue[NotificationRetry],
    record: dict[str, Any],
    message: Message,
    event_frame: dict[str, Any],
    before: Sequence[tuple[str, str | None]],
    audience: dict[str, list[str]],
    *,
    whole_chat: bool,
) -> tuple[list[tuple[str, list[str]]], Notices | None]:
    """A new message to `audience` (the chat's members, or a shard of them when not
    `whole_chat`), decided before anything is posted: each member's notification work, then each
    connection with its frames in order (`told_targets`), and the decision. A decision that fails
    leaves the message plain and queues the record for the notification retry (which tells in
    separate frames): notification work never holds up a message."""
    try:
        notices: Notices | None = notifications.decide(message, audience)
    except Exception:
        defer_notification(retries, record, None if whole_chat else list(audience))
        notices = None
    return told_targets(audience, before, event_frame, notices), notices


def told_targets(
    audience: dict[str, list[str]],
    frames: Sequence[tuple[str, str | None]],
    event_frame: dict[str, Any],
    notices: Notices | None,
) -> list[tuple[str, list[str]]]:
    """Each connection of `audience` with its frames in order: each of `frames` (`(data,
    except_user)`) but those that except its user, then the event's frame. A recipient with a
    notice gets it inside its `message.new` on protocol version 2 (one frame), and as the
    separate frames after it on version 1."""
    from tidings.kernel.wire import encode
    from tidings.messaging.wire import NOTICES_IN_MESSAGE_NEW, carrying_notice

    plain = encode(event_frame)
    targets: list[tuple[str, list[str]]] = []
    for user_id, connection_ids in audience.items():
        before = [data for data, except_user in frames if user_id != except_user]
        notice = None if notices is None else notices.by_user.get(user_id)
        if notice is None:
            targets += [(connection_id, [*before, plain]) for connection_id in connection_ids]
            continue
        assert notices is not None  # a notice comes from them
        separate = [*before, plain, *notice.frames()]
        carried: list[str] = []
        for connection_id in connection_ids:
            if notices.version_of(connection_id) < NOTICES_IN_MESSAGE_NEW:
                targets.append((connection_id, separate))
                continue
            if not carried:  # encoded once per recipient, for all of its v2 connections
                toast = None if notice.toast is None else notice.toast["payload"]
                carried = [*before, encode(carrying_notice(event_frame, notice.badge["payload"], toast))]
            targets.append((connection_id, carried))
    return targets
