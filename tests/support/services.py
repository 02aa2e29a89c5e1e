"""Services built as the declared functions build them, for tests that drive a service beside
the handlers (sending a message, reading presence): each from its function's environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidings.attachments import compose as attachments
from tidings.chats import compose as chats
from tidings.kernel import ratelimits
from tidings.kernel.environment import environment_of
from tidings.messaging import compose as messaging
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.declaration import MESSAGE_EVENTS, MESSAGE_SEND, TYPING
from tidings.messaging.sending import MessageService
from tidings.messaging.typing_store import DynamoTypingStateStore
from tidings.presence import compose as presence
from tidings.presence.declaration import PRESENCE_FRAMES
from tidings.presence.presence_store import DynamoPresenceStore, DynamoPresenceSubscriptions
from tidings.search import compose as search
from tidings.search.declaration import SEARCH
from tidings.search.searching import SearchService
from tidings.sessions import compose as sessions
from tidings.sessions.declaration import AUTHORIZER


class GivenAttachments:
    """message.send's attachments port, answering with the attachments as given: for tests of
    what other features do with a message's attachments (search, indexing), without uploads."""

    def __init__(self, attachments: list[dict[str, Any]]) -> None:
        self.attachments = attachments

    def for_message(self, sender_id: str, chat_id: str, attachment_ids: Sequence[str]) -> list[dict[str, Any]]:
        return self.attachments

    def keep(self, attachments: Sequence[dict[str, Any]]) -> None:
        pass

    def mark_sent(self, transaction: Any, attachment_ids: Sequence[str], *args: str) -> None:
        pass

    def mark_deleted(self, transaction: Any, attachment_ids: Sequence[str]) -> None:
        pass

    def discard(self, attachment_ids: Sequence[str]) -> None:
        pass


def message_service(given: GivenAttachments | None = None) -> MessageService:
    """As the MessageSend function composes it; `given` replaces the attachments feature."""
    environment = environment_of(MESSAGE_SEND)
    return messaging.message_sending(
        environment,
        users=chats.user_directory(environment),
        limiter=ratelimits.rate_limiter(environment),
        attachments=given or attachments.sent_attachments(environment),
    )


def chat_event_service() -> ChatEventService:
    environment = environment_of(MESSAGE_EVENTS)
    return messaging.chat_events(
        environment,
        users=chats.user_directory(environment),
        limiter=ratelimits.rate_limiter(environment),
        attachments=attachments.sent_attachments(environment),
    )


def typing_state() -> DynamoTypingStateStore:
    return messaging.typing_state(environment_of(TYPING))


def presence_store() -> DynamoPresenceStore:
    return presence.presence_store(environment_of(PRESENCE_FRAMES))


def presence_subscriptions() -> DynamoPresenceSubscriptions:
    return presence.subscriptions(environment_of(PRESENCE_FRAMES))


def search_service() -> SearchService:
    environment = environment_of(SEARCH)
    return search.search_service(
        environment, directory=chats.user_chats(environment), limiter=ratelimits.rate_limiter(environment)
    )


def signing_key() -> str:
    """The signing key as the authorizer reads it (Secrets Manager, through Powertools)."""
    return sessions.signing_key(environment_of(AUTHORIZER))()
