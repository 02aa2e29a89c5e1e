"""The notification evaluator: what one recipient gets for one message.

Pure rules, no I/O: the Notify consumer gathers the facts (preferences, presence, focus,
connections) and asks `evaluate`. Every rule of the notification design is a line here:

- a focused chat: nothing (no unread growth, no toast; the message is on screen);
- otherwise the badge always counts, even in DND and for level `off`;
- urgent bypasses DND and mute (and level `mentions_only`): toast or push always;
- DND (presence `dnd` or the scheduled window) skips toast and push;
- level `all` alerts; `mentions_only` alerts only when mentioned; `off` is silent;
- an alert reaches an online recipient as a toast frame and an offline one as a push
  (unless the user turned device notifications off; urgent ignores that too).
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.notifications.preferences import Level


@dataclass(frozen=True)
class Recipient:
    level: Level
    dnd: bool
    focused: bool
    online: bool
    mentioned: bool
    push_enabled: bool = True


@dataclass(frozen=True)
class Delivery:
    count_unread: bool
    toast: bool
    push: bool


NOTHING = Delivery(count_unread=False, toast=False, push=False)


def evaluate(recipient: Recipient, urgent: bool) -> Delivery:
    if recipient.focused:
        return NOTHING
    alert = urgent or (not recipient.dnd and _level_alerts(recipient.level, recipient.mentioned))
    return Delivery(
        count_unread=True,
        toast=alert and recipient.online,
        push=alert and not recipient.online and (recipient.push_enabled or urgent),
    )


def _level_alerts(level: Level, mentioned: bool) -> bool:
    if level == "all":
        return True
    if level == "mentions_only":
        return mentioned
    return False  # "off": badge only
