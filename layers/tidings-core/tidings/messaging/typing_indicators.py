"""Typing indicators: forwarded to the other members, never echoed back, at most
one `typing.start` a second per user per chat, and never stored durably.

The only state is a short-lived "is typing since" item per (chat, user) with a TTL, shared by
all Lambda containers. Expiry is a serverless timer: each forwarded start schedules a delayed
queue message; when it fires, the typer is reported stopped unless a newer start moved the
deadline, in which case the timer re-arms itself for the remainder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tidings.kernel.errors import Forbidden
from tidings.kernel.ratelimits import RateLimiter
from tidings.kernel.wire import encode, server_frame
from tidings.messaging.declaration import TYPING_STARTS
from tidings.messaging.fanout import Fanout
from tidings.messaging.sending import UserDirectory
from tidings.messaging.wire import TypingIndicatorPayload

TYPING_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class TypingTimer:
    """Due `TYPING_TIMEOUT_SECONDS` after the start at `started_at` (epoch seconds)."""

    chat_id: str
    user_id: str
    started_at: float


class TypingStateStore(Protocol):
    def started_at(self, chat_id: str, user_id: str) -> float | None: ...

    def mark_typing(self, chat_id: str, user_id: str, at: float) -> None: ...

    def extend_if_typing(self, chat_id: str, user_id: str, at: float) -> None: ...

    def clear(self, chat_id: str, user_id: str, *, if_started_at: float | None = None) -> bool:
        """Removes the state; True if it was there (and, if given, still from that start)."""


class MembershipCheck(Protocol):
    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]: ...


class TimerQueue(Protocol):
    def schedule(self, timer: TypingTimer, delay_seconds: int) -> None: ...


def typing_frame(chat_id: str, user_id: str, display_name: str, active: bool) -> str:
    return encode(
        server_frame(
            "typing.indicator",
            TypingIndicatorPayload(chatId=chat_id, userId=user_id, displayName=display_name, active=active),
        )
    )


def typing_ended_by_message(state: TypingStateStore, users: UserDirectory, chat_id: str, user_id: str) -> str | None:
    """Sending a message ends typing: for the fan-out of the typer's message, the
    `active: false` frame to deliver first, or None if the sender was not typing."""
    if not state.clear(chat_id, user_id):
        return None
    return typing_frame(chat_id, user_id, users.display_name(user_id), active=False)


@dataclass(frozen=True)
class TypingService:
    state: TypingStateStore
    members: MembershipCheck
    users: UserDirectory
    limiter: RateLimiter
    timers: TimerQueue
    fanout: Callable[[], Fanout]
    now: Callable[[], float]

    def start(self, user_id: str, chat_id: str) -> bool:
        """Forwards the start unless it is over the limit; True if forwarded."""
        self._require_member(user_id, chat_id)
        now = self.now()
        if not self.limiter.check(TYPING_STARTS, user_id, chat_id).allowed:
            # Dropped, but the typer is still typing: push the deadline out.
            self.state.extend_if_typing(chat_id, user_id, now)
            return False
        self.state.mark_typing(chat_id, user_id, now)
        self.timers.schedule(TypingTimer(chat_id, user_id, now), math.ceil(TYPING_TIMEOUT_SECONDS))
        self._announce(chat_id, user_id, active=True)
        return True

    def stop(self, user_id: str, chat_id: str) -> bool:
        self._require_member(user_id, chat_id)
        return self.end(chat_id, user_id)

    def end(self, chat_id: str, user_id: str) -> bool:
        """Ends the typing state (stop, or a message sent); True if it was on."""
        if not self.state.clear(chat_id, user_id):
            return False
        self._announce(chat_id, user_id, active=False)
        return True

    def timer_fired(self, timer: TypingTimer) -> None:
        started_at = self.state.started_at(timer.chat_id, timer.user_id)
        if started_at is None:
            return  # stopped already
        if started_at > timer.started_at:
            remaining = started_at + TYPING_TIMEOUT_SECONDS - self.now()
            if remaining > 0.5:
                self.timers.schedule(TypingTimer(timer.chat_id, timer.user_id, started_at), math.ceil(remaining))
                return
        if self.state.clear(timer.chat_id, timer.user_id, if_started_at=started_at):
            self._announce(timer.chat_id, timer.user_id, active=False)

    def _require_member(self, user_id: str, chat_id: str) -> None:
        if user_id not in self.members.members_among(chat_id, {user_id}):
            raise Forbidden(f"You are not a member of chat {chat_id!r}")

    def _announce(self, chat_id: str, user_id: str, active: bool) -> None:
        frame = typing_frame(chat_id, user_id, self.users.display_name(user_id), active)
        self.fanout().to_chat(chat_id, frame, except_user=user_id)
