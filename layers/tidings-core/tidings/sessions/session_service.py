"""The session: `hello`, `auth.renew`, `chat.focus`, and the connection limit.

Free of AWS event shapes. The token's expiry is enforced by `token_timers`; closes go through
`connections.Disconnector`, which sends the reason before it closes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tidings.kernel.errors import ErrorCode, Forbidden, NotFound, Unauthorized
from tidings.kernel.observability import logger, metrics
from tidings.kernel.wire import error_frame
from tidings.sessions.connections import ConnectionRef, ConnectionStore, Disconnector
from tidings.sessions.token_expiry import TokenTimerService
from tidings.sessions.tokens import Identity, InvalidToken, UnknownUser, ensure_not_revoked, verify_token
from tidings.sessions.wire import upgrade_required_frame, welcome_frame

if TYPE_CHECKING:
    from tidings.sessions.identity_providers import ProviderTokens  # PyJWT's JWKS client: built only with providers

# Version 2: a recipient's `message.new` carries its badge and toast (docs/protocol.md "Protocol versions").
SUPPORTED_VERSIONS = (1, 2)
HEARTBEAT_INTERVAL_MS = 30_000
MAX_CONNECTIONS_PER_USER = 5


class MembershipCheck(Protocol):
    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]: ...


class Revocations(Protocol):
    def revoked_before(self, user_id: str) -> int | None:
        """Epoch seconds: the user's tokens issued at or before it are refused."""

    def revoke(self, user_id: str, at: int) -> None: ...


def negotiate(requested: int) -> int | None:
    """The protocol version both sides speak, or None: the server speaks exactly the versions
    it lists, so an older client must upgrade (and a newer one may retry with a listed one)."""
    return requested if requested in SUPPORTED_VERSIONS else None


def connections_to_evict(
    existing: Sequence[ConnectionRef], new: ConnectionRef, limit: int = MAX_CONNECTIONS_PER_USER
) -> list[str]:
    """The oldest of the user's other connections beyond `limit`, counting the new one.

    `existing` is the exact set the new connection joined (its user's record, read atomically
    with the join). The new connection is never evicted itself, and ties on connect time are
    broken by id, so concurrent `$connect`s of one user agree on the order."""
    others = sorted(
        (c for c in existing if c.connection_id != new.connection_id),
        key=lambda c: (c.connected_at_ms, c.connection_id),
    )
    excess = len(others) + 1 - limit
    return [c.connection_id for c in others[: max(0, excess)]]


@dataclass(frozen=True)
class UserStanding:
    """What a token check reads about a user Tidings knows."""

    revoked_before: int | None


class UserAccounts(Revocations, Protocol):
    def standing(self, user_id: str) -> UserStanding | None:
        """None: Tidings has no such user."""


class Provisioning(Protocol):
    def provision(self, user_id: str, display_name: str) -> None:
        """Creates the user unless it exists (then leaves it as it is)."""


@dataclass(frozen=True, eq=False)
class TokenVerifier:
    """Verifies an access token, Tidings' own or an identity provider's, and refuses one issued
    at or before the user's revocation: one read of the user per token.

    A provider's token must be of a user Tidings knows; a first token of an unknown one creates
    it where `provisioning` is given and the provider has just-in-time provisioning on (the
    `$connect` authorizer), and is refused with UnknownUser (403) otherwise."""

    signing_key: Callable[[], str]
    revocations: UserAccounts
    providers: ProviderTokens | None = None
    provisioning: Provisioning | None = None

    def verify(self, token: str) -> Identity:
        """Raises InvalidToken."""
        provider = None if self.providers is None else self.providers.provider_of(token)
        if self.providers is None or provider is None:
            identity = verify_token(token, self.signing_key())
            ensure_not_revoked(identity, self.revocations.revoked_before(identity.user_id))
            return identity
        verified = self.providers.verify(token, provider)
        identity = verified.identity
        standing = self.revocations.standing(identity.user_id)
        if standing is None:
            if not provider.just_in_time_provisioning:
                raise UnknownUser("the user is not known to Tidings")
            if self.provisioning is None:
                raise UnknownUser("the user is not known to Tidings yet: connect the WebSocket once")
            self.provisioning.provision(identity.user_id, verified.display_name)
            metrics.add_metric(name="UsersProvisioned", unit="Count", value=1)
            return identity
        ensure_not_revoked(identity, standing.revoked_before)
        return identity


