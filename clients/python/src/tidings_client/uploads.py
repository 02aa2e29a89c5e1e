"""Uploading a file the way a browser does: S3's POST Object with the upload form's fields,
then the file, as `multipart/form-data` (docs/protocol.md, "Attachments"). The body streams
from the file: an upload may be far larger than what a client wants to hold in memory."""

from __future__ import annotations

import io
import mimetypes
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tidings_client.errors import UploadRefusedError

# (bytes sent so far, bytes to send in all): the body's, form fields included.
Progress = Callable[[int, int], None]
FileSource = bytes | str | os.PathLike[str]

CHUNK_BYTES = 64 * 1024
_S3_ERROR = re.compile(r"<Code>(?P<code>[^<]*)</Code>.*?<Message>(?P<message>[^<]*)</Message>", re.DOTALL)


def describe(source: FileSource, name: str | None, content_type: str | None) -> tuple[str, int, str]:
    """The file's name, size and content type: given, else from the path (a guess from the
    name's extension; `application/octet-stream` when there is none)."""
    if isinstance(source, bytes):
        if name is None:
            raise ValueError("name is required when uploading bytes")
        size = len(source)
    else:
        path = Path(source)
        name = name or path.name
        size = path.stat().st_size
    guessed = mimetypes.guess_type(name)[0]
    return name, size, content_type or guessed or "application/octet-stream"


class MultipartBody(io.RawIOBase):
    """The form's fields, then the file (S3 ignores anything after the file), read in chunks;
    `progress` is told after each chunk."""

    def __init__(
        self, fields: dict[str, str], source: FileSource, name: str, content_type: str, progress: Progress | None
    ) -> None:
        super().__init__()
        boundary = f"tidings-{uuid.uuid4().hex}"
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = io.BytesIO()
        for field, value in fields.items():
            head.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'.encode())
        quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
        head.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        tail = f"\r\n--{boundary}--\r\n".encode()
        self._file: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
        size = len(source) if isinstance(source, bytes) else os.fstat(self._file.fileno()).st_size
        self._parts: list[IO[bytes]] = [io.BytesIO(head.getvalue()), self._file, io.BytesIO(tail)]
        self.length = len(head.getvalue()) + size + len(tail)
        self._sent = 0
        self._progress = progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        wanted = CHUNK_BYTES if size is None or size < 0 else size
        chunk = b""
        while self._parts and len(chunk) < wanted:
            piece = self._parts[0].read(wanted - len(chunk))
            if not piece:
                self._parts.pop(0)
                continue
            chunk += piece
        if chunk:
            self._sent += len(chunk)
            if self._progress is not None:
                self._progress(self._sent, self.length)
        return chunk

    def close(self) -> None:
        self._file.close()
        super().close()


def refusal(status: int, text: str) -> UploadRefusedError:
    """S3's error answer to a POST, as an exception with S3's code and message."""
    found = _S3_ERROR.search(text)
    code, message = (found["code"], found["message"]) if found else (f"HTTP_{status}", text.strip()[:200])
    return UploadRefusedError(f"S3 refused the upload: {message}", code=code, status=status)


def ticket_id(ticket: Any) -> str:
    """The attachment id of an upload form's answer (`201 {attachmentId, upload, expiresAt}`)."""
    if not isinstance(ticket, dict) or not isinstance(ticket.get("attachmentId"), str):
        raise ValueError(f"not an upload form: {ticket!r}")
    return ticket["attachmentId"]
