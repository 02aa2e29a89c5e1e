"""Construction of the sessions' services, from a function's environment. The @connections
poster and another feature's ports are passed in by the handler that composes them.

Each builder imports the services it builds, so a function loads the modules of what it builds
and no other (`tests/infrastructure/test_cold_start_imports.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tidings.chats.models import USERS
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment, environment_of
from tidings.kernel.errors import Forbidden, Unauthorized
from tidings.kernel.secret_values import secret_reader
from tidings.sessions.declaration import AUTH_API, JWT_SIGNING_KEY, TOKEN_TIMERS, ProtocolSettings
from tidings.sessions.models import CONNECTIONS, REFRESH_TOKENS, USER_CONNECTIONS
from tidings.sessions.provider_settings import IdentityProviderSettings

if TYPE_CHECKING:
    from tidings.kernel.connections_api import ConnectionPoster
    from tidings.sessions.connection_store import DynamoConnectionLiveness, DynamoConnectionStore
    from tidings.sessions.connections import Disconnector, PendingClose
    from tidings.sessions.credentials import CredentialService, SessionIssuer
    from tidings.sessions.identity_providers import ProviderTokens
    from tidings.sessions.session_service import MembershipCheck, SessionService, TokenVerifier
    from tidings.sessions.token_expiry import TokenTimer, TokenTimerService
    from tidings.sessions.token_store import DynamoRevocations

# The signing key is cached by Powertools for this long, so a rotation lands within minutes.
SIGNING_KEY_MAX_AGE_SECONDS = 300


def signing_key(environment: Environment) -> Callable[[], str]:
    """The HS256 key, read from Secrets Manager through Powertools' cache."""
    return secret_reader(environment.secret_arn(JWT_SIGNING_KEY), SIGNING_KEY_MAX_AGE_SECONDS)


def connection_store(environment: Environment) -> DynamoConnectionStore:
    from tidings.sessions.connection_store import DynamoConnectionStore

    environment.require(CONNECTIONS, USER_CONNECTIONS)
    return DynamoConnectionStore()


def connection_liveness(environment: Environment) -> DynamoConnectionLiveness:
    """Which connections are still registered (presence's idle chain sweeps the others)."""
    from tidings.sessions.connection_store import DynamoConnectionLiveness

    environment.require(CONNECTIONS)
    return DynamoConnectionLiveness()


def revocations(environment: Environment) -> DynamoRevocations:
    from tidings.sessions.token_store import DynamoRevocations

    environment.require(USERS)
    return DynamoRevocations()


def identity_providers(environment: Environment) -> ProviderTokens | None:
    """The deployment's identity providers, each with its key set cached for this container's
    life; None when only Tidings' own tokens are accepted."""
    providers = environment.settings(IdentityProviderSettings).providers
    if not providers:
        return None
    from tidings.sessions.identity_providers import ProviderTokens  # PyJWT's JWKS client: only with providers

    return ProviderTokens(providers)


def token_verifier(environment: Environment) -> TokenVerifier:
    """Tidings' tokens and the identity providers'; an unknown user of a provider is refused
    (only the `$connect` authorizer provisions: `connect_token_verifier`)."""
    from tidings.sessions.session_service import TokenVerifier

    return TokenVerifier(signing_key(environment), revocations(environment), identity_providers(environment))


def connect_token_verifier(environment: Environment) -> TokenVerifier:
    """The `$connect` authorizer's: it also creates a provider's new user (just-in-time
    provisioning), so it alone may write Users."""
    from tidings.sessions.session_service import TokenVerifier
    from tidings.sessions.token_store import DynamoProvisioning

    return TokenVerifier(
        signing_key(environment), revocations(environment), identity_providers(environment), DynamoProvisioning()
    )


def authenticate(environment: Environment) -> Callable[[str], str]:
    """A bearer token -> its user, for the HTTP API edge (`tidings.kernel.rest.caller_id`):
    verified as the `$connect` authorizer verifies it, and refused when revoked (401) or of a
    provider's user Tidings does not know (403)."""
    from tidings.sessions.tokens import InvalidToken, UnknownUser

    verifier = token_verifier(environment)

    def user_of(token: str) -> str:
        try:
            return verifier.verify(token).user_id
        except UnknownUser as exc:
            raise Forbidden(f"Access token refused: {exc}") from exc
        except InvalidToken as exc:
            raise Unauthorized(f"Invalid access token: {exc}") from exc

    return user_of


