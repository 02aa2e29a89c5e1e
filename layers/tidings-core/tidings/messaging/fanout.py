"""Fan-out of chat frames: every connection of every member of a chat, each connection on its
own through the one delivery loop (`tidings.kernel.connections_api.Deliveries`), so that one
failing connection never costs the others a duplicate.

Runs in the stream consumers, never in the send handler. Connections are found per user; a
connection that API Gateway reports gone (410) is forgotten on the spot.
"""

from __future__ import annotations

from tidings.chats.directory import MemberDirectory
from tidings.kernel.connections_api import (
    ConnectionDirectory,
    ConnectionPoster,
    Deliveries,
    DeliveryReport,
    DeliveryRetries,
)


class Fanout:
    def __init__(
        self,
        members: MemberDirectory,
        connections: ConnectionDirectory,
        poster: ConnectionPoster,
        retries: DeliveryRetries | None = None,
    ):
        self._members = members
        self._connections = connections
        self._deliveries = Deliveries(poster, connections, retries)

    def to_chat(self, chat_id: str, data: str, *, except_user: str | None = None) -> DeliveryReport:
        """Posts `data` to every connection of every member, but `except_user`'s."""
        return self.frames_to_chat(chat_id, [(data, except_user)])

    def frames_to_chat(self, chat_id: str, frames: list[tuple[str, str | None]]) -> DeliveryReport:
        """Posts each `(data, except_user)` in order, after reading members and connections."""
        targets: list[tuple[str, list[str]]] = []
        for user_id in self._members.member_ids(chat_id):
            mine = [data for data, except_user in frames if user_id != except_user]
            if mine:
                targets += [(connection_id, mine) for connection_id in self._connections.for_user(user_id)]
        return self._deliveries.deliver(targets)
