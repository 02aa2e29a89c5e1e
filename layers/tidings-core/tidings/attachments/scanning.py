"""The scan of every upload (docs/protocol.md, "Attachments"), behind the `Scanner` port: the
verdict is recorded, an infected file is deleted, and the uploader's connections are told.

Two scanners: `EicarScanner` reads the file and flags the EICAR test file (`tidings dev`, tests);
`GuardDutyScanner` reads the verdict Amazon GuardDuty Malware Protection for S3 tags the object
with (docs/operations.md, "Attachment scanning"), waiting for the tag, as GuardDuty scans after
the upload on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass
from typing import Literal, Protocol

from tidings.attachments.attachment import Attachment
from tidings.attachments.declaration import UPLOAD_PREFIX
from tidings.attachments.models import CLEAN, INFECTED, PENDING
from tidings.attachments.wire import AttachmentScannedPayload
from tidings.kernel.connections_api import ConnectionDirectory, ConnectionPoster, DeliveryRetries, post_to_user
from tidings.kernel.observability import logger
from tidings.kernel.wire import encode, server_frame

Verdict = Literal["clean", "infected"]

# The antivirus industry's test file (eicar.org): every scanner flags it, nothing else contains it.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!H+H*"

# GuardDuty Malware Protection for S3 tags each scanned object with its result.
GUARDDUTY_TAG = "GuardDutyMalwareScanStatus"
GUARDDUTY_POLL_SECONDS = 5.0


class NotScannedYet(Exception):
    """The scanner has no verdict yet; ask again later."""


class ScanFailed(Exception):
    """No verdict can be had now (the scanner failed or was refused); the attachment stays
    pending, and the invocation fails so that Lambda retries it."""


class Scanner(Protocol):
    def verdict(self, key: str) -> Verdict:
        """The object's verdict; raises NotScannedYet or ScanFailed."""


class ObjectBytes(Protocol):
    def chunks(self, key: str) -> Iterator[bytes]: ...


class ObjectTags(Protocol):
    def tags(self, key: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class EicarScanner:
    """Flags the EICAR test string anywhere in the file, read a chunk at a time."""

    objects: ObjectBytes

    def verdict(self, key: str) -> Verdict:
        tail = b""
        for chunk in self.objects.chunks(key):
            window = tail + chunk
            if EICAR in window:
                return INFECTED
            tail = window[-(len(EICAR) - 1) :]  # the string may straddle two chunks
        return CLEAN


@dataclass(frozen=True)
class GuardDutyScanner:
    """GuardDuty's `GuardDutyMalwareScanStatus` object tag: NO_THREATS_FOUND is clean;
    THREATS_FOUND is infected, and so is UNSUPPORTED (a password-protected archive, say: what
    cannot be scanned is not vouched for); ACCESS_DENIED and FAILED are GuardDuty failing, not
    the file, so the attachment stays pending and the scan is retried."""

    objects: ObjectTags

    def verdict(self, key: str) -> Verdict:
        status = self.objects.tags(key).get(GUARDDUTY_TAG)
        if status is None:
            raise NotScannedYet(f"{key} has no {GUARDDUTY_TAG} tag yet")
        if status == "NO_THREATS_FOUND":
            return CLEAN
        if status in ("THREATS_FOUND", "UNSUPPORTED"):
            return INFECTED
        raise ScanFailed(f"GuardDuty could not scan {key}: {status}")


class ScanRecords(Protocol):
    def get(self, attachment_id: str) -> Attachment | None: ...

    def settle(self, attachment_id: str, status: str) -> bool: ...


class Deleter(Protocol):
    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class Uploader:
    """Where to tell the uploader: their connections, and how to post to them."""

    poster: ConnectionPoster
    connections: ConnectionDirectory
    retries: DeliveryRetries | None

    def tell(self, user_id: str, frame: str) -> None:
        post_to_user(self.poster, self.connections, self.connections.for_user(user_id), [frame], self.retries)


@dataclass(frozen=True)
class ScanService:
    records: ScanRecords
    scanner: Scanner
    objects: Deleter
    uploader: Uploader
    _: KW_ONLY
    wait_seconds: float
    sleep: Callable[[float], None]
    poll_seconds: float = GUARDDUTY_POLL_SECONDS

    def object_created(self, key: str) -> str | None:
        """Scans the upload at `key`; the verdict, or None when there was nothing to scan (not
        an upload, no attachment of that key, or one already scanned: S3 delivers events at
        least once). Raises ScanFailed when no verdict came in time."""
        if not key.startswith(UPLOAD_PREFIX):
            return None
        attachment = self.records.get(key.removeprefix(UPLOAD_PREFIX))
        if attachment is None or attachment.object_key != key:
            logger.warning("an upload without its attachment (left to the lifecycle rule)", extra={"key": key})
            return None
        if attachment.status != PENDING:
            return None
        verdict = self._wait_for_verdict(key)
        # The verdict first: were the delete to fail, the file is infected and refused anyway,
        # and the lifecycle rule removes it with the other unsent uploads.
        settled = self.records.settle(attachment.attachment_id, verdict)
        if verdict == INFECTED:
            self.objects.delete(key)
        if settled:
            logger.info("attachment scanned", extra={"attachmentId": attachment.attachment_id, "status": verdict})
            payload = AttachmentScannedPayload(
                attachmentId=attachment.attachment_id, chatId=attachment.chat_id, status=verdict
            )
            self.uploader.tell(attachment.uploader_id, encode(server_frame("attachment.scanned", payload)))
        return verdict

    def _wait_for_verdict(self, key: str) -> Verdict:
        waited = 0.0
        while True:
            try:
                return self.scanner.verdict(key)
            except NotScannedYet as exc:
                if waited >= self.wait_seconds:
                    raise ScanFailed(f"no verdict after {waited:.0f} s: {exc}") from exc
            pause = min(self.poll_seconds, self.wait_seconds - waited)
            self.sleep(pause)
            waited += pause
