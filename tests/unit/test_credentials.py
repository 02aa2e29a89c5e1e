"""Refresh tokens (rotation, reuse, expiry) and revocation."""

import hashlib
import time

import pytest

from tests.support.session_fakes import Clock, RecordingPoster, RecordingQueue
from tidings.chats.models import UserModel
from tidings.kernel.errors import Unauthorized, Unavailable
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.connections import Disconnector
from tidings.sessions.credentials import CredentialService
from tidings.sessions.models import RefreshTokenModel
from tidings.sessions.session_service import TokenVerifier
from tidings.sessions.token_store import DynamoRefreshTokenStore, DynamoRevocations
from tidings.sessions.tokens import InvalidToken, issue_token, verify_token

KEY = "unit-test-signing-key-that-is-long-enough-for-hs256"
WEEK = 7 * 24 * 3600


@pytest.fixture
def world(aws):
    # In the past, so that the tests can move the clock on and still issue tokens whose `iat`
    # PyJWT (on the real clock) accepts.
    clock = Clock(float(int(time.time()) - 600))
    poster = RecordingPoster()
    connections = DynamoConnectionStore()
    revocations = DynamoRevocations()
    disconnector = Disconnector(connections, poster, RecordingQueue(), clock)
    service = CredentialService(DynamoRefreshTokenStore(), revocations, connections, disconnector, lambda: KEY, clock)
    return service, clock, poster, connections, revocations


def test_a_session_is_an_access_token_and_a_refresh_token_stored_only_as_its_hash(world):
    service, clock, _, _, _ = world
    session = service.issue_session("alice")
    identity = verify_token(session.token, KEY)
    assert (identity.user_id, identity.expires_at) == ("alice", clock.now + 900)
    assert session.expires_at == clock.now + 900
    assert len(session.refresh_token) >= 43  # 32 random bytes
    stored = RefreshTokenModel.get(hashlib.sha256(session.refresh_token.encode()).hexdigest())
    assert stored.user_id == "alice"
    assert stored.expires_at.timestamp() == clock.now + WEEK
    assert session.refresh_token not in str(stored.attribute_values)
    wire = session.to_wire()
    assert set(wire) == {"token", "refreshToken", "expiresAt"}
    assert wire["expiresAt"].endswith("Z")


def test_refresh_rotates_the_old_token_stops_working_and_the_new_one_works(world):
    service, clock, _, _, _ = world
    first = service.issue_session("alice")
    clock.now += 60
    second = service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert verify_token(second.token, KEY).user_id == "alice"
    assert second.expires_at == clock.now + 900
    clock.now += 60
    third = service.refresh(second.refresh_token)
    assert verify_token(third.token, KEY).user_id == "alice"


def test_reusing_a_rotated_token_is_refused_and_invalidates_its_family(world):
    service, _, _, _, _ = world
    first = service.issue_session("alice")
    other_device = service.issue_session("alice")
    second = service.refresh(first.refresh_token)
    with pytest.raises(Unauthorized, match="already used"):
        service.refresh(first.refresh_token)
    # Whoever holds the descendant (the thief or the owner) must sign in again...
    with pytest.raises(Unauthorized):
        service.refresh(second.refresh_token)
    # ...but the user's other sign-ins are untouched.
    assert service.refresh(other_device.refresh_token).refresh_token


def test_two_uses_of_one_token_at_the_same_moment_one_wins_the_other_is_refused_and_the_family_dies(world, monkeypatch):
    """Both uses read the token before either rotates it: the loser's transaction is cancelled,
    and whatever order PynamoDB sent its operations in, it gets 401 and the family is invalidated,
    the winner's brand-new token included."""
    service, _, _, _, _ = world
    session = service.issue_session("alice")
    other_device = service.issue_session("alice")
    rotate = DynamoRefreshTokenStore.rotate
    won: list = []

    def the_other_use_rotates_first(self, old_hash, new, at):
        if not won:
            won.append(None)
            won[0] = service.refresh(session.refresh_token)  # runs between the loser's read and write
        return rotate(self, old_hash, new, at)

    monkeypatch.setattr(DynamoRefreshTokenStore, "rotate", the_other_use_rotates_first)
    with pytest.raises(Unauthorized, match="already used"):
        service.refresh(session.refresh_token)
    monkeypatch.setattr(DynamoRefreshTokenStore, "rotate", rotate)

    [winner] = won
    with pytest.raises(Unauthorized):
        service.refresh(winner.refresh_token)
    assert service.refresh(other_device.refresh_token).refresh_token, "another sign-in is untouched"


