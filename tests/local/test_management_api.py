"""The @connections management API, driven by a real boto3 `apigatewaymanagementapi` client."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import aiohttp
import boto3
import pytest

from tests.local.conftest import eventually
from tests.local.stub_app import CONNECT, DISCONNECT
from tidings_local.runtime import LocalRuntime


@pytest.fixture
def management(runtime: LocalRuntime):
    return boto3.client("apigatewaymanagementapi", endpoint_url=runtime.url, region_name="us-east-1")


async def test_post_get_delete_then_gone(runtime: LocalRuntime, http: aiohttp.ClientSession, management) -> None:
    ws = await http.ws_connect(f"{runtime.ws_url}?token=alice", headers={"User-Agent": "pytest-client"})
    connection_id = runtime.lambdas.events(CONNECT)[0]["requestContext"]["connectionId"]

    # boto3 blocks, and this server runs on the test's event loop: call it from a thread.
    await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=b'{"hello": 1}')
    assert json.loads(await ws.receive_str(timeout=5)) == {"hello": 1}

    described = await asyncio.to_thread(management.get_connection, ConnectionId=connection_id)
    assert isinstance(described["ConnectedAt"], datetime)
    assert isinstance(described["LastActiveAt"], datetime)
    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "pytest-client"}

    response = await asyncio.to_thread(management.delete_connection, ConnectionId=connection_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1000
    disconnect = await eventually(lambda: runtime.lambdas.events(DISCONNECT))
    assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1000

    with pytest.raises(management.exceptions.GoneException):
        await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=b"late")
    with pytest.raises(management.exceptions.GoneException):
        await asyncio.to_thread(management.get_connection, ConnectionId=connection_id)
    with pytest.raises(management.exceptions.GoneException):
        await asyncio.to_thread(management.delete_connection, ConnectionId=connection_id)


async def test_unknown_connection_is_gone(runtime: LocalRuntime, management) -> None:
    with pytest.raises(management.exceptions.GoneException):
        await asyncio.to_thread(management.post_to_connection, ConnectionId="bm9zdWNoaWQ9PT0=", Data=b"{}")


async def test_posting_over_128_kib_is_payload_too_large(
    runtime: LocalRuntime, http: aiohttp.ClientSession, management
) -> None:
    ws = await http.ws_connect(f"{runtime.ws_url}?token=alice")
    connection_id = runtime.lambdas.events(CONNECT)[0]["requestContext"]["connectionId"]
    with pytest.raises(management.exceptions.PayloadTooLargeException):
        await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
    assert not ws.closed
