"""Token buckets in the Ephemeral table, written with optimistic concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DoesNotExist, PutError

from tidings.domain.ratelimits import Bucket
from tidings.storage.models import EphemeralModel


class DynamoBucketStore:
    def load(self, key: str) -> Bucket | None:
        try:
            item = EphemeralModel.get(key, consistent_read=True)
        except DoesNotExist:
            return None
        if item.tokens is None or item.updated_at is None:
            return None
        return Bucket(tokens=float(item.tokens), updated_at=float(item.updated_at))

    def save_if_unchanged(self, key: str, bucket: Bucket, previous: Bucket | None, ttl_seconds: int) -> bool:
        unchanged = (
            EphemeralModel.key.does_not_exist()
            if previous is None
            else EphemeralModel.updated_at == previous.updated_at
        )
        item = EphemeralModel(
            key,
            tokens=bucket.tokens,
            updated_at=bucket.updated_at,
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
        )
        try:
            item.save(condition=unchanged)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
