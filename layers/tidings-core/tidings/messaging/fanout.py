"""Fan-out of chat frames: every connection of every member of a chat, each connection on its
own through the one delivery loop (`tidings.kernel.connections_api.Deliveries`), so that one
failing connection never costs the others a duplicate.

Runs in the stream consumers, never in the send handler. Connections are found per user (the
chat's audience: each member's connections, read once and handed on to the notifications by
the Delivery consumer); a connection that API Gateway reports gone (410) is forgotten on the spot.
A big chat's frames go to the fan-out workers in shards instead (`fanout_shards`).
"""

from __future__ import annotations

from collections.abc import Collection

from tidings.chats.directory import MemberDirectory
from tidings.kernel.connections_api import (
    ConnectionDirectory,
    ConnectionPoster,
    Deliveries,
    DeliveryReport,
    DeliveryRetries,
)
from tidings.messaging.fanout_shards import SHARD_ABOVE_CONNECTIONS, ShardQueue, shard_jobs


class Fanout:
    def __init__(
        self,
        members: MemberDirectory,
        connections: ConnectionDirectory,
        poster: ConnectionPoster,
        retries: DeliveryRetries | None = None,
        shards: ShardQueue | None = None,
    ):
        """With `shards`, an audience of more than SHARD_ABOVE_CONNECTIONS connections is
        handed to the fan-out workers instead of posted here."""
        self._members = members
        self._connections = connections
        self._deliveries = Deliveries(poster, connections, retries)
        self._shards = shards

    def to_chat(self, chat_id: str, data: str, *, except_user: str | None = None) -> DeliveryReport:
        """Posts `data` to every connection of every member, but `except_user`'s."""
        return self.frames_to_chat(chat_id, [(data, except_user)])

    def frames_to_chat(self, chat_id: str, frames: list[tuple[str, str | None]]) -> DeliveryReport:
        """Posts each `(data, except_user)` in order, after reading members and connections
        (not the connections of a user every frame excepts)."""
        excepted = {except_user for _, except_user in frames}
        skip = excepted if len(excepted) == 1 and None not in excepted else set()
        return self.frames_to_audience(self.audience(chat_id, skip=skip), frames)

    def audience(self, chat_id: str, *, skip: Collection[str | None] = ()) -> dict[str, list[str]]:
        """Every member of the chat with their connections (none for an offline member, and
        none looked up for the members in `skip`)."""
        member_ids = self._members.member_ids(chat_id)
        connections = self._connections.for_users([user_id for user_id in member_ids if user_id not in skip])
        return {user_id: connections.get(user_id, []) for user_id in member_ids}

    def audience_of(self, user_ids: Collection[str]) -> dict[str, list[str]]:
        """The connections of each of `user_ids`, members or not (a `chat.removed` goes to one
        who no longer is)."""
        return self._connections.for_users(user_ids)

    def frames_to_audience(
        self, audience: dict[str, list[str]], frames: list[tuple[str, str | None]], trace_id: str | None = None
    ) -> DeliveryReport:
        """Posts each `(data, except_user)` in order to the connections of `audience` (a retry
        of them carries `trace_id`)."""
        targets: list[tuple[str, list[str]]] = []
        for user_id, connection_ids in audience.items():
            mine = [data for data, except_user in frames if user_id != except_user]
            if mine:
                targets += [(connection_id, mine) for connection_id in connection_ids]
        return self.frames_to_connections(targets, trace_id)

    def frames_to_connections(
        self, targets: list[tuple[str, list[str]]], trace_id: str | None = None
    ) -> DeliveryReport:
        """Posts each `(connection, its frames in order)`: handed to the fan-out workers when
        there are more than SHARD_ABOVE_CONNECTIONS of them (where shards are declared)."""
        if self._shards is not None and len(targets) > SHARD_ABOVE_CONNECTIONS:
            jobs = shard_jobs(targets, trace_id)
            self._shards.schedule_all(jobs)
            return DeliveryReport(sharded=len(jobs))
        return self._deliveries.deliver(targets, trace_id=trace_id)
