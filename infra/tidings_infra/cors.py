"""The HTTP API's CORS policy, one definition for the CDK stack and `tidings dev`.

Kept free of CDK imports (like `packaging.py`) so the local runtime answers browsers from the
very same policy the stack configures on API Gateway. What API Gateway does with an HTTP API's
CORS configuration (its "Configure CORS for HTTP APIs" guide):

- it answers a preflight itself, whatever the routes (no OPTIONS route needed) and without
  invoking any function; a preflight is an OPTIONS request with both `Origin` and
  `Access-Control-Request-Method`;
- on any other request with an `Origin`, it adds the configured headers to the integration's
  response, and ignores CORS headers the integration returned itself;
- without an `Origin` header it adds none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONTEXT_CORS_ALLOWED_ORIGINS = "tidings:corsAllowedOrigins"
# Credentials mode is off: the API takes a bearer token in Authorization, never a cookie, which
# is also what makes the wildcard origin acceptable.
CORS_DEFAULT_ALLOWED_ORIGINS = ("*",)
CORS_ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_ALLOWED_HEADERS = ("Authorization", "Content-Type")
CORS_EXPOSED_HEADERS = ("Retry-After",)  # 429s carry it; scripts may read it
CORS_MAX_AGE_SECONDS = 3600
# API Gateway answers a preflight with 204 No Content.
PREFLIGHT_STATUS = 204


def cors_allowed_origins(value: Any) -> list[str]:
    """The `tidings:corsAllowedOrigins` context value (or `tidings dev --cors-origin`) as a list
    of origins.

    Accepts a list (cdk.json) or a comma-separated string (`-c key=a,b`); None means the default.
    Each origin is `*` or `http(s)://host[:port]` without a path; `*` stands alone.
    """
    if value is None:
        return list(CORS_DEFAULT_ALLOWED_ORIGINS)
    raw = value.split(",") if isinstance(value, str) else list(value)
    origins = [str(origin).strip().rstrip("/") for origin in raw if str(origin).strip()]
    if not origins:
        raise ValueError(f"{CONTEXT_CORS_ALLOWED_ORIGINS} names no origin")
    if "*" in origins and len(origins) > 1:
        raise ValueError(f"{CONTEXT_CORS_ALLOWED_ORIGINS}: '*' already allows every origin; give it alone")
    for origin in origins:
        scheme, _, rest = origin.partition("://")
        if origin != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
            raise ValueError(
                f"{CONTEXT_CORS_ALLOWED_ORIGINS}: {origin!r} is not an origin (https://host[:port], no path)"
            )
    return origins


@dataclass(frozen=True)
class CorsPolicy:
    allow_origins: tuple[str, ...] = CORS_DEFAULT_ALLOWED_ORIGINS
    allow_methods: tuple[str, ...] = CORS_ALLOWED_METHODS
    allow_headers: tuple[str, ...] = CORS_ALLOWED_HEADERS
    expose_headers: tuple[str, ...] = CORS_EXPOSED_HEADERS
    max_age_seconds: int = CORS_MAX_AGE_SECONDS

    def allowed_origin(self, origin: str | None) -> str | None:
        """The `Access-Control-Allow-Origin` for a request from `origin`: `*` when every origin
        is allowed, the origin itself when it is listed, else None (no CORS headers: the
        browser refuses)."""
        if origin is None:
            return None
        if "*" in self.allow_origins:
            return "*"
        return origin if origin.rstrip("/") in self.allow_origins else None

    @staticmethod
    def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
        return method == "OPTIONS" and "Origin" in headers and "Access-Control-Request-Method" in headers

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        return {
            **self._origin_headers(allowed),
            "Access-Control-Allow-Methods": ",".join(self.allow_methods),
            "Access-Control-Allow-Headers": ",".join(self.allow_headers).lower(),
            "Access-Control-Max-Age": str(self.max_age_seconds),
        }

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """What a non-preflight response gets besides the function's own headers."""
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        headers = self._origin_headers(allowed)
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers).lower()
        return headers

    @staticmethod
    def _origin_headers(allowed: str) -> dict[str, str]:
        # A listed origin is echoed, so the answer depends on the request's Origin: `Vary` keeps
        # a shared cache from serving one origin's answer to another.
        return {"Access-Control-Allow-Origin": allowed} | ({} if allowed == "*" else {"Vary": "Origin"})
