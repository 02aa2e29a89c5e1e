"""The HTTP API (`/api/...`), with the standard library: `urllib` in a worker thread."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from typing import Any

from tidings_client.errors import HttpError
from tidings_client.tokens import TokenSource, resolve_token
from tidings_client.uploads import FileSource, MultipartBody, Progress, describe, refusal, ticket_id


@dataclass(frozen=True)
class RestResponse:
    """An HTTP answer as it came: its `status`, `headers` (lower-case names) and body `text`."""

    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        """The body decoded as JSON (None for an empty body); ValueError if it is not JSON."""
        return json.loads(self.text) if self.text.strip() else None


class RestClient:
    """`Authorization: Bearer <token>` calls against `api_url` (for `tidings dev`:
    `http://127.0.0.1:8080`; on AWS the HTTP API's stage URL). Errors raise `HttpError` with the
    status and the body's `error.code` / `error.message` (`retry_after_ms` from `Retry-After`);
    `fetch` returns any answer as it came, for tools and tests that look at the status."""

    def __init__(self, api_url: str, get_token: TokenSource | None = None, *, timeout: float = 30.0) -> None:
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be http(s)://..., not {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self._get_token = get_token
        self.timeout = timeout

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        """The decoded JSON answer (None for an empty body, e.g. 204); any status but 2xx raises
        `HttpError`."""
        response = await self.fetch(method, path, body, query=query, auth=auth)
        if not 200 <= response.status < 300:
            raise _http_error(response)
        return response.json()

    async def fetch(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> RestResponse:
        """One call, answered as it came: error statuses are returned, not raised."""
        url = self.api_url + "/" + path.lstrip("/")
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        if auth:
            if self._get_token is None:
                raise ValueError("this RestClient has no get_token for authenticated calls")
            headers["Authorization"] = f"Bearer {await resolve_token(self._get_token)}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method.upper())  # noqa: S310
        return await asyncio.to_thread(self._perform, request)

    def _perform(self, request: urllib.request.Request) -> RestResponse:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            return _response(exc.code, exc.headers, exc.read())

    async def get(self, path: str, **query: Any) -> Any:
        return await self.request("GET", path, query=query)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.request("POST", path, body)

    async def put(self, path: str, body: Any = None) -> Any:
        return await self.request("PUT", path, body)

    async def patch(self, path: str, body: Any = None) -> Any:
        return await self.request("PATCH", path, body)

    async def delete(self, path: str, body: Any = None) -> Any:
        return await self.request("DELETE", path, body)

    # --- the documented calls ---------------------------------------------------------------

    async def chats(self) -> list[dict[str, Any]]:
        """`GET /api/chats`: the caller's chats with `headSeq`, `lastReadSeq` and badges."""
        result: list[dict[str, Any]] = await self.get("/api/chats")
        return result

    async def messages(self, chat_id: str, *, before: int | None = None, limit: int | None = None) -> dict[str, Any]:
        """`GET /api/chats/{chatId}/messages`: `{messages (newest first), nextBefore}`."""
        path = f"/api/chats/{_segment(chat_id)}/messages"
        result: dict[str, Any] = await self.get(path, before=before, limit=limit)
        return result

    # --- chats and members ------------------------------------------------------------------

    async def create_chat(
        self,
        chat_type: str,
        name: str,
        members: list[str] | None = None,
        *,
        visibility: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """`POST /api/chats` for a group or channel (the caller is its admin): the chat,
        `{chatId, type, name, description, visibility, archived, members, headSeq}`."""
        body: dict[str, Any] = {"type": chat_type, "name": name, "members": members or []}
        if visibility is not None:
            body["visibility"] = visibility
        if description is not None:
            body["description"] = description
        result: dict[str, Any] = (await self.post("/api/chats", body))["chat"]
        return result

    async def open_dm(self, user_id: str) -> dict[str, Any]:
        """`POST /api/chats {type: "dm"}`: the DM with `user_id`, the same chat whoever opens it
        (created the first time)."""
        result: dict[str, Any] = (await self.post("/api/chats", {"type": "dm", "members": [user_id]}))["chat"]
        return result

    async def update_chat(
        self,
        chat_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        archived: bool | None = None,
        retention_days: int | None = None,
    ) -> dict[str, Any]:
        """`PATCH /api/chats/{chatId}` (chat admins): the chat as it is now. `retention_days`:
        how long its messages are kept (0: the deployment's default)."""
        changes = {"name": name, "description": description, "archived": archived, "retentionDays": retention_days}
        body = {field: value for field, value in changes.items() if value is not None}
        result: dict[str, Any] = (await self.patch(f"/api/chats/{_segment(chat_id)}", body))["chat"]
        return result

    async def add_member(self, chat_id: str, user_id: str, *, role: str | None = None) -> dict[str, Any]:
        """`PUT /api/chats/{chatId}/members/{userId}`: adds the user (chat admins; anyone for
        themselves in a public channel), or sets their role: `{chatId, userId, role}`."""
        body = {} if role is None else {"role": role}
        result: dict[str, Any] = await self.put(_member_path(chat_id, user_id), body)
        return result

    async def remove_member(self, chat_id: str, user_id: str) -> None:
        """`DELETE /api/chats/{chatId}/members/{userId}`: removes the user (chat admins), or
        leaves the chat (oneself)."""
        await self.delete(_member_path(chat_id, user_id))

    async def channels(self, query: str = "", *, cursor: str | None = None) -> dict[str, Any]:
        """`GET /api/channels`: `{channels, nextCursor}`, public channels matching `query`."""
        result: dict[str, Any] = await self.get("/api/channels", query=query or None, cursor=cursor)
        return result

    # --- attachments --------------------------------------------------------------------------

    async def upload_attachment(
        self,
        chat_id: str,
        source: FileSource,
        *,
        name: str | None = None,
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Uploads a file to a chat: `POST /api/chats/{chatId}/attachments` for an upload form,
        then the file POSTed to S3 with the form's fields. `source` is the file's bytes (then
        `name` is required) or its path (name and type from it unless given); `progress(sent,
        total)` is called as the body goes out. Returns the form's answer, `{attachmentId,
        upload, expiresAt}`; the attachment is `pending` until its scan (`attachment.scanned`).

        A refused form raises `HttpError` (`BAD_FRAME` 400 naming the field, e.g. a size over
        the deployment's limit; `FORBIDDEN` 403 for a non-member; `RATE_LIMITED` 429 with
        `retry_after_ms`); a refused POST raises `UploadRefusedError` with S3's code."""
        name, size, content_type = describe(source, name, content_type)
        body = {"name": name, "size": size, "contentType": content_type}
        ticket: dict[str, Any] = await self.post(f"/api/chats/{_segment(chat_id)}/attachments", body)
        ticket_id(ticket)
        form = MultipartBody(ticket["upload"]["fields"], source, name, content_type, progress)
        request = urllib.request.Request(  # noqa: S310 (the form's own https URL; http for tidings dev)
            ticket["upload"]["url"],
            data=form,
            headers={"Content-Type": form.content_type, "Content-Length": str(form.length)},
            method="POST",
        )
        try:
            answer = await asyncio.to_thread(self._perform, request)
        finally:
            form.close()
        if not 200 <= answer.status < 300:
            raise refusal(answer.status, answer.text)
        return ticket

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """`POST /api/auth/refresh` (no Authorization): `{token, refreshToken, expiresAt}`."""
        result: dict[str, Any] = await self.request(
            "POST", "/api/auth/refresh", {"refreshToken": refresh_token}, auth=False
        )
        return result

    async def revoke(self) -> dict[str, Any]:
        """`POST /api/auth/revoke`: signs the caller out everywhere."""
        result: dict[str, Any] = await self.post("/api/auth/revoke")
        return result


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _member_path(chat_id: str, user_id: str) -> str:
    return f"/api/chats/{_segment(chat_id)}/members/{_segment(user_id)}"


def _response(status: int, headers: Message | None, raw: bytes) -> RestResponse:
    names = {name.lower(): value for name, value in headers.items()} if headers is not None else {}
    return RestResponse(status, names, raw.decode("utf-8", errors="replace"))


def _http_error(response: RestResponse) -> HttpError:
    code, message = f"HTTP_{response.status}", _reason(response.status)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or code)
            message = str(error.get("message") or message)
        elif isinstance(body.get("message"), str):  # API Gateway's own answers: {"message": ...}
            message = body["message"]
    retry_after = response.headers.get("retry-after")
    retry_after_ms = int(float(retry_after) * 1000) if retry_after and retry_after.replace(".", "").isdigit() else None
    return HttpError(message, code=code, status=response.status, retry_after_ms=retry_after_ms)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
