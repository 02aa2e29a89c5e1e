"""What arrives on the sessions' queue: token timers, and the closes that met a connection
inside its handshake, told apart by `kind`."""

from __future__ import annotations

import json

from tidings.kernel.delay_queue import Codec
from tidings.sessions.connections import PendingClose
from tidings.sessions.token_expiry import TokenTimer


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


TOKEN_TIMER_BODIES: Codec[TokenTimer | PendingClose] = Codec(token_timer_body, token_timer_from_body)
