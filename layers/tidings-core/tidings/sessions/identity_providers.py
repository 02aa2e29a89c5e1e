"""Access tokens from the platform's OpenID Connect providers, verified against their JWKS.

PyJWT does the work: `PyJWKClient` fetches each provider's key set and caches it per container
(a warm authorizer verifies a token with no network call: O(1) per `$connect`); a `kid` it does
not know refetches the set, at most once per cooldown, so a stream of made-up `kid`s cannot turn
into a stream of fetches. When the JWKS endpoint is down, a key from the last set fetched still
verifies, and an unknown key is refused (fail closed). A key the provider withdraws stops
verifying once the cached set is refetched (`JWKS_MAX_AGE_SECONDS`).

The algorithms are pinned per provider (RS256, ES256): `none`, HS256 (with the provider's
public key as the HMAC secret) and every other algorithm are refused before any key is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from tidings.sessions.provider_settings import IdentityProvider
from tidings.sessions.tokens import (
    MAX_TOKEN_BYTES,
    MAX_TOKEN_LIFETIME_SECONDS,
    Identity,
    InvalidToken,
    refusal_reason,
)

# How long a fetched key set is used before it is fetched again.
JWKS_MAX_AGE_SECONDS = 300
# The least time between two fetches forced by an unknown `kid`.
JWKS_REFRESH_COOLDOWN_SECONDS = 30
# A JWKS fetch that takes longer fails: the authorizer must answer well within API Gateway's wait.
JWKS_TIMEOUT_SECONDS = 3
# Display names made from a token's `name` or `email` are cut to this length.
MAX_DISPLAY_NAME_LENGTH = 100


@dataclass(frozen=True)
class ProviderIdentity:
    """A verified provider token: the identity, its provider, and the name to provision with."""

    identity: Identity
    provider: IdentityProvider
    display_name: str


class ProviderTokens:
    """The configured providers, each with its own cached key set."""

    def __init__(
        self,
        providers: Sequence[IdentityProvider],
        *,
        max_age_seconds: float = JWKS_MAX_AGE_SECONDS,
        cooldown_seconds: float = JWKS_REFRESH_COOLDOWN_SECONDS,
        timeout_seconds: float = JWKS_TIMEOUT_SECONDS,
    ) -> None:
        self._providers = {provider.issuer: provider for provider in providers}
        self._keys = {
            provider.issuer: jwt.PyJWKClient(
                provider.jwks_url,
                lifespan=max_age_seconds,
                cooldown_duration=cooldown_seconds,
                timeout=timeout_seconds,
            )
            for provider in providers
        }

    def provider_of(self, token: str) -> IdentityProvider | None:
        """The provider whose issuer the token names (unverified: it only picks the checks), or
        None for any other token, which is then checked as one of Tidings' own."""
        if len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
            return None  # Tidings' own check refuses it, with the reason
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return None
        return self._providers.get(issuer) if isinstance(issuer, str) else None

    def verify(self, token: str, provider: IdentityProvider) -> ProviderIdentity:
        """Raises InvalidToken, with a reason that never quotes the token."""
        required = sorted({"iat", "exp", "iss", "aud", provider.user_id_claim})
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in provider.algorithms:
                raise jwt.InvalidAlgorithmError("not allowed")  # before any key is looked up
            key = self._signing_key(provider, header.get("kid"))
            claims = jwt.decode(
                token,
                key,
                algorithms=list(provider.algorithms),
                audience=provider.audience,
                issuer=provider.issuer,
                options={"require": required},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(refusal_reason(exc, required)) from exc
        user_id = claims[provider.user_id_claim]
        if not isinstance(user_id, str) or not user_id.strip() or user_id != user_id.strip():
            raise InvalidToken(f"the token's {provider.user_id_claim} claim is not a user id")
        expires_at, issued_at = int(claims["exp"]), int(claims["iat"])
        if expires_at - issued_at > MAX_TOKEN_LIFETIME_SECONDS:
            raise InvalidToken(f"the token lives longer than {MAX_TOKEN_LIFETIME_SECONDS} seconds (exp - iat)")
        identity = Identity(user_id=user_id, expires_at=expires_at, issued_at=issued_at)
        return ProviderIdentity(identity, provider, _display_name(claims, user_id))

    def _signing_key(self, provider: IdentityProvider, kid: Any) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        client = self._keys[provider.issuer]
        try:
            return client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            # The endpoint is down: the last set fetched still holds, however old.
            key = _stale_key(client, kid)
            if key is None:
                raise InvalidToken("the identity provider's keys cannot be fetched") from exc
            return key
        except jwt.PyJWKClientError as exc:
            raise InvalidToken("the token's signing key is not one of the identity provider's") from exc


def _stale_key(client: jwt.PyJWKClient, kid: str) -> jwt.PyJWK | None:
    cached = client.jwk_set_cache.jwk_set_with_timestamp if client.jwk_set_cache is not None else None
    if cached is None:
        return None
    return next((key for key in cached.get_jwk_set().keys if key.key_id == kid), None)


def _display_name(claims: dict[str, Any], user_id: str) -> str:
    for claim in ("name", "email"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_DISPLAY_NAME_LENGTH]
    return user_id
