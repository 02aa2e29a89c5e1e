"""A small protocol client for end-to-end tests and tools: frames in, frames out."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

Frame = dict[str, Any]

# Waits, not speed assertions: generous, because a shared 2-core CI machine runs the whole
# system (gateway, every function, moto) in one process next to the tests.


class Client:
    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._session = session
        self.ws = ws
        self.frames: list[Frame] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, headers: dict[str, str] | None = None) -> Client:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, headers=headers, heartbeat=None, max_msg_size=0)
        except Exception:
            await session.close()
            raise
        return cls(session, ws)

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                async with self._arrived:
                    self.frames.append(json.loads(message.data))
                    self._arrived.notify_all()
        async with self._arrived:
            self._arrived.notify_all()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, frame_type: str, payload: dict[str, Any], frame_id: str | None = None) -> str:
        frame_id = frame_id or str(uuid.uuid4())
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        await self.send_raw(json.dumps({"type": frame_type, "id": frame_id, "timestamp": stamp, "payload": payload}))
        return frame_id

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def wait_for(self, predicate: Callable[[Frame], bool], timeout: float = 15.0) -> Frame:
        async def first_match() -> Frame:
            async with self._arrived:
                while True:
                    for frame in self.frames:
                        if predicate(frame):
                            return frame
                    if self.ws.closed and self._reader.done():
                        raise ConnectionError("connection closed while waiting for a frame")
                    await self._arrived.wait()

        return await asyncio.wait_for(first_match(), timeout)

    async def reply_to(self, frame_id: str, timeout: float = 15.0) -> Frame:
        """The one reply to a client frame: its ack, its response frame, or its error."""
        return await self.wait_for(lambda f: f.get("payload", {}).get("refId") == frame_id, timeout)

    async def request(self, frame_type: str, payload: dict[str, Any], timeout: float = 15.0) -> Frame:
        return await self.reply_to(await self.send(frame_type, payload), timeout)

    def of_type(self, frame_type: str) -> list[Frame]:
        return [f for f in self.frames if f.get("type") == frame_type]

    async def close(self) -> None:
        await self.ws.close()
        await self._session.close()
        self._reader.cancel()
