"""DynamoDB implementation of the connection store.

Two records: the connection's own item (Connections, by id) and its entry in its user's item
(UserConnections: connectionId -> connectedAt). The item is written first and deleted last, so
every entry a reader finds has a record behind it.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import cast

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from tidings.kernel.errors import NotFound
from tidings.sessions.connections import ConnectionRef, ConnectionState, may_be_in_handshake
from tidings.sessions.models import ConnectionModel, UserConnectionsModel

# API Gateway closes every connection after 2 hours; the TTL sweeps items whose $disconnect
# never arrived, with a margin. An entry this much older than a new connection of its user is
# dead for the same reason, and that connect prunes it.
CONNECTION_TTL = timedelta(hours=3)


def _gone(connection_id: str) -> NotFound:
    return NotFound(f"Connection {connection_id!r} is no longer registered; reconnect")


def _conditional_check_failed(exc: UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _entries(item: UserConnectionsModel) -> dict[str, int]:
    return {} if item.connections is None else {key: int(at) for key, at in item.connections.as_dict().items()}


def _oldest_first(connections: dict[str, int]) -> list[ConnectionRef]:
    refs = [ConnectionRef(connection_id, at) for connection_id, at in connections.items()]
    return sorted(refs, key=lambda ref: (ref.connected_at_ms, ref.connection_id))


def _entry(connection_id: str) -> Path:
    # A raw map's item is an expression path (PynamoDB's stubs type it as the value).
    return cast(Path, UserConnectionsModel.connections[connection_id])


class DynamoConnectionStore:
    def add(self, connection_id: str, user_id: str, connected_at_ms: int, token_expires_at: int) -> list[ConnectionRef]:
        expires_at = datetime.fromtimestamp(connected_at_ms / 1000, UTC) + CONNECTION_TTL
        ConnectionModel(
            connection_id,
            user_id=user_id,
            connected_at=connected_at_ms,
            token_expires_at=token_expires_at,
            expires_at=expires_at,
        ).save()
        joined = self._join(user_id, connection_id, connected_at_ms, expires_at)
        return _oldest_first(self._prune(user_id, joined, connected_at_ms))

    def _join(self, user_id: str, connection_id: str, connected_at_ms: int, expires_at: datetime) -> dict[str, int]:
        """Adds the entry with one UpdateItem and returns the map as that write left it. A map
        entry can only be SET inside an existing map, so the first connect of a user (or the
        first after TTL deleted the item) creates the map, conditionally, and a connect that
        loses that race adds its entry to the map the winner created."""
        item = UserConnectionsModel(user_id)
        refresh_ttl = UserConnectionsModel.expires_at.set(expires_at)
        for _ in range(3):
            try:
                item.update(
                    actions=[_entry(connection_id).set(connected_at_ms), refresh_ttl],
                    condition=UserConnectionsModel.connections.exists(),
                )
                return _entries(item)
            except UpdateError as exc:
                if not _conditional_check_failed(exc):
                    raise
            try:
                item.update(
                    actions=[UserConnectionsModel.connections.set({connection_id: connected_at_ms}), refresh_ttl],
                    condition=UserConnectionsModel.connections.does_not_exist(),
                )
                return _entries(item)
            except UpdateError as exc:
                if not _conditional_check_failed(exc):
                    raise
        raise RuntimeError(f"could not add connection {connection_id!r} to user {user_id!r}")

    def _prune(self, user_id: str, connections: dict[str, int], connected_at_ms: int) -> dict[str, int]:
        """Drops entries that connected more than the TTL before the newcomer: API Gateway has
        closed them long since, and only a lost `$disconnect` left them behind."""
        dead_before_ms = connected_at_ms - CONNECTION_TTL.total_seconds() * 1000
        dead = [connection_id for connection_id, at in connections.items() if at < dead_before_ms]
        if dead:
            UserConnectionsModel(user_id).update(actions=[_entry(connection_id).remove() for connection_id in dead])
        return {connection_id: at for connection_id, at in connections.items() if connection_id not in dead}

    def withdraw(self, user_id: str, connection_id: str) -> bool:
        try:
            UserConnectionsModel(user_id).update(
                actions=[_entry(connection_id).remove()], condition=_entry(connection_id).exists()
            )
        except UpdateError as exc:
            if _conditional_check_failed(exc):
                return False
            raise
        return True

    def remove(self, connection_id: str, user_id: str | None = None) -> None:
        if user_id is None:
            user_id = self.user_of(connection_id)
        if user_id is not None:
            self.withdraw(user_id, connection_id)
        ConnectionModel(connection_id).delete()

    def forget_gone(self, connection_id: str) -> None:
        """After a 410 from the @connections API: forgets the connection, unless it connected
        within the handshake grace (its 410 only means the handshake is still completing, and
        forgetting it would leave it open without a record)."""
        state = self.get(connection_id)
        if state is not None and not may_be_in_handshake(state.connected_at_ms, time.time()):
            self.remove(connection_id, state.user_id)

    def for_user(self, user_id: str) -> list[str]:
        """The user's live connection ids, oldest first: one strongly consistent GetItem."""
        return [ref.connection_id for ref in self.user_connections(user_id)]

    def user_connections(self, user_id: str) -> list[ConnectionRef]:
        try:
            item = UserConnectionsModel.get(user_id, consistent_read=True)
        except DoesNotExist:
            return []
        return _oldest_first(_entries(item))

    def for_users(self, user_ids: Collection[str]) -> dict[str, list[str]]:
        """Each user's live connection ids, oldest first (an empty list for a user with none):
        strongly consistent BatchGetItems of 100 users each, not a read per user."""
        found: dict[str, list[str]] = {user_id: [] for user_id in user_ids}
        if found:
            for item in UserConnectionsModel.batch_get(list(found), consistent_read=True):
                found[item.user_id] = [ref.connection_id for ref in _oldest_first(_entries(item))]
        return found

    def focus_and_versions(self, connection_ids: Collection[str]) -> tuple[dict[str, str], dict[str, int]]:
        """One read of these connections (BatchGetItems of 100 each): the chat each shows now
        (`chat.focus`), for those showing one, and the protocol version each speaks (`hello`; 1
        for one that never said hello, or is gone)."""
        if not connection_ids:
            return {}, {}
        items = ConnectionModel.batch_get(
            list(connection_ids), attributes_to_get=["connectionId", "focusChatId", "protocolVersion"]
        )
        focus: dict[str, str] = {}
        versions = dict.fromkeys(connection_ids, 1)
        for item in items:
            if item.focus_chat_id:
                focus[item.connection_id] = item.focus_chat_id
            if item.protocol_version is not None:
                versions[item.connection_id] = int(item.protocol_version)
        return focus, versions

    def user_of(self, connection_id: str) -> str | None:
        try:
            return ConnectionModel.get(connection_id, consistent_read=True, attributes_to_get=["userId"]).user_id
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
            if not _conditional_check_failed(exc):
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
            if _conditional_check_failed(exc):
                raise _gone(connection_id) from exc
            raise


class DynamoConnectionLiveness:
    """Which connections are still registered, for the idle chain's sweep."""

    def existing(self, connection_ids: frozenset[str]) -> frozenset[str]:
        if not connection_ids:
            return frozenset()
        items = ConnectionModel.batch_get(
            list(connection_ids), consistent_read=True, attributes_to_get=["connectionId"]
        )
        return frozenset(item.connection_id for item in items)
