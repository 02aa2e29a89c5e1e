"""The platform's identity providers, as a deployment configures them (docs/protocol.md,
"Identity providers").

One list, `IDENTITY_PROVIDERS` (JSON), the same shape everywhere: the CDK context value
`tidings:identityProviders`, the file `tidings dev --identity-providers` reads, and the variable
the functions that verify tokens are deployed with. Plain pydantic, no JWT code: every
declaration imports it.
"""

from __future__ import annotations

import json
from typing import Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, Json, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from tidings.kernel.environment import FeatureSettings
from tidings.kernel.hosts import is_loopback_host
from tidings.kernel.lazy_model import LazyModel

# Tidings' own tokens carry this issuer (`tidings.sessions.tokens.ISSUER`); no provider may claim it.
RESERVED_ISSUER = "tidings"
ProviderAlgorithm = Literal["RS256", "ES256"]


class IdentityProvider(LazyModel):
    """One OpenID Connect issuer whose access tokens Tidings accepts."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    jwks_url: str
    # The claim that holds the Tidings user id. With several issuers, their ids must not collide.
    user_id_claim: str = Field(default="sub", min_length=1)
    # Pinned per issuer: a token whose header names any other algorithm is refused unread.
    algorithms: tuple[ProviderAlgorithm, ...] = Field(default=("RS256",), min_length=1)
    # A first valid token of a user Tidings does not know creates the user; off: 403.
    just_in_time_provisioning: bool = False

    @field_validator("issuer")
    @classmethod
    def _not_ours(cls, issuer: str) -> str:
        if issuer == RESERVED_ISSUER:
            raise ValueError(f"the issuer {RESERVED_ISSUER!r} is Tidings' own")
        return issuer

    @field_validator("jwks_url")
    @classmethod
    def _https(cls, url: str) -> str:
        """https, or http to this machine only (a test's or `tidings dev`'s local JWKS server):
        the keys decide who may sign in, so they are never fetched in the clear over a network."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
            return url
        raise ValueError("the JWKS URL must be https:// (http:// only to localhost)")


class IdentityProviderSettings(FeatureSettings, prefix="IDENTITY_"):
    """`IDENTITY_PROVIDERS`: a JSON list of providers (camelCase keys: `issuer`, `audience`,
    `jwksUrl`, `userIdClaim`, `algorithms`, `justInTimeProvisioning`); empty by default, when
    only Tidings' own tokens are accepted."""

    providers: Json[list[IdentityProvider]] = []

    @model_validator(mode="after")
    def _one_entry_per_issuer(self) -> IdentityProviderSettings:
        issuers = [provider.issuer for provider in self.providers]
        repeated = sorted({issuer for issuer in issuers if issuers.count(issuer) > 1})
        if repeated:
            raise ValueError(f"issuers configured more than once: {', '.join(repeated)}")
        return self


def providers_variable(providers: list[IdentityProvider]) -> str:
    """The `IDENTITY_PROVIDERS` value for `providers` (what CDK and `tidings dev` set)."""
    return "[" + ",".join(p.model_dump_json(by_alias=True) for p in providers) + "]"


def parse_providers(value: object) -> list[IdentityProvider]:
    """A configured list (parsed JSON: a list of objects, or a string holding one), validated;
    raises ValueError naming what is wrong."""
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        return IdentityProviderSettings.from_environ({"IDENTITY_PROVIDERS": text}).providers
    except ValidationError as exc:
        problems = [f"{_where(error['loc'])}: {error['msg'].removeprefix('Value error, ')}" for error in exc.errors()]
        raise ValueError("; ".join(problems)) from None


def _where(location: tuple[int | str, ...]) -> str:
    """`providers.0.jwksUrl` as `[0].jwksUrl`, the entry in the list a deployment wrote."""
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in location[1:]]
    return "".join(parts).lstrip(".") or "the list"
