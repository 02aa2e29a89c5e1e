"""Plain HTTP for end-to-end tests: JSON calls to the REST API, and handshakes that may be refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp


def post_json(url: str, body: Any = None, token: str | None = None) -> tuple[int, dict[str, Any]]:
    """POSTs `body` as JSON (with `Authorization: Bearer token` if given): (status, JSON body)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body if body is not None else {}).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


async def handshake_status(url: str, headers: dict[str, str] | None = None) -> int:
    """101 for a WebSocket handshake that succeeded (the socket is closed again), else the
    status it was refused with."""
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await ws.close()
        return 101
