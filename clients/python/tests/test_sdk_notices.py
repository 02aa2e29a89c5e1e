"""Protocol version 2: a `message.new` carries the recipient's badge and toast, and the client
hands them on as the `notification.badge` and `notification.toast` events version 1 sends, so an
application sees no difference."""

from __future__ import annotations

from tidings_client import TidingsClient
from tidings_client.frames import split_notices
from tidings_client.testing import FakeServer, message_new, settle

BADGE = {"chatId": "c", "unreadCount": 3, "mentionCount": 1, "totalUnreadCount": 7, "totalMentionCount": 1}
TOAST = {
    "id": "toast-1",
    "title": "Alice in #c",
    "body": "hi @bob",
    "chatId": "c",
    "messageId": "m-1",
    "priority": "normal",
    "timestamp": "2026-12-03T12:00:00.000Z",
    "actions": ["reply", "markRead", "mute"],
    "count": 1,
}


def carrying(seq: int, **notice: dict) -> dict:
    frame = message_new("c", seq)
    return {**frame, "payload": {**frame["payload"], **notice}}


def collect(client: TidingsClient) -> list[dict]:
    seen: list[dict] = []
    for frame_type in ("message.new", "notification.badge", "notification.toast"):
        client.on(frame_type, seen.append)
    return seen


async def test_hello_asks_for_version_2(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    assert server.current.received[0]["payload"]["protocolVersion"] == 2


async def test_a_carried_badge_and_toast_reach_handlers_as_their_own_events_after_the_message(
    make_client, server: FakeServer
):
    client = make_client()
    seen = collect(client)
    await client.connect()
    server.current.push_frame(carrying(1, badge=BADGE, toast=TOAST))
    await settle()

    assert [f["type"] for f in seen] == ["message.new", "notification.badge", "notification.toast"]
    new, badge, toast = seen
    assert set(new["payload"]) == {"chatId", "seq", "message"}, "message.new as version 1 sends it"
    assert (badge["payload"], toast["payload"]) == (BADGE, TOAST)
    assert badge["id"] != toast["id"]
    # The frame log shows what the handlers saw.
    assert [f["type"] for f in client.frames[-3:]] == ["message.new", "notification.badge", "notification.toast"]


async def test_a_badge_alone_is_one_event_and_a_plain_message_none(make_client, server: FakeServer):
    client = make_client()
    seen = collect(client)
    await client.connect()
    server.current.push_frame(carrying(1, badge=BADGE))
    server.current.push_frame(message_new("c", 2))
    await settle()
    assert [f["type"] for f in seen] == ["message.new", "notification.badge", "message.new"]


async def test_a_message_held_for_a_gap_still_tells_its_badge_at_once(make_client, server: FakeServer):
    """As with version 1, whose badge frame is never held behind a missing message."""
    client = make_client()
    seen = collect(client)
    await client.connect()
    server.current.push_frame(message_new("c", 1))
    server.current.push_frame(carrying(3, badge=BADGE))  # seq 2 is missing
    await settle()
    assert [(f["type"], f["payload"].get("seq")) for f in seen] == [("message.new", 1), ("notification.badge", None)]


async def test_a_raw_client_sees_the_frame_as_it_came(make_client, server: FakeServer):
    client = make_client(raw=True)
    seen = collect(client)
    await client.connect()
    server.current.push_frame(carrying(1, badge=BADGE, toast=TOAST))
    await settle()
    (frame,) = seen
    assert (frame["payload"]["badge"], frame["payload"]["toast"]) == (BADGE, TOAST)


def test_split_leaves_other_frames_and_malformed_notices_alone():
    plain = message_new("c", 1)
    assert split_notices(plain) == (plain, [])
    badge_frame = {"type": "notification.badge", "id": "b", "payload": BADGE}
    assert split_notices(badge_frame) == (badge_frame, [])
    frame, notices = split_notices(carrying(1, badge="not an object"))
    assert "badge" not in frame["payload"] and notices == []
