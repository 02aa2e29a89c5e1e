"""The WebSocket API emulation: handshake (authorizer, $connect), routing, limits and closes."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from tests.local.conftest import StartRuntime, eventually
from tests.local.stub_app import AUTHORIZER, CONNECT, DISCONNECT, ECHO
from tidings_local.runtime import LocalRuntime


def events(runtime: LocalRuntime, function) -> list[dict]:
    return runtime.lambdas.events(function)


async def connect(http: aiohttp.ClientSession, runtime: LocalRuntime, query: str = "token=alice", **kwargs):
    return await http.ws_connect(f"{runtime.ws_url}?{query}", **kwargs)


async def reply(ws: aiohttp.ClientWebSocketResponse) -> dict:
    return json.loads(await ws.receive_str(timeout=5))


async def test_healthz_and_unknown_paths(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{runtime.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    async with http.get(f"{runtime.url}/nope") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 401), ("token=deny", 403), ("token=crash", 500), ("token=nested-context", 500), ("token=x&refuse=418", 418)],
)
async def test_refused_handshakes_store_nothing(
    runtime: LocalRuntime, http: aiohttp.ClientSession, query: str, status: int
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await connect(http, runtime, query)
    assert refused.value.status == status
    assert len(events(runtime, AUTHORIZER)) == 1
    assert len(events(runtime, CONNECT)) == (1 if status == 418 else 0)
    assert events(runtime, DISCONNECT) == []
    assert runtime.gateway.connections == {}


async def test_authorizer_event_and_context_reach_every_route(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, runtime, headers={"Authorization": "Bearer alice"}, query="a=1&a=2")
    await ws.send_str(json.dumps({"type": "echo"}))
    answer = await reply(ws)
    await ws.close()
    await eventually(lambda: events(runtime, DISCONNECT))

    authorizer_event = events(runtime, AUTHORIZER)[0]
    assert authorizer_event["type"] == "REQUEST"
    assert authorizer_event["methodArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/local/$connect"
    assert authorizer_event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert authorizer_event["requestContext"]["eventType"] == "CONNECT"

    # Context values reach the routes as API Gateway passes them: strings, plus principalId.
    expected = {"principalId": "alice", "userId": "alice", "expiresAt": "123", "admin": "true"}
    connect_event = APIGatewayWebSocketConnectEventModel.model_validate(events(runtime, CONNECT)[0])
    message_event = APIGatewayWebSocketMessageEventModel.model_validate(events(runtime, ECHO)[0])
    disconnect_event = APIGatewayWebSocketDisconnectEventModel.model_validate(events(runtime, DISCONNECT)[0])
    connection_id = connect_event.request_context.connection_id
    assert len(connection_id) == 16
    assert connection_id.endswith("=")
    for event in (events(runtime, CONNECT)[0], events(runtime, ECHO)[0], events(runtime, DISCONNECT)[0]):
        assert expected.items() <= event["requestContext"]["authorizer"].items()
        assert event["requestContext"]["connectionId"] == connection_id
    assert message_event.request_context.event_type == "MESSAGE"
    assert disconnect_event.request_context.disconnect_status_code == 1000
    assert answer["authorizer"]["principalId"] == "alice"
    assert 0 < answer["remainingMs"] <= ECHO.timeout_seconds * 1000


@pytest.mark.parametrize(
    ("frame", "route"),
    [
        ('{"type": "echo", "id": "1"}', "echo"),
        ('{"type": "unknown.type"}', "$default"),
        ('{"type": "$connect"}', "$default"),
        ('{"type": 5}', "$default"),
        ('["echo"]', "$default"),
        ("not json", "$default"),
    ],
)
async def test_route_selection_by_body_type(
    runtime: LocalRuntime, http: aiohttp.ClientSession, frame: str, route: str
) -> None:
    ws = await connect(http, runtime)
    await ws.send_str(frame)
    answer = await reply(ws)
    assert answer["route"] == route
    assert answer["body"] == frame
    assert answer["isBase64Encoded"] is False


async def test_json_too_deep_to_parse_goes_to_default(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    """Route selection cannot read a `type` from it, so it is `$default`'s, as any non-JSON."""
    ws = await connect(http, runtime)
    frame = '{"type": "echo", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    await ws.send_str(frame)
    assert (await reply(ws))["route"] == "$default"


