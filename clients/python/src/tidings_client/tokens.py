"""Access tokens: where the client gets them, and a refresher for Tidings-issued sessions."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from tidings_client.rest import RestClient

# A token, or a function (sync or async) returning a currently valid one. The client calls it
# for every connection and on every `token.refresh`.
TokenSource = Union[str, Callable[[], "str | Awaitable[str]"]]  # noqa: UP007


async def resolve_token(source: TokenSource) -> str:
    if isinstance(source, str):
        return source
    token = source()
    if inspect.isawaitable(token):
        token = await token
    if not isinstance(token, str) or not token:
        raise TypeError("get_token must return a non-empty string")
    return token


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim (epoch seconds) of a JWT, read without verifying it (only the server
    can verify; the client only wants to know when to get a new one)."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class TokenRefresher:
    """A `get_token` that keeps an access token fresh with a refresh token
    (`POST /api/auth/refresh`).

    It returns the current access token while it has more than `margin` seconds left (more
    than the 60-70 s before expiry at which the server sends `token.refresh`, so a
    `token.refresh` always gets a new token), and refreshes otherwise. Refresh tokens rotate:
    each refresh returns a new one and the old one stops working, so `on_rotate(session)` is
    called with every new `{token, refreshToken, expiresAt}`; store it if the refresh token must
    outlive the process. Concurrent calls share one refresh.
    """

    def __init__(
        self,
        rest: RestClient,
        refresh_token: str,
        *,
        token: str | None = None,
        margin: float = 120.0,
        on_rotate: Callable[[dict[str, Any]], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rest = rest
        self.refresh_token = refresh_token
        self.token = token
        self.margin = margin
        self.on_rotate = on_rotate
        self._clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    def from_session(cls, rest: RestClient, session: dict[str, Any], **kwargs: Any) -> TokenRefresher:
        """From a sign-in's `{token, refreshToken, expiresAt}` (`tidings session USER`,
        `POST /admin/sessions`)."""
        return cls(rest, session["refreshToken"], token=session.get("token"), **kwargs)

    def _fresh(self) -> bool:
        if not self.token:
            return False
        expiry = jwt_expiry(self.token)
        return expiry is not None and expiry - self._clock() > self.margin

    async def __call__(self) -> str:
        async with self._lock:
            if not self._fresh():
                await self._refresh()
            assert self.token is not None
            return self.token

    async def _refresh(self) -> None:
        session = await self.rest.refresh(self.refresh_token)
        self.token = session["token"]
        self.refresh_token = session["refreshToken"]
        if self.on_rotate is not None:
            result = self.on_rotate(session)
            if inspect.isawaitable(result):
                await result
