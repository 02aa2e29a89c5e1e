"""The @connections management API, the one way to write to a WebSocket client."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tidings.domain.fanout import PostFailed

# Fan-out posts to one connection after another, so a slow or failing one must cost little:
# botocore's standard retry mode retries 5xx, throttles and timeouts twice with jittered
# exponential backoff (and stops retrying when its retry quota runs out, as in an outage);
# what still fails goes to the delivery retry queue (`tidings.domain.fanout`).
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


class ApiGatewayPoster:
    def __init__(self, endpoint_url: str, client: Any | None = None) -> None:
        self._client = client or boto3.client(
            "apigatewaymanagementapi", endpoint_url=endpoint_url, config=CLIENT_CONFIG
        )

    def post(self, connection_id: str, data: str) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data.encode("utf-8"))
        except self._client.exceptions.GoneException:
            return False
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code = exc.response.get("Error", {}).get("Code", "")
            retryable = status >= 500 or status == 429 or code == "LimitExceededException"
            raise PostFailed(f"PostToConnection failed: {status} {code}", retryable=retryable) from exc
        except BotoCoreError as exc:  # connection refused, timeouts
            raise PostFailed(f"PostToConnection failed: {type(exc).__name__}", retryable=True) from exc
        return True

    def close(self, connection_id: str) -> bool:
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except self._client.exceptions.GoneException:
            return False
        return True
