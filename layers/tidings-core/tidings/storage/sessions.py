"""DynamoDB implementations of the session stores: revocations (on Users) and refresh tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from tidings.domain.credentials import RefreshTokenRecord
from tidings.storage.models import RefreshTokenModel, UserModel


class DynamoRevocations:
    def revoked_before(self, user_id: str) -> int | None:
        try:
            user = UserModel.get(user_id, consistent_read=True, attributes_to_get=["revokedBefore"])
        except DoesNotExist:
            return None
        return None if user.revoked_before is None else int(user.revoked_before)

    def revoke(self, user_id: str, at: int) -> None:
        # One UpdateItem; a user with no item yet (a token for an id nobody registered) gets one
        # whose display name is the id, as `DynamoUserDirectory` shows it anyway.
        UserModel(user_id).update(
            actions=[
                UserModel.revoked_before.set(at),
                UserModel.display_name.set(UserModel.display_name | user_id),
            ]
        )


def _record(item: RefreshTokenModel) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        token_hash=item.token_hash,
        user_id=item.user_id,
        family_id=item.family_id,
        issued_at=int(item.issued_at),
        expires_at=int(item.expires_at.timestamp()),
        rotated_at=None if item.rotated_at is None else int(item.rotated_at),
    )


def _model(record: RefreshTokenRecord) -> RefreshTokenModel:
    return RefreshTokenModel(
        record.token_hash,
        user_id=record.user_id,
        family_id=record.family_id,
        issued_at=record.issued_at,
        rotated_at=record.rotated_at,
        expires_at=datetime.fromtimestamp(record.expires_at, UTC),
    )


class DynamoRefreshTokenStore:
    def __init__(self) -> None:
        self._connection = Connection(region=RefreshTokenModel.Meta.region)

    def get(self, token_hash: str) -> RefreshTokenRecord | None:
        try:
            return _record(RefreshTokenModel.get(token_hash, consistent_read=True))
        except DoesNotExist:
            return None

    def add(self, record: RefreshTokenRecord) -> None:
        _model(record).save(condition=RefreshTokenModel.token_hash.does_not_exist())

    def rotate(self, old_hash: str, new: RefreshTokenRecord, at: int) -> bool:
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.update(
                    RefreshTokenModel(old_hash),
                    actions=[RefreshTokenModel.rotated_at.set(at)],
                    condition=RefreshTokenModel.token_hash.exists() & RefreshTokenModel.rotated_at.does_not_exist(),
                )
                transaction.save(_model(new), condition=RefreshTokenModel.token_hash.does_not_exist())
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in exc.cancellation_reasons or []]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def invalidate(self, user_id: str, family_id: str | None = None) -> int:
        doomed = [
            item
            for item in RefreshTokenModel.by_user.query(user_id)
            if family_id is None or item.family_id == family_id
        ]
        with RefreshTokenModel.batch_write() as batch:
            for item in doomed:
                batch.delete(item)
        return len(doomed)
