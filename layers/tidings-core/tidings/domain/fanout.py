"""Fan-out: deliver a chat event frame to every connection of every member of the chat.

Runs in the stream consumer, never in the send handler. Connections are found per user through
an index; a connection that API Gateway reports gone is removed on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ConnectionPoster(Protocol):
    def post(self, connection_id: str, data: str) -> bool:
        """Sends `data`; False when the connection is gone (410). Other failures raise."""


class MemberDirectory(Protocol):
    def member_ids(self, chat_id: str) -> list[str]: ...


class ConnectionDirectory(Protocol):
    def for_user(self, user_id: str) -> list[str]: ...

    def forget_gone(self, connection_id: str) -> None:
        """After a 410: forgets the connection, unless it is young enough to be mid-handshake."""


def post_to_user(
    poster: ConnectionPoster, connections: ConnectionDirectory, connection_ids: list[str], frames: list[str]
) -> None:
    """Posts `frames`, in order, to each of one user's connections; a gone connection is
    forgotten (`forget_gone`) and gets none of the rest. Other failures raise."""
    for connection_id in connection_ids:
        for data in frames:
            if not poster.post(connection_id, data):
                connections.forget_gone(connection_id)
                break


class DeliveryFailed(Exception):
    """Some connections could not be reached for a reason other than being gone."""


@dataclass
class DeliveryReport:
    delivered: int = 0
    gone: int = 0
    failed: int = 0


class Fanout:
    def __init__(self, members: MemberDirectory, connections: ConnectionDirectory, poster: ConnectionPoster):
        self._members = members
        self._connections = connections
        self._poster = poster

    def to_chat(self, chat_id: str, data: str, *, except_user: str | None = None) -> DeliveryReport:
        """Posts `data` to every connection of every member, but `except_user`'s."""
        return self.frames_to_chat(chat_id, [(data, except_user)])

    def frames_to_chat(self, chat_id: str, frames: list[tuple[str, str | None]]) -> DeliveryReport:
        """Posts each `(data, except_user)` in order, reading members and connections once."""
        report = DeliveryReport()
        first_error: Exception | None = None
        for user_id in self._members.member_ids(chat_id):
            for connection_id in self._connections.for_user(user_id):
                for data, except_user in frames:
                    if user_id == except_user:
                        continue
                    try:
                        if not self._poster.post(connection_id, data):
                            report.gone += 1
                            self._connections.forget_gone(connection_id)
                            break
                        report.delivered += 1
                    except Exception as exc:  # one bad connection must not starve the others
                        report.failed += 1
                        first_error = first_error or exc
        if first_error is not None:
            # The whole record is retried; members already reached may see it twice, which the
            # protocol allows (clients drop duplicates by messageId).
            raise DeliveryFailed(f"{report.failed} connection(s) failed") from first_error
        return report
