"""The runtime's own HTTP endpoints, which have no AWS counterpart.

- `GET /healthz`: 200 once every part is up (every function loaded), 503 before;
- `GET /_local/stats`: local-only diagnostics for the benchmark (`stats.py`), with the runtime's
  `activity` (invocations in flight, stream records and queue messages still pending), which a
  benchmark waits on to count everything its messages caused;
- `POST /_local/sessions {"userId"}`: local-only sign-in (access + refresh token) for the CLI;
- `POST /_local/chats {"chatId", "type", "members"}`: local-only creation of a chat and its
  members (tests, experiments) until an API creates chats;
- `POST /_local/reindex`: local-only search index rebuild for `tidings reindex`; answers NDJSON
  progress lines `{chatsDone, chatsTotal, messages}` (or a last `{error}` line).

The fault injection's and queue inspection's endpoints are `faults.routes`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tidings_local.http_api import json_error
from tidings_local.log import logger
from tidings_local.stats import Stats


class LocalEndpoints:
    def __init__(
        self, stats: Stats, is_ready: Callable[[], bool], activity: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self.stats = stats
        self._is_ready = is_ready
        self._activity = activity

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/healthz", self._healthz),
            web.get("/_local/stats", self._stats),
            web.post("/_local/sessions", self._issue_session),
            web.post("/_local/chats", self._add_chat),
            web.post("/_local/reindex", self._reindex),
        ]

    async def _healthz(self, _: web.Request) -> web.Response:
        if self._is_ready():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "starting"}, status=503)

    async def _stats(self, _: web.Request) -> web.Response:
        snapshot = self.stats.snapshot()
        if self._activity is not None:  # moto's lock: off the event loop
            snapshot["activity"] = await asyncio.get_running_loop().run_in_executor(None, self._activity)
        return web.json_response(snapshot)

    async def _issue_session(self, request: web.Request) -> web.Response:
        """Local-only sign-in for `tidings session USER`: an access token plus a refresh token
        stored in this process's tables (on AWS, whatever signs people in does this)."""
        from tidings.sessions.compose import issue_session

        try:
            body = await request.json()
        except ValueError:
            body = None
        user_id = body.get("userId") if isinstance(body, dict) else None
        if not isinstance(user_id, str) or not user_id:
            return json_error(400, "BAD_FRAME", 'Send {"userId": "<user id>"}')
        session = await asyncio.get_running_loop().run_in_executor(None, issue_session, user_id)
        return web.json_response(session)

    async def _add_chat(self, request: web.Request) -> web.Response:
        from tidings.chats.directory import CHAT_TYPES
        from tidings_local.demo import add_chat

        try:
            body = await request.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        chat_id, chat_type, members = body.get("chatId"), body.get("type", "group"), body.get("members")
        if (
            not isinstance(chat_id, str)
            or not chat_id
            or chat_type not in CHAT_TYPES
            or not isinstance(members, list)
            or not members
            or not all(isinstance(member, str) and member for member in members)
        ):
            return json_error(
                400, "BAD_FRAME", 'Send {"chatId": "<id>", "type": "dm|group|channel", "members": ["<user id>", ...]}'
            )
        await asyncio.get_running_loop().run_in_executor(None, add_chat, chat_id, chat_type, chat_id, members)
        return web.json_response({"chatId": chat_id, "type": chat_type, "members": members})

    async def _reindex(self, request: web.Request) -> web.StreamResponse:
        """Rebuilds the search index from this process's message store (the data lives here,
        in moto), streaming progress as NDJSON. On AWS the `SearchReindex` function does it."""
        from tidings.kernel.errors import TidingsError
        from tidings.search.compose import operator_reindexer as reindexer
        from tidings.search.indexing import ReindexProgress

        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def progress(step: ReindexProgress) -> None:
            line = {"chatsDone": step.chats_done, "chatsTotal": step.chats_total, "messages": step.messages_indexed}
            loop.call_soon_threadsafe(lines.put_nowait, line)

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        job = loop.run_in_executor(None, lambda: reindexer().run(progress))
        while not (job.done() and lines.empty()):
            getter = asyncio.ensure_future(lines.get())
            waiting: set[asyncio.Future[Any]] = {getter, job}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await response.write((json.dumps(getter.result()) + "\n").encode())
            else:
                getter.cancel()
        try:
            job.result()
        except TidingsError as exc:
            await response.write(
                (json.dumps({"error": {"code": exc.code.value, "message": exc.message}}) + "\n").encode()
            )
        except Exception:
            logger.exception("reindex failed")
            await response.write(b'{"error": {"code": "INTERNAL", "message": "reindex failed; see the runtime log"}}\n')
        await response.write_eof()
        return response
