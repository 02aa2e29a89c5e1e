"""DynamoDB implementations of the session stores: revocations and provisioning (on Users),
and refresh tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from tidings.chats.models import UserModel
from tidings.sessions.models import RefreshTokenModel
from tidings.sessions.session_service import UserStanding

if TYPE_CHECKING:
    from tidings.sessions.credentials import RefreshTokenRecord


# What `revokedBefore` reads as for a user being erased or erased (`UserModel.erasure`): every
# token, whenever issued, until the platform provisions the user again.
EVERY_TOKEN = 2**53


class DynamoRevocations:
    def revoked_before(self, user_id: str) -> int | None:
        standing = self.standing(user_id)
        return None if standing is None else standing.revoked_before

    def standing(self, user_id: str) -> UserStanding | None:
        """The user's revocation, or None when Tidings has no such user: one consistent read."""
        try:
            user = UserModel.get(
                user_id, consistent_read=True, attributes_to_get=["userId", "revokedBefore", "erasure"]
            )
        except DoesNotExist:
            return None
        if user.erasure is not None:
            return UserStanding(EVERY_TOKEN)
        return UserStanding(None if user.revoked_before is None else int(user.revoked_before))

    def revoke(self, user_id: str, at: int) -> None:
        # One UpdateItem; a user with no item yet (a token for an id nobody registered) gets one
        # whose display name is the id, as `DynamoUserDirectory` shows it anyway.
        UserModel(user_id).update(
            actions=[
                UserModel.revoked_before.set(at),
                UserModel.display_name.set(UserModel.display_name | user_id),
            ]
        )


class DynamoProvisioning:
    """Just-in-time provisioning: creates a user that does not exist yet."""

    def provision(self, user_id: str, display_name: str) -> None:
        # Conditional: a concurrent first `$connect` of the same user, or a user created in the
        # meantime by other means, keeps what it wrote.
        try:
            UserModel(user_id, display_name=display_name).save(condition=UserModel.user_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise


def _record(item: RefreshTokenModel) -> RefreshTokenRecord:
    # Imported here: the revocations (the authorizer's) live in this module too, and only the
    # refresh tokens' store needs the credentials' types.
    from tidings.sessions.credentials import RefreshTokenRecord

    return RefreshTokenRecord(
        token_hash=item.token_hash,
        user_id=item.user_id,
        family_id=item.family_id,
        issued_at=int(item.issued_at),
        expires_at=int(item.expires_at.timestamp()),
        rotated_at=None if item.rotated_at is None else int(item.rotated_at),
        rotated_to=item.rotated_to,
    )


def _model(record: RefreshTokenRecord) -> RefreshTokenModel:
    return RefreshTokenModel(
        record.token_hash,
        user_id=record.user_id,
        family_id=record.family_id,
        issued_at=record.issued_at,
        rotated_at=record.rotated_at,
        rotated_to=record.rotated_to,
        expires_at=datetime.fromtimestamp(record.expires_at, UTC),
    )


_ROTATE_ATTEMPTS = 3


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
        unused = RefreshTokenModel.token_hash.exists() & RefreshTokenModel.rotated_at.does_not_exist()
        rotated: list[Action] = [RefreshTokenModel.rotated_at.set(at), RefreshTokenModel.rotated_to.set(new.token_hash)]
        for _ in range(_ROTATE_ATTEMPTS):
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    transaction.update(RefreshTokenModel(old_hash), actions=rotated, condition=unused)
                    transaction.save(_model(new), condition=RefreshTokenModel.token_hash.does_not_exist())
                return True
            except TransactWriteError as exc:
                # The cancellation reasons come in the order of the transaction's items, and
                # PynamoDB sends Puts before Updates whatever order they were added in: the
                # positions say nothing reliable. The old token itself says what happened.
                now = self.get(old_hash)
                if now is not None and now.rotated_to == new.token_hash:
                    return True  # our own write went through (a retried request found it done)
                if now is None or now.rotated_at is not None:
                    return False  # another use of the same token rotated (or revoke deleted) it first
                codes = {reason.code for reason in exc.cancellation_reasons or [] if reason is not None}
                if "TransactionConflict" not in codes:
                    raise
                # A concurrent transaction held the old token: try again, and its outcome decides.
        raise RuntimeError(f"refresh token rotation kept conflicting after {_ROTATE_ATTEMPTS} attempts")

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

    def invalidate_descendants(self, token_hash: str) -> int:
        deleted = 0
        next_hash: str | None = token_hash
        while next_hash is not None:
            record = self.get(next_hash)
            if record is None:
                break
            # Deleted only if it still names the successor just read: a token rotated between
            # the read and the delete is read again, so the walk never stops short of the newest.
            unchanged = (
                RefreshTokenModel.rotated_to.does_not_exist()
                if record.rotated_to is None
                else RefreshTokenModel.rotated_to == record.rotated_to
            )
            try:
                RefreshTokenModel(next_hash).delete(condition=unchanged)
            except DeleteError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue
                raise
            deleted += 1
            next_hash = record.rotated_to
        return deleted
