"""`sync.request`: the chat events a client missed, one chat or every chat at once
(docs/protocol.md, "Sync"), with the badges of the chats and the presence of the subscribed users."""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from tidings.kernel import ratelimits
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.observability import metrics
from tidings.kernel.router import Caller, frame_handler, frame_route
from tidings.kernel.wire import ClientFrame, server_frame
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import SYNC
from tidings.messaging.syncing import SyncService
from tidings.messaging.wire import SyncAllResponse, SyncChatResponse, SyncRequestPayload, SyncTooLargeResponse
from tidings.notifications import compose as notifications
from tidings.notifications.badges import BadgeService
from tidings.presence import compose as presence
from tidings.presence.presence_service import PresenceService


@dataclass(frozen=True)
class Services:
    sync: SyncService
    badges: BadgeService
    presence: PresenceService


class _NoConnections:
    """Sync reads badges only; it never posts them to connections."""

    def for_user(self, user_id: str) -> list[str]:
        raise RuntimeError("sync posts no badges")

    def for_users(self, user_ids: Collection[str]) -> dict[str, list[str]]:
        raise RuntimeError("sync posts no badges")

    def focus_and_versions(self, connection_ids: Collection[str]) -> tuple[dict[str, str], dict[str, int]]:
        raise RuntimeError("sync posts no badges")

    def forget_gone(self, connection_id: str) -> None:
        raise RuntimeError("sync posts no badges")


@cold_start(SYNC)
def _services(environment: Environment) -> Services:
    return Services(
        messaging.sync(environment, limiter=ratelimits.rate_limiter(environment)),
        notifications.badge_reader(environment, connections=_NoConnections()),
        presence.presence_service(environment),
    )


def sync_request(caller: Caller, frame: ClientFrame, payload: SyncRequestPayload) -> dict[str, Any]:
    services = _services()
    if payload.chats is not None:
        badges = [badge.to_wire() for badge in services.badges.current(caller.user_id, list(payload.chats))]
        # The users this user subscribed to (empty when presence is down: sync works without it).
        subscribed = services.presence.subscribed_presence(caller.user_id)
        response = services.sync.sync_all(caller.user_id, payload.chats, payload.limit, badges, subscribed)
        metrics.add_metric(name="ChatsSynced", unit="Count", value=len(response.chats))
        return server_frame("sync.response", SyncAllResponse.model_validate({"refId": frame.id, **response.to_wire()}))
    assert payload.chatId is not None  # the payload model requires chatId without chats
    result = services.sync.sync_chat(
        caller.user_id, payload.chatId, payload.lastKnownSeq, payload.cursor, payload.limit
    )
    metrics.add_metric(name="ChatsSynced", unit="Count", value=1)
    reply = {"refId": frame.id, **result.to_wire()}
    model = SyncTooLargeResponse if "tooLarge" in reply else SyncChatResponse
    return server_frame("sync.response", model.model_validate(reply))


route = frame_route(SyncRequestPayload, sync_request)

handler = frame_handler(route)
