"""S3 event notifications, emulated: each object written to a bucket with a declared
`BucketSubscription` (under its prefix) invokes the function asynchronously with the event S3
sends (`ObjectCreated:Put` or `:Post`, one record), as S3 does on AWS, with Lambda's asynchronous
retries and on-failure queue (`async_invocations`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from tidings.kernel.declaration import Application, BucketSubscription
from tidings_local.async_invocations import invoke_async
from tidings_local.aws import ACCOUNT_ID, region
from tidings_local.lambdas import Lambdas


def s3_event(bucket: str, key: str, size: int, method: str) -> dict[str, Any]:
    """S3's event notification of one object created (event structure version 2.1)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region(),
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": f"ObjectCreated:{method.title()}",
                "userIdentity": {"principalId": f"AWS:{ACCOUNT_ID}"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "tidings-local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": ACCOUNT_ID},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    # S3 URL-encodes the key in events (spaces as '+'), as the handler expects.
                    "object": {"key": _event_key(key), "size": size, "sequencer": uuid.uuid4().hex[:16].upper()},
                },
            }
        ]
    }


def _event_key(key: str) -> str:
    return quote_plus(key, safe="/")


class BucketNotifications:
    """Delivers the declared buckets' ObjectCreated events (see the module docstring)."""

    def __init__(
        self,
        application: Application,
        bucket_names: Mapping[str, str],
        queue_urls: Mapping[str, str],
        lambdas: Lambdas,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._subscriptions: dict[str, list[BucketSubscription]] = {}
        for subscription in application.bucket_subscriptions:
            self._subscriptions.setdefault(bucket_names[subscription.bucket.id], []).append(subscription)
        self._queue_urls = queue_urls
        self._lambdas = lambdas
        self._loop = loop
        self._pending: set[asyncio.Future[None]] = set()

    def object_created(self, bucket: str, key: str, size: int, method: str) -> None:
        """Called on moto's server threads when an object was written."""
        for subscription in self._subscriptions.get(bucket, []):
            if key.startswith(subscription.prefix):
                event = s3_event(bucket, key, size, method)
                future = asyncio.run_coroutine_threadsafe(self._deliver(subscription, event), self._loop)
                self._pending.add(future)  # type: ignore[arg-type]
                future.add_done_callback(self._pending.discard)  # type: ignore[arg-type]

    async def _deliver(self, subscription: BucketSubscription, event: dict[str, Any]) -> None:
        url = self._queue_urls[subscription.on_failure.id]
        await invoke_async(self._lambdas, subscription.function, event, url)