def test_a_reuse_invalidates_the_newest_descendant_even_before_the_user_index_lists_it(world, monkeypatch):
    """The byUser index is eventually consistent: the chain of rotations reaches the token
    issued a moment ago without it."""
    service, _, _, _, _ = world
    first = service.issue_session("alice")
    second = service.refresh(first.refresh_token)
    third = service.refresh(second.refresh_token)
    monkeypatch.setattr(RefreshTokenModel.by_user, "query", lambda *args, **kwargs: iter(()))
    with pytest.raises(Unauthorized, match="already used"):
        service.refresh(first.refresh_token)
    monkeypatch.undo()
    with pytest.raises(Unauthorized):
        service.refresh(third.refresh_token)
    for token in (first, second, third):
        assert RefreshTokenModel.count(hashlib.sha256(token.refresh_token.encode()).hexdigest()) == 0


@pytest.mark.parametrize("token", ["", "made-up", "x" * 43])
def test_an_unknown_refresh_token_is_refused(world, token):
    service, _, _, _, _ = world
    with pytest.raises(Unauthorized):
        service.refresh(token)


def test_a_refresh_token_is_refused_after_seven_days(world):
    service, clock, _, _, _ = world
    session = service.issue_session("alice")
    clock.now += WEEK
    with pytest.raises(Unauthorized, match="expired"):
        service.refresh(session.refresh_token)


def test_revoke_refuses_old_tokens_and_refresh_tokens_and_closes_every_connection(world):
    service, clock, poster, connections, revocations = world
    verifier = TokenVerifier(lambda: KEY, revocations)
    session = service.issue_session("alice")
    old_token = issue_token("alice", KEY, now=clock.now - 5)
    for n in (1, 2):
        connections.add(f"alice-{n}", "alice", n, 2_000_000_000)
    connections.add("bob-1", "bob", 3, 2_000_000_000)

    assert service.revoke("alice") == 2

    assert UserModel.get("alice").revoked_before == clock.now
    for token in (old_token, session.token):
        with pytest.raises(InvalidToken, match="revoked"):
            verifier.verify(token)
    with pytest.raises(Unauthorized):
        service.refresh(session.refresh_token)
    assert RefreshTokenModel.count() == 0
    for connection_id in ("alice-1", "alice-2"):
        [frame] = poster.frames(connection_id)
        assert (frame["type"], frame["payload"]["code"]) == ("error", "UNAUTHORIZED")
    assert poster.closed() == ["alice-1", "alice-2"]
    assert [c.connection_id for c in connections.user_connections("alice")] == []
    assert connections.get("bob-1") is not None
    # A token issued after the revocation works (from the next second on)...
    assert verifier.verify(issue_token("alice", KEY, now=clock.now + 1)).user_id == "alice"
    # ...and a new sign-in can refresh again.
    clock.now += 1
    assert service.refresh(service.issue_session("alice").refresh_token).token


def test_revoke_keeps_a_user_item_readable_for_a_user_nobody_registered(world):
    service, clock, _, _, _ = world
    service.revoke("stranger")
    user = UserModel.get("stranger")
    assert (user.display_name, user.revoked_before) == ("stranger", clock.now)


def test_revoke_tries_every_connection_and_fails_if_one_could_not_be_closed(world):
    service, _, poster, connections, _ = world
    connections.add("alice-1", "alice", 1, 2_000_000_000)
    connections.add("alice-2", "alice", 2, 2_000_000_000)
    poster.broken.add("alice-1")
    with pytest.raises(Unavailable):
        service.revoke("alice")
    assert poster.closed() == ["alice-2"]
    assert connections.get("alice-1") is not None, "kept, so repeating the revoke finds it"
