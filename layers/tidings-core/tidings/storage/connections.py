"""DynamoDB implementation of the connection store."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from tidings.domain.connections import HANDSHAKE_GRACE_MS, ConnectionRef, ConnectionState
from tidings.errors import NotFound
from tidings.storage.models import ConnectionModel

# API Gateway closes every connection after 2 hours; the TTL sweeps items whose $disconnect
# never arrived, with a margin.
CONNECTION_TTL = timedelta(hours=3)


def _gone(connection_id: str) -> NotFound:
    return NotFound(f"Connection {connection_id!r} is no longer registered; reconnect")


class DynamoConnectionStore:
    def add(self, connection_id: str, user_id: str, connected_at_ms: int, token_expires_at: int) -> None:
        ConnectionModel(
            connection_id,
            user_id=user_id,
            connected_at=connected_at_ms,
            token_expires_at=token_expires_at,
            expires_at=datetime.fromtimestamp(connected_at_ms / 1000, UTC) + CONNECTION_TTL,
        ).save()

    def remove(self, connection_id: str) -> None:
        ConnectionModel(connection_id).delete()

    def forget_gone(self, connection_id: str) -> None:
        """After a 410 from the @connections API: forgets the connection, unless it connected
        within the handshake grace (its 410 only means the handshake is still completing, and
        forgetting it would cut it off from every later delivery)."""
        settled = ConnectionModel.connected_at < int(time.time() * 1000) - HANDSHAKE_GRACE_MS
        try:
            ConnectionModel(connection_id).delete(condition=settled)
        except DeleteError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def for_user(self, user_id: str) -> list[str]:
        """The user's connection ids, oldest first, through the byUser index (no Scan)."""
        return [ref.connection_id for ref in self.user_connections(user_id)]

    def user_connections(self, user_id: str) -> list[ConnectionRef]:
        """The user's connections with their connect times, oldest first (byUser, no Scan)."""
        return [ConnectionRef(c.connection_id, int(c.connected_at)) for c in ConnectionModel.by_user.query(user_id)]

    def focused_chats(self, connection_ids: list[str]) -> set[str]:
        """Which chats these connections show now (`chat.focus`)."""
        if not connection_ids:
            return set()
        items = ConnectionModel.batch_get(connection_ids, attributes_to_get=["connectionId", "focusChatId"])
        return {item.focus_chat_id for item in items if item.focus_chat_id}

    def user_of(self, connection_id: str) -> str | None:
        try:
            return ConnectionModel.get(connection_id).user_id
        except DoesNotExist:
            return None

    def get(self, connection_id: str) -> ConnectionState | None:
        try:
            item = ConnectionModel.get(connection_id, consistent_read=True)
        except DoesNotExist:
            return None
        return ConnectionState(
            connection_id=item.connection_id,
            user_id=item.user_id,
            connected_at_ms=int(item.connected_at),
            token_expires_at=int(item.token_expires_at),
            protocol_version=None if item.protocol_version is None else int(item.protocol_version),
            focus_chat_id=item.focus_chat_id,
        )

    def set_protocol(self, connection_id: str, version: int, client: str | None) -> None:
        actions: list[Action] = [ConnectionModel.protocol_version.set(version)]
        actions.append(ConnectionModel.client.set(client) if client else ConnectionModel.client.remove())
        self._update(connection_id, actions)

    def set_focus(self, connection_id: str, chat_id: str | None) -> None:
        self._update(
            connection_id,
            [ConnectionModel.focus_chat_id.set(chat_id) if chat_id else ConnectionModel.focus_chat_id.remove()],
        )

    def extend_token(self, connection_id: str, expires_at: int) -> bool:
        try:
            ConnectionModel(connection_id).update(
                actions=[ConnectionModel.token_expires_at.set(expires_at)],
                condition=ConnectionModel.connection_id.exists() & (ConnectionModel.token_expires_at < expires_at),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            if self.get(connection_id) is None:
                raise _gone(connection_id) from exc
            return False
        return True

    def _update(self, connection_id: str, actions: list[Action]) -> None:
        """Updates an existing connection only: never creates an item for a gone one."""
        try:
            ConnectionModel(connection_id).update(actions=actions, condition=ConnectionModel.connection_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise _gone(connection_id) from exc
            raise
