"""Tidings' own access tokens: JWTs signed with HS256 by a key from Secrets Manager (a generated
one locally). The tokens of a deployment's identity providers are `identity_providers.py`'s.

The algorithm list is pinned, so a token whose header says `none` or any other algorithm is
refused before its signature is even looked at. PyJWT does every check; this module only sets
the policy. PyJWT (and the cryptography it loads) is imported where a token is first signed or
verified, so the functions that do neither never load it.

A refused token's reason is one of a few fixed phrases, never PyJWT's message: some of those
quote parts of the token, and the reason is logged and sent back to clients.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jwt

ALGORITHMS = ["HS256"]
ISSUER = "tidings"
AUDIENCE = "tidings"
# Every claim an access token must carry (PyJWT checks iss and aud against ISSUER and AUDIENCE,
# exp and iat against the clock; `sub` is the user id).
REQUIRED_CLAIMS = ("sub", "iat", "exp", "iss", "aud")
DEFAULT_TTL_SECONDS = 15 * 60
# The longest an access token may live (`exp - iat`; PyJWT already refuses an `iat` in the
# future). A longer-lived token is refused as invalid: an absurd `exp` (2^63) would otherwise
# become a connection expiry that overflows the timers and stores downstream.
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600
# Ours are a few hundred bytes. API Gateway refuses a request whose request line and headers
# exceed 10,240 bytes and a WebSocket URL over 4,096 characters before any code runs; this
# bound refuses anything larger than a token could sensibly be before it is parsed.
MAX_TOKEN_BYTES = 8 * 1024


@cache
def _reasons() -> tuple[tuple[type[jwt.PyJWTError], str], ...]:
    """PyJWT's errors with our reasons, from the most specific to the least
    (ExpiredSignatureError is an InvalidTokenError...)."""
    import jwt

    return (
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
        (jwt.InvalidAlgorithmError, "the token's algorithm is not allowed"),
        (jwt.InvalidAudienceError, "the token is for another audience"),
        (jwt.InvalidIssuerError, "the token is from another issuer"),
        (jwt.InvalidIssuedAtError, "the token's issue time is invalid"),
        (jwt.DecodeError, "the token is malformed"),
    )


class InvalidToken(Exception):
    """The token is malformed, expired, badly signed or uses a refused algorithm."""


class UnknownUser(InvalidToken):
    """A valid identity provider's token of a user Tidings does not know, where just-in-time
    provisioning is off (or cannot happen here): 403, not 401."""


@dataclass(frozen=True)
class Identity:
    user_id: str
    expires_at: int  # epoch seconds
    issued_at: int = 0  # epoch seconds (`iat`); compared with the user's `revokedBefore`


def issue_token(user_id: str, key: str, ttl_seconds: int = DEFAULT_TTL_SECONDS, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": user_id, "iat": issued, "exp": issued + ttl_seconds, "iss": ISSUER, "aud": AUDIENCE}
    import jwt

    return jwt.encode(claims, key, algorithm=ALGORITHMS[0])


def refusal_reason(error: jwt.PyJWTError, required_claims: Sequence[str] = REQUIRED_CLAIMS) -> str:
    """The fixed phrase for a PyJWT refusal (the identity providers' checks share them)."""
    import jwt

    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token lacks a required claim ({', '.join(required_claims)})"
    return next((reason for kind, reason in _reasons() if isinstance(error, kind)), "the token is invalid")


def verify_token(token: str, key: str) -> Identity:
    """Raises InvalidToken, with a reason that never quotes the token."""
    if len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"the token is larger than {MAX_TOKEN_BYTES} bytes")
    import jwt

    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(refusal_reason(exc)) from exc
    user_id = claims["sub"]
    if not isinstance(user_id, str) or not user_id:
        raise InvalidToken("the token's subject is not a user id")
    expires_at, issued_at = int(claims["exp"]), int(claims["iat"])
    if expires_at - issued_at > MAX_TOKEN_LIFETIME_SECONDS:
        raise InvalidToken(f"the token lives longer than {MAX_TOKEN_LIFETIME_SECONDS} seconds (exp - iat)")
    return Identity(user_id=user_id, expires_at=expires_at, issued_at=issued_at)


def ensure_not_revoked(identity: Identity, revoked_before: int | None) -> None:
    """Refuses a token issued at or before the user's revocation (`POST /api/auth/revoke`).

    `iat` has whole seconds, so a token issued in the revocation's own second is refused
    too, even one issued just after it: the safe side of the ambiguity."""
    if revoked_before is not None and identity.issued_at <= revoked_before:
        raise InvalidToken("the session was revoked")
