"""Token timers on SQS: one message per timer, delayed by DelaySeconds (at most 15 minutes).

The queue also carries pending closes (a close that met a connection inside its handshake),
told apart by `kind`.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tidings.sessions.connections import PendingClose
from tidings.sessions.token_expiry import MAX_DELAY_SECONDS, TokenTimer


class SqsTokenTimers:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def schedule(self, timer: TokenTimer | PendingClose, delay_seconds: int) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=token_timer_body(timer),
            DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
        )


def token_timer_body(timer: TokenTimer | PendingClose) -> str:
    if isinstance(timer, PendingClose):
        return json.dumps({"kind": "close", "connectionId": timer.connection_id, "data": timer.data})
    return json.dumps(
        {
            "kind": timer.kind,
            "connectionId": timer.connection_id,
            "tokenExpiresAt": timer.token_expires_at,
            "dueAt": timer.due_at,
        }
    )


def token_timer_from_body(body: str) -> TokenTimer | PendingClose:
    """Raises ValueError (or KeyError) for a body that is not a token timer."""
    data = json.loads(body)
    kind = data["kind"]
    if kind == "close":
        return PendingClose(connection_id=str(data["connectionId"]), data=str(data["data"]))
    if kind not in ("refresh", "expire"):
        raise ValueError(f"unknown token timer kind {kind!r}")
    return TokenTimer(
        kind=kind,
        connection_id=str(data["connectionId"]),
        token_expires_at=int(data["tokenExpiresAt"]),
        due_at=int(data["dueAt"]),
    )
