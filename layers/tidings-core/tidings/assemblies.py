"""Services put together from more than one feature, for the functions that share them.

A handler composes the features it uses itself (`functions/<feature>/`). Where two functions
need the same cross-feature assembly, it is written here once: this module sits beside
`tidings.app` in the application layer, so it may import every feature and no feature imports
it (the import-linter layers contract).
"""

from __future__ import annotations

from tidings.chats import compose as chats
from tidings.kernel import connections_api, ratelimits
from tidings.kernel.environment import Environment
from tidings.messaging import compose as messaging
from tidings.messaging.typing_indicators import TypingService
from tidings.sessions import compose as sessions


def typing_service(environment: Environment) -> TypingService:
    """Typing indicators as the `typing.*` routes and the typing expiry timers both use them."""
    members = chats.member_directory(environment)
    return messaging.typing(
        environment,
        poster=connections_api.poster(environment),
        members=members,
        membership=members,
        users=chats.user_directory(environment),
        connections=sessions.connection_store(environment),
        limiter=ratelimits.rate_limiter(environment),
    )
