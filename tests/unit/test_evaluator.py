"""The evaluator as a table: every branch, one row each."""

import pytest

from tidings.notifications.evaluator import Delivery, Recipient, evaluate

BADGE_ONLY = Delivery(count_unread=True, toast=False, push=False)
TOAST = Delivery(count_unread=True, toast=True, push=False)
PUSH = Delivery(count_unread=True, toast=False, push=True)
NOTHING = Delivery(count_unread=False, toast=False, push=False)


def who(level="all", *, dnd=False, focused=False, online=True, mentioned=False, push_enabled=True) -> Recipient:
    return Recipient(level, dnd=dnd, focused=focused, online=online, mentioned=mentioned, push_enabled=push_enabled)


CASES = [
    # level all: toast when online, push when offline
    ("all, online", who(), False, TOAST),
    ("all, offline", who(online=False), False, PUSH),
    # mentions_only: alerts only when mentioned
    ("mentions_only, not mentioned", who("mentions_only"), False, BADGE_ONLY),
    ("mentions_only, mentioned, online", who("mentions_only", mentioned=True), False, TOAST),
    ("mentions_only, mentioned, offline", who("mentions_only", mentioned=True, online=False), False, PUSH),
    # off: silent, but the badge still counts
    ("off", who("off"), False, BADGE_ONLY),
    ("off, mentioned", who("off", mentioned=True), False, BADGE_ONLY),
    ("off, offline", who("off", online=False), False, BADGE_ONLY),
    # DND keeps the badge and skips toast and push
    ("dnd, all, online", who(dnd=True), False, BADGE_ONLY),
    ("dnd, all, offline", who(dnd=True, online=False), False, BADGE_ONLY),
    ("dnd, mentioned", who(dnd=True, mentioned=True), False, BADGE_ONLY),
    # urgent bypasses DND and mute
    ("urgent, dnd, online", who(dnd=True), True, TOAST),
    ("urgent, dnd, offline", who(dnd=True, online=False), True, PUSH),
    ("urgent, off", who("off"), True, TOAST),
    ("urgent, mentions_only, not mentioned", who("mentions_only", online=False), True, PUSH),
    # a focused chat: no unread growth and no toast, urgent or not
    ("focused", who(focused=True), False, NOTHING),
    ("focused, urgent", who(focused=True), True, NOTHING),
    # device notifications turned off: no push, toasts in open apps still show; urgent pushes anyway
    ("push off, offline", who(online=False, push_enabled=False), False, BADGE_ONLY),
    ("push off, online", who(push_enabled=False), False, TOAST),
    ("push off, urgent, offline", who(online=False, push_enabled=False), True, PUSH),
]


@pytest.mark.parametrize(("recipient", "urgent", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_the_evaluator(recipient, urgent, expected):
    assert evaluate(recipient, urgent) == expected
