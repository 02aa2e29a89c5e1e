"""The sessions' tables: open connections (by id, and per user) and refresh tokens."""

from __future__ import annotations

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from tidings.kernel.declaration import Access, Table, TableMeta
from tidings.kernel.table_model import TableModel


class ConnectionsByUser(GlobalSecondaryIndex["ConnectionModel"]):
    """A user's connections by index. Tidings itself no longer reads it (a GSI is eventually
    consistent, so concurrent `$connect`s each saw a partial set): `UserConnectionsModel` is
    the record of a user's live connections. Kept until nothing queries it any more."""

    class Meta:
        index_name = "byUser"
        projection = KeysOnlyProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    connected_at = NumberAttribute(range_key=True, attr_name="connectedAt")


class ConnectionModel(TableModel):
    """One open connection, by id: what every frame of it and every timer needs to know.
    A user's connections are found through `UserConnectionsModel`."""

    class Meta(TableMeta):
        table_name = "tidings-connections"

    connection_id = UnicodeAttribute(hash_key=True, attr_name="connectionId")
    user_id = UnicodeAttribute(attr_name="userId")
    connected_at = NumberAttribute(attr_name="connectedAt")  # epoch milliseconds
    token_expires_at = NumberAttribute(attr_name="tokenExpiresAt")  # epoch seconds
    # Set by `hello`; a connection that never said hello speaks version 1.
    protocol_version = NumberAttribute(attr_name="protocolVersion", null=True)
    client = UnicodeAttribute(null=True)  # `hello.client`, e.g. "web/1.4.2"
    # The chat this connection shows now (`chat.focus`); notifications read it.
    focus_chat_id = UnicodeAttribute(attr_name="focusChatId", null=True)
    # API Gateway closes every connection after 2 h; TTL sweeps items whose $disconnect was lost.
    expires_at = TTLAttribute(attr_name="expiresAt")
    by_user = ConnectionsByUser()


class UserConnectionsModel(TableModel):
    """A user's live connections on one item: `connections` maps connectionId -> connectedAt
    (epoch ms). Every change is one UpdateItem that returns the item as it left it, so a
    `$connect` sees exactly the connections it counts against the limit, and revoke exactly
    the ones it closes (a GSI would be eventually consistent). Fan-out reads it by user."""

    class Meta(TableMeta):
        table_name = "tidings-user-connections"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    # A raw map (plain MapAttribute), so expressions can address one connection's entry.
    connections: MapAttribute[str, int] = MapAttribute(default=dict)
    # The last connect + 3 h: every entry is dead by then (API Gateway's 2 h limit).
    expires_at = TTLAttribute(attr_name="expiresAt")


class RefreshTokensByUser(GlobalSecondaryIndex["RefreshTokenModel"]):
    """A user's refresh tokens, to invalidate them all on revoke (or a family on reuse)."""

    class Meta:
        index_name = "byUser"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    issued_at = NumberAttribute(range_key=True, attr_name="issuedAt")


class RefreshTokenModel(TableModel):
    """A refresh token, stored only as its SHA-256. Rotated on every use: the used one is kept,
    marked `rotatedAt`, until its TTL so that a reuse is recognised as one (and its family,
    every token descended from the same sign-in, is invalidated)."""

    class Meta(TableMeta):
        table_name = "tidings-refresh-tokens"

    token_hash = UnicodeAttribute(hash_key=True, attr_name="tokenHash")
    user_id = UnicodeAttribute(attr_name="userId")
    family_id = UnicodeAttribute(attr_name="familyId")
    issued_at = NumberAttribute(attr_name="issuedAt")  # epoch seconds
    rotated_at = NumberAttribute(attr_name="rotatedAt", null=True)
    # The token this one was rotated into: a reuse walks the chain to invalidate every
    # descendant, without waiting for the byUser index to list the newest.
    rotated_to = UnicodeAttribute(attr_name="rotatedTo", null=True)
    expires_at = TTLAttribute(attr_name="expiresAt")  # issued + 7 days
    by_user = RefreshTokensByUser()


# --- the tables --------------------------------------------------------------------------------

CONNECTIONS = Table("Connections", ConnectionModel)
# A user's live connections on one item (the connection limit, revoke, fan-out by user).
USER_CONNECTIONS = Table("UserConnections", UserConnectionsModel)
REFRESH_TOKENS = Table("RefreshTokens", RefreshTokenModel)

# A connection's own record and its entry in its user's: whatever opens, closes, finds by user
# or forgets a connection (`DynamoConnectionStore`) writes both.
CONNECTION_RECORDS: tuple[tuple[Table, Access], ...] = ((CONNECTIONS, "read_write"), (USER_CONNECTIONS, "read_write"))
