"""Construction of attachments' services, from a function's environment. The membership check,
the rate limiter, the @connections poster and the uploader's connections are passed in by the
handler that composes them.

Each builder imports the services it builds, so a function loads the modules of what it builds
and no other (`tests/infrastructure/test_cold_start_imports.py`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tidings.attachments.declaration import ATTACHMENT_FILES, AttachmentSettings
from tidings.attachments.models import ATTACHMENTS
from tidings.kernel.environment import Environment

if TYPE_CHECKING:
    from tidings.attachments.attachment_store import DynamoAttachmentStore
    from tidings.attachments.message_attachments import SentAttachments
    from tidings.attachments.object_bucket import S3Objects
    from tidings.attachments.scanning import Scanner, ScanService, Uploader
    from tidings.attachments.upload_erasure import UploadErasure
    from tidings.attachments.uploading import AttachmentService, Members
    from tidings.kernel.ratelimits import RateLimiter


def attachment_store(environment: Environment) -> DynamoAttachmentStore:
    from tidings.attachments.attachment_store import DynamoAttachmentStore

    environment.require(ATTACHMENTS)
    return DynamoAttachmentStore()


def files(environment: Environment) -> S3Objects:
    """The files bucket, as this function was granted it."""
    from tidings.attachments.object_bucket import S3Objects

    return S3Objects(environment.bucket_name(ATTACHMENT_FILES), environment.region)


def attachments(environment: Environment, *, members: Members, limiter: RateLimiter) -> AttachmentService:
    """Upload forms and download URLs."""
    from tidings.attachments.uploading import AttachmentService

    return AttachmentService(
        attachment_store(environment),
        files(environment),
        members,
        limiter,
        max_bytes=environment.settings(AttachmentSettings).max_bytes,
        now=time.time,
    )


def scanner(environment: Environment, objects: S3Objects) -> Scanner:
    """The scanner the deployment chose (`ATTACHMENTS_SCANNER`)."""
    from tidings.attachments.scanning import EicarScanner, GuardDutyScanner

    if environment.settings(AttachmentSettings).scanner == "eicar":
        return EicarScanner(objects)
    return GuardDutyScanner(objects)


def scanning(environment: Environment, *, uploader: Uploader) -> ScanService:
    from tidings.attachments.scanning import ScanService

    objects = files(environment)
    return ScanService(
        attachment_store(environment),
        scanner(environment, objects),
        objects,
        uploader,
        wait_seconds=environment.settings(AttachmentSettings).scan_wait_seconds,
        sleep=time.sleep,
    )


def sent_attachments(environment: Environment) -> SentAttachments:
    """What message.send checks, keeps and marks sent (messaging's ports)."""
    from tidings.attachments.message_attachments import SentAttachments

    return SentAttachments(attachment_store(environment), files(environment))


def upload_erasure(environment: Environment) -> UploadErasure:
    """What a user's erasure deletes of their uploads (the admin feature's port)."""
    from tidings.attachments.upload_erasure import UploadErasure

    return UploadErasure(attachment_store(environment), files(environment))