async def test_binary_frames_go_to_default_base64_encoded(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    ws = await connect(http, runtime)
    await ws.send_bytes(b'{"type": "echo"}')
    answer = await reply(ws)
    assert answer["route"] == "$default"
    assert answer["isBase64Encoded"] is True
    assert base64.b64decode(answer["body"]) == b'{"type": "echo"}'


async def test_one_way_routes_send_no_reply_and_failures_get_the_gateway_error(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, runtime)
    await ws.send_str('{"type": "oneway"}')
    await ws.send_str('{"type": "boom"}')
    error = await reply(ws)  # the one-way route answered nothing, so this is boom's
    assert error["message"] == "Internal server error"
    assert error["connectionId"] == events(runtime, CONNECT)[0]["requestContext"]["connectionId"]
    assert [e["requestContext"]["routeKey"] for e in events(runtime, ECHO)] == ["oneway", "boom"]


async def test_frames_of_one_connection_are_handled_concurrently_as_on_aws(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, runtime)
    await ws.send_str('{"type": "slow"}')
    await ws.send_str('{"type": "echo"}')
    assert [(await reply(ws))["route"], (await reply(ws))["route"]] == ["echo", "slow"], "the reply overtakes"


async def test_a_message_over_128_kib_closes_with_1009(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    ws = await connect(http, runtime)
    await ws.send_str("x" * (128 * 1024 + 1))
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1009
    disconnect = await eventually(lambda: events(runtime, DISCONNECT))
    assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1009
    assert events(runtime, ECHO) == []


async def test_a_route_reply_over_128_kib_is_not_delivered_and_the_connection_stays_open(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, runtime)
    await ws.send_str('{"type": "huge"}')
    error = await reply(ws)
    assert error["message"] == "Internal server error"
    await ws.send_str('{"type": "echo"}')
    assert (await reply(ws))["route"] == "echo"


@pytest.mark.parametrize("limit", ["idle_timeout", "max_duration"])
async def test_idle_and_old_connections_are_closed_with_1001(
    start_runtime: StartRuntime, http: aiohttp.ClientSession, limit: str
) -> None:
    runtime = await start_runtime(**{"idle_timeout": 60, "max_duration": 60, limit: 0.3})
    ws = await connect(http, runtime)
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1001
    disconnect = await eventually(lambda: events(runtime, DISCONNECT))
    assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1001


async def test_stats_count_handler_calls_only(runtime: LocalRuntime, http: aiohttp.ClientSession) -> None:
    ws = await connect(http, runtime)
    await ws.send_str('{"type": "call-aws"}')
    pushed = await reply(ws)  # PostToConnection from inside the handler
    answer = await reply(ws)  # then the two-way reply
    assert pushed == {"pushed": True}
    assert answer["route"] == "call-aws"
    async with http.get(f"{runtime.url}/_local/stats") as response:
        stats = await response.json()
    assert stats["awsCalls"] == {
        "apigatewaymanagementapi": {"PostToConnection": 1},
        "dynamodb": {"PutItem": 1},
    }  # the stream poller's DynamoDB Streams calls are the platform's, not counted
    assert stats["invocations"] == {"Authorizer": 1, "Connect": 1, "Echo": 1}
    assert stats["gatewayMessages"] == {"in": 1, "out": 2}


async def test_inside_its_connect_a_connection_answers_410_to_post_and_delete_and_opens_after(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    """As API Gateway: the @connections API knows a connection only once its handshake has
    completed, and a DeleteConnection during `$connect` does not stop it from opening."""
    ws = await connect(http, runtime, "token=alice&probe=1")
    try:
        [invocation] = runtime.lambdas.invocations_of(CONNECT)
        assert invocation.result["probe"] == {"post": "GoneException", "delete": "GoneException"}
        await ws.send_str(json.dumps({"type": "echo"}))
        assert (await reply(ws))["route"] == "echo"
    finally:
        await ws.close()


@pytest.mark.parametrize(
    ("where", "size", "status"),
    [
        pytest.param("header", 10_500, 413, id="request line and headers over 10240 bytes"),
        pytest.param("query", 4_200, 414, id="websocket url over 4096 characters"),
    ],
)
async def test_requests_over_api_gateways_size_limits_are_refused_before_any_function_runs(
    runtime: LocalRuntime, http: aiohttp.ClientSession, where: str, size: int, status: int
) -> None:
    token = "t" * size
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        if where == "header":
            await connect(http, runtime, "", headers={"Authorization": f"Bearer {token}"})
        else:
            await connect(http, runtime, f"token={token}")
    assert refused.value.status == status
    assert events(runtime, AUTHORIZER) == [] and events(runtime, CONNECT) == []
    assert runtime.gateway.connections == {}
    async with http.get(f"{runtime.url}/api/things/1", headers={"X-Big": token}) as response:
        assert response.status == (413 if where == "header" else 200)


async def test_a_token_under_the_limits_reaches_the_authorizer_even_past_aiohttps_8_kib_lines(
    runtime: LocalRuntime, http: aiohttp.ClientSession
) -> None:
    token = "t" * 9_000  # API Gateway lets it through (10240 bytes); the authorizer decides
    ws = await connect(http, runtime, "", headers={"Authorization": f"Bearer {token}"})
    await ws.close()
    [event] = events(runtime, AUTHORIZER)
    assert event["headers"]["Authorization"] == f"Bearer {token}"


async def test_a_request_even_aiohttp_cannot_parse_is_logged_without_an_excerpt(
    runtime: LocalRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "SECRET" * 20_000  # beyond aiohttp's own parser limit, in the request line
    reader, writer = await asyncio.open_connection("127.0.0.1", runtime.port)
    writer.write(f"GET /ws?token={marker} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"400"
    await eventually(lambda: any("unparsable" in record.getMessage() for record in caplog.records))
    assert "SECRET" not in caplog.text
