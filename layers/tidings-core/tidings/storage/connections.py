"""DynamoDB implementation of the connection store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DoesNotExist

from tidings.storage.models import ConnectionModel

# API Gateway closes every connection after 2 hours; the TTL sweeps items whose $disconnect
# never arrived, with a margin.
CONNECTION_TTL = timedelta(hours=3)


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

    def for_user(self, user_id: str) -> list[str]:
        """The user's connection ids, oldest first, through the byUser index (no Scan)."""
        return [c.connection_id for c in ConnectionModel.by_user.query(user_id)]

    def user_of(self, connection_id: str) -> str | None:
        try:
            return ConnectionModel.get(connection_id).user_id
        except DoesNotExist:
            return None
