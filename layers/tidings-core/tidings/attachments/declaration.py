"""Attachments' part of the application (docs/protocol.md, "Attachments"): the files bucket, the
upload and download URLs over REST, and the scan of every upload (S3's ObjectCreated event)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tidings.attachments.models import ATTACHMENTS
from tidings.chats.models import MEMBERS, USERS
from tidings.kernel.connections_api import DELIVERY_RETRIES
from tidings.kernel.declaration import (
    Access,
    Bucket,
    BucketAccess,
    BucketSubscription,
    Feature,
    Function,
    HttpRoute,
    Queue,
    Table,
)
from tidings.kernel.environment import FeatureSettings
from tidings.kernel.ephemeral import EPHEMERAL
from tidings.kernel.ratelimits import Rule
from tidings.sessions.declaration import JWT_SIGNING_KEY, TOKEN_VERIFICATION_SETTINGS
from tidings.sessions.models import CONNECTION_RECORDS

MIB = 1024 * 1024
# Uploads land under this prefix, tagged unsent by their form; what is never sent with a
# message (which removes the tag) is deleted by the bucket's lifecycle rule after a day
# (docs/architecture.md, "Attachments").
UPLOAD_PREFIX = "uploads/"
UNSENT_TAG = ("tidings-unsent", "true")
UPLOADS = Rule("upload", capacity=10, refill_per_second=10 / 60)  # 10 upload URLs a minute per user


class AttachmentSettings(FeatureSettings, prefix="ATTACHMENTS_"):
    """`ATTACHMENTS_MAX_BYTES`: the largest upload (100 MiB by default, at most 5 GiB, S3's
    largest single POST). `ATTACHMENTS_SCANNER`: which scanner gives the verdicts: `guardduty`
    (Amazon GuardDuty Malware Protection for S3's result tag; the default, so that a deployment
    never takes a file as clean without a real scan) or `eicar` (flags the EICAR test file only:
    `tidings dev` and tests). `ATTACHMENTS_SCAN_WAIT_SECONDS`: how long a scan waits for
    GuardDuty's tag before the invocation fails and Lambda retries it."""

    max_bytes: int = Field(100 * MIB, ge=1, le=5 * 1024 * MIB)
    scanner: Literal["guardduty", "eicar"] = "guardduty"
    scan_wait_seconds: float = Field(240, gt=0, le=840)


ATTACHMENT_FILES = Bucket(
    "AttachmentFiles", expiring_prefix=UPLOAD_PREFIX, expiring_tag=UNSENT_TAG, expire_after_days=1, browser_uploads=True
)
# What message.send needs of attachments: their items (checked, then marked sent in the
# message's transaction) and the untagging of their files.
SENDING_ATTACHMENTS: tuple[Table, Access] = (ATTACHMENTS, "read_write")
SENDING_FILES: tuple[Bucket, tuple[BucketAccess, ...]] = (ATTACHMENT_FILES, ("untag",))
# What deleting a message (message.delete, a user's erasure) needs: its attachments' items
# (refused in the delete's transaction, then deleted) and their files.
DELETING_ATTACHMENTS: tuple[Table, Access] = (ATTACHMENTS, "read_write")
DELETING_FILES: tuple[Bucket, tuple[BucketAccess, ...]] = (ATTACHMENT_FILES, ("delete",))
# Scans Lambda gave up on (after its two retries of the asynchronous invocation); each stays
# `pending` (never sendable or downloadable) and the queue's alarm tells the operator.
ATTACHMENT_SCAN_FAILURES = Queue("AttachmentScanFailures")

ATTACHMENTS_API = Function(
    "AttachmentsApi",
    "attachments",
    "attachments_api.handler",
    "POST /api/chats/{chatId}/attachments (an upload URL) and GET /api/attachments/{attachmentId} (a download)",
    tables=(
        (ATTACHMENTS, "read_write"),
        (MEMBERS, "read"),
        (USERS, "read"),  # token revocations
        (EPHEMERAL, "read_write"),  # the upload rate limit
    ),
    secrets=(JWT_SIGNING_KEY,),
    # A presigned URL acts with its signer's permissions: the upload's PutObject, the download's GetObject.
    buckets=((ATTACHMENT_FILES, ("put", "get")),),
    settings=(AttachmentSettings, *TOKEN_VERIFICATION_SETTINGS),
)
ATTACHMENT_SCAN = Function(
    "AttachmentScan",
    "attachments",
    "attachment_scans.handler",
    "Scans each upload (S3 ObjectCreated): clean or infected (deleted), and tells the uploader",
    tables=((ATTACHMENTS, "read_write"), *CONNECTION_RECORDS),  # the uploader's connections
    buckets=((ATTACHMENT_FILES, ("get", "get_tags", "delete")),),
    send_queues=(DELIVERY_RETRIES,),
    manages_connections=True,
    settings=(AttachmentSettings,),
    memory_mb=512,
    timeout_seconds=300,
)

FEATURE = Feature(
    "attachments",
    functions=(ATTACHMENTS_API, ATTACHMENT_SCAN),
    http_routes=(
        HttpRoute("POST", "/api/chats/{chatId}/attachments", ATTACHMENTS_API),
        HttpRoute("GET", "/api/attachments/{attachmentId}", ATTACHMENTS_API),
    ),
    bucket_subscriptions=(
        BucketSubscription(ATTACHMENT_FILES, ATTACHMENT_SCAN, ATTACHMENT_SCAN_FAILURES, prefix=UPLOAD_PREFIX),
    ),
)