@dataclass(frozen=True, eq=False)
class SessionService:
    connections: ConnectionStore
    members: MembershipCheck
    verifier: TokenVerifier
    revocations: Revocations
    timers: TokenTimerService
    disconnector: Disconnector
    now: Callable[[], float]
    upgrade_url: str

    # --- $connect ---------------------------------------------------------------------------

    def connected(
        self,
        connection_id: str,
        user_id: str,
        connected_at_ms: int,
        token_expires_at: int,
        token_issued_at: int | None = None,
    ) -> list[str]:
        """Stores the new connection, arms its token timer, and closes the user's oldest
        connections beyond the limit. Returns the ids of the connections it evicted.

        Raises Unauthorized (the connection is refused, its record removed) when the user's
        session was revoked after the authorizer let this token through: the record is stored
        before `revokedBefore` is read again, and revoke writes `revokedBefore` before it reads
        the user's connections, so one of the two always sees the other."""
        # Armed first: if that fails the connection is refused (no connection without its expiry
        # enforced) and nothing is stored. The connection opens only after $connect returns,
        # so the first timer waits at least a second.
        self.timers.arm(connection_id, token_expires_at, min_delay_seconds=1)
        live = self.connections.add(connection_id, user_id, connected_at_ms, token_expires_at)
        try:
            if token_issued_at is not None:
                self._refuse_if_revoked(user_id, token_expires_at, token_issued_at)
            evicted = self._evict(user_id, connections_to_evict(live, ConnectionRef(connection_id, connected_at_ms)))
        except Exception:
            # The handshake fails, so the connection never opens: nothing may stay behind.
            self.connections.remove(connection_id, user_id)
            raise
        if evicted:
            metrics.add_metric(name="ConnectionsEvicted", unit="Count", value=len(evicted))
        return evicted

    def _refuse_if_revoked(self, user_id: str, token_expires_at: int, token_issued_at: int) -> None:
        identity = Identity(user_id=user_id, expires_at=token_expires_at, issued_at=token_issued_at)
        try:
            ensure_not_revoked(identity, self.revocations.revoked_before(user_id))
        except InvalidToken as exc:
            metrics.add_metric(name="ConnectionsRefused", unit="Count", value=1)
            raise Unauthorized("The session was revoked; sign in again") from exc

    def _evict(self, user_id: str, candidates: list[str]) -> list[str]:
        """Closes each candidate with `error CONNECTION_LIMIT`, once: a concurrent `$connect`
        may pick the same one, and only the one that takes it out of the user's record closes
        it. A close that cannot be made now is queued; it never fails the new connection."""
        evicted = []
        frame = error_frame(
            ErrorCode.CONNECTION_LIMIT,
            f"More than {MAX_CONNECTIONS_PER_USER} connections for this user: the oldest is closed",
        )
        for old in candidates:
            if not self.connections.withdraw(user_id, old):
                continue
            evicted.append(old)
            try:
                self.disconnector.close(old, frame)
            except Exception:  # the new connection must not fail because an old one could not be closed
                logger.exception("could not close a connection over the limit; retrying later", extra={"evicted": old})
                try:
                    self.disconnector.close_later(old, frame)
                except Exception:
                    logger.exception("could not queue the close either", extra={"evicted": old})
        return evicted

    # --- frames -----------------------------------------------------------------------------

    def hello(
        self, connection_id: str, user_id: str, request_id: str, version: int, client: str | None
    ) -> dict[str, Any] | None:
        """The `welcome` frame; or None after an `error UPGRADE_REQUIRED` was sent and the
        connection closed (a reply returned after the close could not arrive)."""
        negotiated = negotiate(version)
        if negotiated is None:
            metrics.add_metric(name="UpgradesRequired", unit="Count", value=1)
            self.disconnector.close(
                connection_id,
                upgrade_required_frame(
                    request_id,
                    f"Protocol version {version} is not supported; this server speaks "
                    f"{', '.join(map(str, SUPPORTED_VERSIONS))}",
                    self.upgrade_url,
                    list(SUPPORTED_VERSIONS),
                ),
            )
            return None
        self.connections.set_protocol(connection_id, negotiated, client)
        return welcome_frame(
            request_id,
            connection_id=connection_id,
            user_id=user_id,
            protocol_version=negotiated,
            supported_versions=list(SUPPORTED_VERSIONS),
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            server_time=self.now(),
        )

    def renew(self, connection_id: str, user_id: str, token: str) -> int:
        """Verifies the new token and extends the connection's expiry to it; returns the
        connection's token expiry (epoch seconds). The refresh timer is re-armed for it, and
        the timers armed for the old expiry lapse."""
        try:
            identity = self.verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(f"Invalid token: {exc}") from exc
        if identity.user_id != user_id:
            raise Forbidden("The token belongs to another user")
        if self.connections.extend_token(connection_id, identity.expires_at):
            self.timers.arm(connection_id, identity.expires_at)
            return identity.expires_at
        state = self.connections.get(connection_id)
        if state is None:
            raise NotFound("This connection is no longer registered; reconnect")
        return state.token_expires_at

    def focus(self, connection_id: str, user_id: str, chat_id: str | None) -> None:
        if chat_id is not None and user_id not in self.members.members_among(chat_id, {user_id}):
            raise Forbidden(f"You are not a member of chat {chat_id!r}")
        self.connections.set_focus(connection_id, chat_id)
