"""The files bucket's adapter (S3): presigned upload forms and downloads, reads, tags, deletes.

Nothing but a presigned URL ever exposes an object. A presigned URL acts with the permissions of
its signer, the function's role, so each function is granted exactly the actions its URLs and
calls need (`declaration.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config

# SigV4 (the only signature S3 takes in every region); the addressing style is botocore's
# choice: virtual-hosted on AWS, path-style for an endpoint given by address (`tidings dev`).
_CONFIG = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 3})
READ_CHUNK_BYTES = 1024 * 1024


def content_disposition(file_name: str) -> str:
    """`attachment` with the file's name (RFC 6266): an ASCII fallback and the exact UTF-8 name."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


class S3Objects:
    def __init__(self, bucket: str, region: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client or boto3.client("s3", region_name=region, config=_CONFIG)

    def upload_form(
        self, key: str, content_type: str, size: int, expires_in: int, tag: tuple[str, str]
    ) -> tuple[str, dict[str, str]]:
        """A presigned POST whose policy pins the key, the Content-Type, the exact size and the
        object's tag (what the lifecycle rule expires unless the tag is removed)."""
        tagging = f"<Tagging><TagSet><Tag><Key>{tag[0]}</Key><Value>{tag[1]}</Value></Tag></TagSet></Tagging>"
        form = self._client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type, "tagging": tagging},
            Conditions=[{"Content-Type": content_type}, {"tagging": tagging}, ["content-length-range", size, size]],
            ExpiresIn=expires_in,
        )
        return str(form["url"]), {str(k): str(v) for k, v in form["fields"].items()}

    def download_url(self, key: str, file_name: str, content_type: str, expires_in: int) -> str:
        """A presigned GET that answers with the file's name and type."""
        return str(
            self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": content_disposition(file_name),
                    "ResponseContentType": content_type,
                },
                ExpiresIn=expires_in,
            )
        )

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes, a chunk at a time (an upload may be far larger than memory allows)."""
        body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK_BYTES)
        finally:
            body.close()

    def tags(self, key: str) -> dict[str, str]:
        tag_set = self._client.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        return {str(tag["Key"]): str(tag["Value"]) for tag in tag_set}

    def untag(self, key: str) -> None:
        """Removes the object's tags (the unsent mark, and GuardDuty's verdict, already recorded)."""
        self._client.delete_object_tagging(Bucket=self.bucket, Key=key)

    def delete(self, key: str) -> None:
        """Idempotent: deleting a key that is gone succeeds."""
        self._client.delete_object(Bucket=self.bucket, Key=key)