def token_queue(environment: Environment) -> DelayQueue[TokenTimer | PendingClose]:
    """Token timers, and closes waiting for a connection's handshake to complete."""
    from tidings.sessions.records import TOKEN_TIMER_BODIES

    return DelayQueue(environment.queue_url(TOKEN_TIMERS), TOKEN_TIMER_BODIES)


def disconnector(environment: Environment, *, poster: ConnectionPoster) -> Disconnector:
    from tidings.sessions.connections import Disconnector

    return Disconnector(connection_store(environment), poster, token_queue(environment), now=time.time)


def token_timers(environment: Environment, *, poster: ConnectionPoster) -> TokenTimerService:
    from tidings.sessions.token_expiry import TokenTimerService

    return TokenTimerService(connection_store(environment), token_queue(environment), poster, now=time.time)


def session_service(environment: Environment, *, poster: ConnectionPoster, members: MembershipCheck) -> SessionService:
    """`hello`, `auth.renew`, `chat.focus` (and `$connect`); `members` checks `chat.focus`."""
    from tidings.sessions.session_service import SessionService

    return SessionService(
        connection_store(environment),
        members,
        token_verifier(environment),
        revocations(environment),
        token_timers(environment, poster=poster),
        disconnector(environment, poster=poster),
        now=time.time,
        upgrade_url=environment.settings(ProtocolSettings).upgrade_url,
    )


def admission(environment: Environment, *, poster: ConnectionPoster) -> SessionService:
    """`$connect` alone: the authorizer has verified the token and no chat is involved, so the
    function has neither the signing key nor Members; what `connected` never uses is refused."""
    from tidings.sessions.session_service import SessionService, TokenVerifier

    return SessionService(
        connection_store(environment),
        _NoMembers(),
        TokenVerifier(_no_signing_key, revocations(environment)),
        revocations(environment),
        token_timers(environment, poster=poster),
        disconnector(environment, poster=poster),
        now=time.time,
        upgrade_url=ProtocolSettings().upgrade_url,
    )


class _NoMembers:
    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]:
        raise RuntimeError("$connect checks no membership")


def _no_signing_key() -> str:
    raise RuntimeError("this function verifies and mints no token")


def credential_service(environment: Environment, *, poster: ConnectionPoster) -> CredentialService:
    """Refresh, revoke and sign-in."""
    return _credentials(environment, poster, signing_key(environment))


def session_revocation(environment: Environment, *, poster: ConnectionPoster) -> CredentialService:
    """Revoke alone (a user's erasure): without the signing key, which only refresh and
    sign-in use."""
    return _credentials(environment, poster, _no_signing_key)


def _credentials(environment: Environment, poster: ConnectionPoster, key: Callable[[], str]) -> CredentialService:
    from tidings.sessions.credentials import CredentialService
    from tidings.sessions.token_store import DynamoRefreshTokenStore

    environment.require(REFRESH_TOKENS)
    return CredentialService(
        DynamoRefreshTokenStore(),
        revocations(environment),
        connection_store(environment),
        disconnector(environment, poster=poster),
        key,
        now=time.time,
    )


def session_issuer(environment: Environment) -> SessionIssuer:
    """Sign-ins alone (the administration API's `POST /admin/sessions`): the refresh tokens and
    the signing key, none of the connections that refresh and revoke need."""
    from tidings.sessions.credentials import SessionIssuer
    from tidings.sessions.token_store import DynamoRefreshTokenStore

    environment.require(REFRESH_TOKENS)
    return SessionIssuer(DynamoRefreshTokenStore(), signing_key(environment), now=time.time)


def issue_session(user_id: str) -> dict[str, Any]:
    """A new sign-in for `user_id`: `{token, refreshToken, expiresAt}`, the refresh token stored
    (hashed) so that `POST /api/auth/refresh` accepts it. For whatever signs people in (locally,
    the `tidings` CLI); runs with the environment of the `AuthApi` function."""
    from tidings.kernel import connections_api

    environment = environment_of(AUTH_API)
    service = credential_service(environment, poster=connections_api.poster(environment))
    return service.issue_session(user_id).to_wire()
