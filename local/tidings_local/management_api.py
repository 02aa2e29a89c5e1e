"""API Gateway's @connections management API, locally, on the WebSocket API's port.

`POST|GET|DELETE /@connections/{connectionId}` are PostToConnection, GetConnection and
DeleteConnection, so the functions' unchanged boto3 `apigatewaymanagementapi` client works
against it. As on AWS, each request is first:

1. authenticated by the access key of its SigV4 `Authorization` header and authorized: a
   function's role must allow `execute-api:ManageConnections` on
   `arn:aws:execute-api:…:{api}/{stage}/{METHOD}/@connections/{connectionId}` (only
   `manages_connections` grants it), else 403 `AccessDeniedException` with AWS's message. A
   caller whose key is no function's (the developer, a test) is the account's administrator;
2. counted for `/_local/stats` when a function made it;
3. failed if an injected fault fires for it (`connections:500|429`, `faults.py`).

Then an unknown or closed connection (or one still inside its `$connect`) answers 410
`GoneException`, and a post over 128 KiB 413 `PayloadTooLargeException`.
"""

from __future__ import annotations

from aiohttp import WSCloseCode, web

from tidings.kernel.wire import iso
from tidings_local.apigw import API_ID, STAGE
from tidings_local.faults import Faults
from tidings_local.iam import Policies, access_key_of, connections_arn
from tidings_local.stats import Stats
from tidings_local.websocket_api import MAX_MESSAGE_BYTES, Connection, WebSocketApi

SERVICE = "apigatewaymanagementapi"  # as botocore names it (the stats use botocore's names)
ACTION = "execute-api:ManageConnections"


def management_error(status: int, error_type: str, message: str) -> web.Response:
    """An error botocore's rest-json parser turns into `client.exceptions.<error_type>`."""
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": error_type})


class ManagementApi:
    def __init__(self, websocket: WebSocketApi, faults: Faults, stats: Stats) -> None:
        self._websocket = websocket
        self._faults = faults
        self._stats = stats
        self.policies: Policies | None = None  # set once the runtime has provisioned

    def routes(self) -> list[web.RouteDef]:
        path = "/@connections/{connectionId}"
        return [
            web.post(path, self._post_to_connection),
            web.get(path, self._get_connection),
            web.delete(path, self._delete_connection),
        ]

    def _refused(self, request: web.Request, operation: str) -> web.Response | None:
        """IAM's refusal or an injected error for this call, else None (see the module docstring)."""
        connection_id = request.match_info["connectionId"]
        role = (
            self.policies.role_for_key(access_key_of(request.headers.get("Authorization"))) if self.policies else None
        )
        if role is not None:
            self._stats.aws_call(SERVICE, operation, role.function_id)
            # AWS names the resource with the template's {connectionId}, not the id itself.
            resource = connections_arn(API_ID, STAGE, request.method, "{connectionId}")
            if not role.allows(ACTION, connections_arn(API_ID, STAGE, request.method, connection_id)):
                return management_error(
                    403,
                    "AccessDeniedException",
                    f"User: {role.principal} is not authorized to perform: {ACTION} on resource: {resource}",
                )
        connection = self._websocket.connections.get(connection_id)
        user_id = (connection.request.authorizer or {}).get("principalId") if connection else None
        error = self._faults.connection_error(operation, connection_id, user_id)
        return None if error is None else management_error(*error)

    def _open(self, request: web.Request) -> Connection | None:
        return self._websocket.open_connection(request.match_info["connectionId"])

    @staticmethod
    def _gone(request: web.Request) -> web.Response:
        return management_error(410, "GoneException", f"Connection {request.match_info['connectionId']} is gone")

    async def _post_to_connection(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request, "PostToConnection")) is not None:
            return refused
        connection = self._open(request)
        if connection is None:
            return self._gone(request)
        data = await request.read()
        if len(data) > MAX_MESSAGE_BYTES:
            return management_error(
                413, "PayloadTooLargeException", f"Data is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}"
            )
        try:
            frame: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            frame = data
        if not await self._websocket.send(connection, frame):
            return self._gone(request)
        return web.Response(status=200)

    async def _get_connection(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request, "GetConnection")) is not None:
            return refused
        connection = self._open(request)
        if connection is None:
            return self._gone(request)
        # The wire names are camelCase; boto3 presents them as ConnectedAt, Identity.SourceIp...
        return web.json_response(
            {
                "connectedAt": iso(connection.request.connected_at / 1000),
                "identity": {
                    "sourceIp": connection.request.source_ip,
                    "userAgent": connection.request.user_agent or "",
                },
                "lastActiveAt": iso(connection.last_active_at),
            }
        )

    async def _delete_connection(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request, "DeleteConnection")) is not None:
            return refused
        connection = self._open(request)
        if connection is None:
            return self._gone(request)
        # Like DeleteConnection, answer at once; the close handshake completes in the background.
        connection.request_close(int(WSCloseCode.OK), "Connection deleted")
        return web.Response(status=204)
