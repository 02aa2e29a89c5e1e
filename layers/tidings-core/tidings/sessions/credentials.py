"""Sessions: refresh tokens that rotate on every use, and revocation.

A refresh token is 32 random bytes (URL-safe base64), given to the client once and stored only
as its SHA-256. Using it returns a new access token and a new refresh token of the same family
(the chain that began with one sign-in); the used one stops working at once. A used token is
kept (marked rotated) until its 7-day TTL so that using it again is recognised as a reuse, a
sign that it was copied: the whole family is then invalidated (RFC 9700 §4.14.2), and the
legitimate holder signs in again.

Revoking records `revokedBefore = now` on the user, which every token check honours (the
`$connect` authorizer, `auth.renew`, the HTTP API, refresh), invalidates the user's refresh
tokens, and closes every connection of the user at once.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from tidings.kernel.errors import ErrorCode, Unauthorized, Unavailable
from tidings.kernel.observability import logger, metrics
from tidings.kernel.wire import iso
from tidings.sessions.connections import ConnectionStore, Disconnector
from tidings.sessions.session_service import Revocations
from tidings.sessions.tokens import DEFAULT_TTL_SECONDS, issue_token

REFRESH_TOKEN_TTL = timedelta(days=7)
REFRESH_TOKEN_BYTES = 32


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_hash: str
    user_id: str
    family_id: str
    issued_at: int  # epoch seconds
    expires_at: int  # epoch seconds
    rotated_at: int | None = None
    rotated_to: str | None = None  # the hash of the token it was rotated into


@dataclass(frozen=True)
class Session:
    """What a sign-in or a refresh returns to the client."""

    token: str
    refresh_token: str
    expires_at: int  # the access token's expiry, epoch seconds

    def to_wire(self) -> dict[str, Any]:
        return {"token": self.token, "refreshToken": self.refresh_token, "expiresAt": iso(self.expires_at)}


class RefreshTokenStore(Protocol):
    def get(self, token_hash: str) -> RefreshTokenRecord | None: ...

    def add(self, record: RefreshTokenRecord) -> None: ...

    def rotate(self, old_hash: str, new: RefreshTokenRecord, at: int) -> bool:
        """Marks the old token rotated (into the new one) and stores the new one, atomically;
        False (and nothing written) when the old one was rotated already or is gone, which is
        how the loser of two concurrent uses of one token learns that it lost."""

    def invalidate(self, user_id: str, family_id: str | None = None) -> int:
        """Deletes the user's refresh tokens (of one family, if given) that the user index
        lists; returns how many. The index is eventually consistent: a token issued a moment
        ago may be missing."""

    def invalidate_descendants(self, token_hash: str) -> int:
        """Deletes the token and every token rotated from it, following the chain; returns how
        many. Each delete holds only if the token still names the successor just read, so a
        rotation racing the walk cannot slip past it."""


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, eq=False)
class SessionIssuer:
    """Mints sessions: an access token and a refresh token, the refresh token stored (hashed).
    Alone, it is what a sign-in needs (the administration API's `POST /admin/sessions`); the
    `CredentialService` adds refresh and revocation."""

    refresh_tokens: RefreshTokenStore
    signing_key: Callable[[], str]
    now: Callable[[], float]
    access_token_ttl_seconds: int = DEFAULT_TTL_SECONDS

    def issue_session(self, user_id: str, access_token_ttl_seconds: int | None = None) -> Session:
        """A new sign-in: an access token (living `access_token_ttl_seconds`, by default the
        issuer's) and the first refresh token of a new family. Tidings does not authenticate
        people itself; whatever does (an IdP, the platform's backend, `tidings` locally) calls this."""
        now = int(self.now())
        refresh_token, record = self.new_refresh_token(user_id, str(uuid.uuid4()), now)
        self.refresh_tokens.add(record)
        return self.session(user_id, refresh_token, now, access_token_ttl_seconds)

    def new_refresh_token(self, user_id: str, family_id: str, now: int) -> tuple[str, RefreshTokenRecord]:
        token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        record = RefreshTokenRecord(
            token_hash=hash_refresh_token(token),
            user_id=user_id,
            family_id=family_id,
            issued_at=now,
            expires_at=now + int(REFRESH_TOKEN_TTL.total_seconds()),
        )
        return token, record

    def session(self, user_id: str, refresh_token: str, now: int, ttl_seconds: int | None = None) -> Session:
        ttl = self.access_token_ttl_seconds if ttl_seconds is None else ttl_seconds
        token = issue_token(user_id, self.signing_key(), ttl, now=now)
        return Session(token=token, refresh_token=refresh_token, expires_at=now + ttl)


@dataclass(frozen=True)
class CredentialService:
    """Sign-in, refresh-token rotation and revocation (`SessionIssuer` mints the sessions)."""

    refresh_tokens: RefreshTokenStore
    revocations: Revocations
    connections: ConnectionStore
    disconnector: Disconnector
    signing_key: Callable[[], str]
    now: Callable[[], float]
    access_token_ttl_seconds: int = DEFAULT_TTL_SECONDS

    @property
    def issuer(self) -> SessionIssuer:
        return SessionIssuer(self.refresh_tokens, self.signing_key, self.now, self.access_token_ttl_seconds)

    def issue_session(self, user_id: str) -> Session:
        """A new sign-in (`SessionIssuer.issue_session`)."""
        return self.issuer.issue_session(user_id)

    def refresh(self, refresh_token: str) -> Session:
        """Rotates the refresh token. Raises Unauthorized for an unknown, expired, revoked or
        already used one."""
        now = int(self.now())
        record = self.refresh_tokens.get(hash_refresh_token(refresh_token))
        if record is None or record.expires_at <= now:
            raise Unauthorized("Unknown or expired refresh token; sign in again")
        if record.rotated_at is not None:
            return self._reused(record)
        revoked_before = self.revocations.revoked_before(record.user_id)
        if revoked_before is not None and record.issued_at <= revoked_before:
            raise Unauthorized("The session was revoked; sign in again")
        new_token, new_record = self.issuer.new_refresh_token(record.user_id, record.family_id, now)
        if not self.refresh_tokens.rotate(record.token_hash, new_record, now):
            return self._reused(record)  # a concurrent use of the same token won the rotation
        metrics.add_metric(name="TokensRefreshed", unit="Count", value=1)
        return self.issuer.session(record.user_id, new_token, now)

    def revoke(self, user_id: str) -> int:
        """Revokes every token and refresh token the user holds now, and closes every one of
        the user's connections; returns how many connections were closed.

        `revokedBefore` is written first, so a token that is being checked concurrently is
        refused from then on; the connections are closed last, read from the user's record
        with a consistent read. A `$connect` that passed the authorizer before the write is
        either in that record (and closed here, a moment later if it is still in its handshake)
        or stored after the read, and then it reads `revokedBefore` itself and refuses itself
        (`SessionService.connected`). If a connection cannot be closed, the call fails (503)
        after trying all of them, and can be repeated."""
        self.revocations.revoke(user_id, int(self.now()))
        self.refresh_tokens.invalidate(user_id)
        closed = 0
        failures = 0
        for connection in self.connections.user_connections(user_id):
            try:
                self.disconnector.close_with_error(
                    connection.connection_id, ErrorCode.UNAUTHORIZED, "The session was revoked; sign in again"
                )
                closed += 1
            except Exception:
                failures += 1
                logger.exception(
                    "could not close a revoked connection", extra={"connectionId": connection.connection_id}
                )
        metrics.add_metric(name="SessionsRevoked", unit="Count", value=1)
        if failures:
            raise Unavailable(f"{failures} connection(s) could not be closed yet; repeat the request")
        return closed

    def _reused(self, record: RefreshTokenRecord) -> Session:
        # The chain first: it reaches the newest token (perhaps issued a moment ago to the
        # other user of this token) without the index; the index then catches the rest.
        invalidated = self.refresh_tokens.invalidate_descendants(record.token_hash)
        invalidated += self.refresh_tokens.invalidate(record.user_id, record.family_id)
        logger.warning(
            "refresh token reused: its family is invalidated",
            extra={"userId": record.user_id, "familyId": record.family_id, "invalidated": invalidated},
        )
        metrics.add_metric(name="RefreshTokenReuses", unit="Count", value=1)
        raise Unauthorized("This refresh token was already used; sign in again")
