"""Idempotency claims: a client frame id of one sender, claimed in the same transaction as its
effect, so a retry gets the same answer and a reuse of the id for another request is a CONFLICT."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from tidings.kernel.errors import Conflict

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def idempotency_key(action: str, chat_id: str, sender_id: str, request_id: str) -> str:
    """Claims are per action, chat and sender: the same frame id from another user, or in another
    chat, is another request. Each part is percent-encoded so no id can forge another key."""
    return "#".join([action, *(quote(part, safe="") for part in (chat_id, sender_id, request_id))])


def fingerprint(fields: dict[str, Any]) -> str:
    """What a request asks for, as a SHA-256 of its canonical JSON: a retry has the same one, a
    different request that reuses the frame id does not."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """An idempotency claim, written in the same transaction as the request's effect."""

    key: str
    fingerprint: str
    expires_at: int  # epoch seconds

    @classmethod
    def of(
        cls, action: str, chat_id: str, sender_id: str, request_id: str, fields: dict[str, Any], now: float
    ) -> Claim:
        return cls(
            key=idempotency_key(action, chat_id, sender_id, request_id),
            fingerprint=fingerprint({"type": action, **fields}),
            expires_at=int(now + IDEMPOTENCY_WINDOW.total_seconds()),
        )


@dataclass(frozen=True)
class HeldClaim:
    """A live claim: where the original request's effect is (`seq` None when it changed nothing)."""

    chat_id: str
    seq: int | None
    fingerprint: str | None


class DuplicateRequest(Exception):
    """The idempotency key was already claimed, by the request described by `held`."""

    def __init__(self, held: HeldClaim) -> None:
        super().__init__(f"already processed as {held.chat_id}#{held.seq}")
        self.held = held


def original_of(claim: Claim, duplicate: DuplicateRequest) -> HeldClaim:
    """The held claim, when it is this very request again (a retry); CONFLICT when the sender
    reused the frame id for something else."""
    if duplicate.held.fingerprint != claim.fingerprint:
        raise Conflict("This frame id was already used for a different request; send a new request with a new id")
    return duplicate.held
