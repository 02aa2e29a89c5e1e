"""Attachments' payloads (docs/protocol.md, "Attachments"): the upload request, its answer, and the
`attachment.scanned` frame."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from tidings.kernel.lazy_model import LazyModel
from tidings.kernel.wire import Identifier, Payload, ServerPayload, plain

MAX_NAME_CHARS = 255
# The top-level media types (RFC 6838's registry), then a subtype of RFC 6838's name characters.
# No parameters: the upload's Content-Type must equal it exactly (the POST policy pins it).
_TOP_LEVEL_TYPES = ("application", "audio", "font", "image", "message", "model", "multipart", "text", "video")
_CONTENT_TYPE = re.compile(
    rf"(?:{'|'.join(_TOP_LEVEL_TYPES)})/[a-z0-9][a-z0-9!#$&^_.+-]{{0,126}}", re.ASCII | re.IGNORECASE
)


def _file_name(value: str) -> str:
    """A file's own name, never a path: a client saves it under this name, so no separator,
    no `.`/`..`, nothing that starts or ends in a space."""
    plain(value)
    if "/" in value or "\\" in value:
        raise ValueError("must be a file name, not a path (no / or \\)")
    if value.strip(". ") == "" or value != value.strip():
        raise ValueError("must be a file name (not only dots, no leading or trailing spaces)")
    return value


def _content_type(value: str) -> str:
    if not _CONTENT_TYPE.fullmatch(value):
        raise ValueError("must be a media type like application/pdf or image/png, without parameters")
    return value.lower()


FileName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_file_name)]
ContentType = Annotated[str, StringConstraints(min_length=3, max_length=255), AfterValidator(_content_type)]


class UploadRequest(Payload):
    """`POST /api/chats/{chatId}/attachments`. `size` is the exact byte count of the file: the
    upload's policy accepts that size and no other."""

    name: FileName
    # Strict: a JSON integer, not `"12"` or `1e3`. The deployment's limit is checked after parsing.
    size: int = Field(ge=1, le=5 * 1024**3, strict=True)
    contentType: ContentType


class ChatAttachmentsPath(LazyModel):
    chatId: Identifier


class AttachmentPath(LazyModel):
    attachmentId: Identifier


# --- what the server sends -------------------------------------------------------------------

AttachmentStatus = Literal["pending", "clean", "infected"]


class UploadForm(ServerPayload):
    """Where and how to upload: POST `url` as `multipart/form-data` with every field of `fields`
    and then the file as the field `file` (S3's POST Object, as a browser form sends it)."""

    url: str
    fields: dict[str, str]


class UploadTicket(ServerPayload):
    """201 of `POST /api/chats/{chatId}/attachments`."""

    attachmentId: str
    upload: UploadForm
    expiresAt: str = Field(description="ISO time after which the upload form is refused")


class AttachmentScannedPayload(ServerPayload):
    """`attachment.scanned`, to the uploader's connections: the scan's verdict. `clean`: it may
    be sent; `infected`: it was deleted and cannot be."""

    attachmentId: str
    chatId: str
    status: Literal["clean", "infected"]
