"""The administration API's logic, free of AWS event shapes: users, sessions, the export, the
start of an erasure (its work: `tidings.admin.erasure`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tidings.admin.erasure import ErasureJob
from tidings.admin.wire import SessionRequest, UserPut
from tidings.kernel.errors import Conflict, NotFound
from tidings.kernel.observability import logger, metrics
from tidings.kernel.wire import iso


@dataclass(frozen=True)
class UserProfile:
    user_id: str
    display_name: str
    email: str | None = None
    avatar_url: str | None = None
    erasing: bool = False  # an erasure is running (`DELETE /admin/users/{userId}`)

    def to_wire(self) -> dict[str, Any]:
        wire = {"userId": self.user_id, "displayName": self.display_name}
        if self.email is not None:
            wire["email"] = self.email
        if self.avatar_url is not None:
            wire["avatarUrl"] = self.avatar_url
        return wire


# What `DELETE /admin/users/{userId}` answers: the erasure began now, was running, or is done.
ErasureStart = Literal["started", "running", "completed"]


class UserStore(Protocol):
    def put(self, profile: UserProfile) -> bool:
        """Creates the user or replaces its profile (keeping what other features store on the
        user: badges, preferences, revocations); True when it was created (an erased user's id
        too). Raises Conflict while the user is being erased."""

    def get(self, user_id: str) -> UserProfile | None:
        """None for no user, or an erased one."""

    def start_erasure(self, user_id: str, at: float) -> ErasureStart | None:
        """Marks the user erasing (from then on, every token of theirs is refused); None for no
        user."""


class ErasureQueue(Protocol):
    def schedule(self, job: ErasureJob, delay_seconds: int = 0) -> None: ...


class UserData(Protocol):
    def export(self, user_id: str) -> dict[str, Any]:
        """Everything stored about the user but the profile, by section."""


class IssuedSession(Protocol):
    def to_wire(self) -> dict[str, Any]: ...


class SessionIssuing(Protocol):
    """The sessions feature's sign-in (`tidings.sessions.credentials.SessionIssuer`)."""

    def issue_session(self, user_id: str, access_token_ttl_seconds: int | None = None) -> IssuedSession: ...


@dataclass(frozen=True, eq=False)
class AdminService:
    users: UserStore
    data: UserData
    sessions: SessionIssuing
    erasures: ErasureQueue
    now: Callable[[], float]

    def put_user(self, user_id: str, request: UserPut) -> tuple[UserProfile, bool]:
        """The stored profile, and whether the user is new."""
        profile = UserProfile(user_id, request.displayName, request.email, request.avatarUrl)
        created = self.users.put(profile)
        metrics.add_metric(name="UsersProvisioned" if created else "UsersUpdated", unit="Count", value=1)
        return profile, created

    def get_user(self, user_id: str) -> UserProfile:
        profile = self.users.get(user_id)
        if profile is None:
            raise NotFound(f"No user {user_id!r}; create it with PUT /admin/users/{user_id}")
        return profile

    def issue_session(self, request: SessionRequest) -> dict[str, Any]:
        """A sign-in for a user Tidings knows (a token for an unknown one would make a user
        with no name appear in every chat it joins)."""
        self._not_erasing(self.get_user(request.userId))
        session = self.sessions.issue_session(request.userId, request.ttlSeconds)
        logger.info("session issued", extra={"userId": request.userId})
        metrics.add_metric(name="AdminSessionsIssued", unit="Count", value=1)
        return session.to_wire()

    def export(self, user_id: str) -> dict[str, Any]:
        profile = self._not_erasing(self.get_user(user_id))
        document = {"user": profile.to_wire(), **self.data.export(user_id), "exportedAt": iso(self.now())}
        metrics.add_metric(name="UserExports", unit="Count", value=1)
        return document

    def erase_user(self, user_id: str) -> ErasureStart:
        """Marks the user erasing and queues the erasure. Asking again while it runs queues it
        again from the start: every step is idempotent, and a job that was lost resumes."""
        started = self.users.start_erasure(user_id, self.now())
        if started is None:
            raise NotFound(f"No user {user_id!r}")
        if started != "completed":
            self.erasures.schedule(ErasureJob(user_id))
        logger.info("erasure requested", extra={"userId": user_id, "erasure": started})
        metrics.add_metric(name="ErasuresStarted", unit="Count", value=int(started == "started"))
        return started

    @staticmethod
    def _not_erasing(profile: UserProfile) -> UserProfile:
        if profile.erasing:
            raise Conflict(f"User {profile.user_id!r} is being erased")
        return profile
