"""The Presence stream consumer's logic. A batch (the event source's 2 s window) is reduced to
each user's final status, and only a user whose final status differs from where the batch
started is announced, to the subscribers of that user only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tidings.kernel.connections_api import ConnectionDirectory, ConnectionPoster, Deliveries
from tidings.presence.presence_service import SubscriptionStore
from tidings.presence.wire import presence_changed_frame, presence_payload


@dataclass(frozen=True)
class StatusChange:
    """One Presence stream record, reduced to what subscribers see. `record_id` identifies the
    record in its batch."""

    user_id: str
    old_status: str
    new_status: str
    last_seen: float | None
    record_id: str


def coalesce_changes(changes: Iterable[StatusChange]) -> dict[str, StatusChange]:
    """Per user, the last change of the batch, if the final status differs from the status the
    batch started with. Flapping within the batching window collapses to its final state, and
    a flap that ends where it began sends nothing."""
    first_old: dict[str, str] = {}
    last: dict[str, StatusChange] = {}
    for change in changes:
        first_old.setdefault(change.user_id, change.old_status)
        last[change.user_id] = change
    return {user_id: change for user_id, change in last.items() if change.new_status != first_old[user_id]}


class PresenceFanout:
    """Delivers a status change to the connections of the users subscribed to it, through the
    one delivery loop (`Deliveries`). Reads only that user's subscribers (one Query) and their
    connections (one GetItem each), all before the first post."""

    def __init__(
        self,
        subscriptions: SubscriptionStore,
        connections: ConnectionDirectory,
        poster: ConnectionPoster,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._subscriptions = subscriptions
        self._connections = connections
        self._deliveries = Deliveries(poster, connections, None, fail_record=True)
        self._now = now

    def publish(self, change: StatusChange) -> int:
        """Posts `presence.changed`; returns how many connections got it. Raises DeliveryFailed
        when some could not be reached (not gone), so the record is retried."""
        frame = presence_changed_frame(presence_payload(change.user_id, change.new_status, change.last_seen))
        subscribers = self._subscriptions.subscribers_of(change.user_id, self._now())
        targets = [
            (connection_id, [frame])
            for connection_ids in self._connections.for_users(subscribers).values()
            for connection_id in connection_ids
        ]
        return self._deliveries.deliver(targets).delivered
