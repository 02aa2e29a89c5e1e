"""The @connections management API, the one way to write to a WebSocket client."""

from __future__ import annotations

from typing import Any

import boto3


class ApiGatewayPoster:
    def __init__(self, endpoint_url: str, client: Any | None = None) -> None:
        self._client = client or boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url)

    def post(self, connection_id: str, data: str) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data.encode("utf-8"))
        except self._client.exceptions.GoneException:
            return False
        return True

    def close(self, connection_id: str) -> bool:
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except self._client.exceptions.GoneException:
            return False
        return True
