"""Ending presence subscriptions that no shared chat allows any more.

A subscription is only ever made between users who share a chat (`PresenceService.subscribe`).
When a user leaves a chat (or is removed), the subscriptions in either direction between them
and the users they no longer share any chat with end at once, instead of running out their
10 minutes: from the removal on, neither side learns the other's presence through that chat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class EndableSubscriptions(Protocol):
    def subscribers_of(self, user_id: str, now: float) -> list[str]: ...

    def subscribed_by(self, subscriber_id: str, now: float) -> list[str]: ...

    def end_between(self, user_id: str, others: Sequence[str]) -> None:
        """Deletes the subscriptions both ways between `user_id` and each of `others`."""


class SharedChats(Protocol):
    def shared_with(self, user_id: str, others: Sequence[str]) -> set[str]: ...


@dataclass(frozen=True)
class SubscriptionEnds:
    subscriptions: EndableSubscriptions
    visibility: SharedChats
    now: Callable[[], float]

    def after_leaving(self, user_id: str) -> list[str]:
        """Ends `user_id`'s subscriptions (both ways) with whoever shares no chat with them now;
        the users they were with."""
        now = self.now()
        linked = set(self.subscriptions.subscribed_by(user_id, now)) | set(
            self.subscriptions.subscribers_of(user_id, now)
        )
        linked.discard(user_id)
        if not linked:
            return []
        ended = sorted(linked - self.visibility.shared_with(user_id, sorted(linked)))
        if ended:
            self.subscriptions.end_between(user_id, ended)
        return ended
