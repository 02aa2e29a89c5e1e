"""Protocol v2 at the cost floor: the Delivery consumer decides a new message's notifications
first and posts each recipient connection ONE API Gateway message, `message.new` carrying that
recipient's badge and toast; a version 1 connection (or one that never said hello) still gets
`message.new`, then `notification.badge` and `notification.toast`. Real stream records, moto."""

import json
import os

import boto3

from tests.support.aws import count_batch_gets, stream_records
from tests.support.events import sqs_event
from tests.support.seed import make_chat
from tests.support.services import message_service
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage
from tidings.notifications.preference_store import DynamoPreferenceStore
from tidings.notifications.preferences import NotificationPreferences
from tidings.sessions.connection_store import DynamoConnectionStore

MEMBERS = ["alice", "bob", "carol", "dave", "erin"]  # alice sends; the other four receive


def _connect(connection_id: str, user_id: str, at: int, version: int | None) -> None:
    """A connection that said hello with `version` (None: it never said hello)."""
    store = DynamoConnectionStore()
    store.add(connection_id, user_id, connected_at_ms=at, token_expires_at=2_000_000_000)
    if version is not None:
        store.set_protocol(connection_id, version, "pytest/1.0")


def _chat_of_five() -> None:
    """Project X, five members; dave muted it (a badge, no toast), erin hears mentions only."""
    make_chat("project-x", MEMBERS)
    prefs = DynamoPreferenceStore()
    prefs.put("dave", NotificationPreferences.model_validate({"chatOverrides": {"project-x": {"level": "off"}}}))
    prefs.put(
        "erin", NotificationPreferences.model_validate({"chatOverrides": {"project-x": {"level": "mentions_only"}}})
    )


def _send(content: str = "hi @bob") -> None:
    message_service().send("alice", SendMessage(request_id="r1", chat_id="project-x", content=content))


def _deliver(functions, context) -> None:
    batch = {"Records": stream_records(MessageModel.Meta.table_name)}
    assert functions["delivery"].handler(batch, context) == {"batchItemFailures": []}


def _frames(connections, connection_id: str) -> list[dict]:
    return [json.loads(data) for data in connections.sent.get(connection_id, [])]


def test_every_v2_recipient_connection_gets_one_message_new_carrying_its_badge_and_toast(
    functions, context, connections
):
    _chat_of_five()
    _connect("alice-1", "alice", 1, 2)
    for n, user_id in enumerate(MEMBERS[1:]):
        _connect(f"{user_id}-1", user_id, 10 + n, 2)
    _connect("bob-2", "bob", 20, 2)  # a second tab of bob's
    _send("hi @bob")

    _deliver(functions, context)

    posts = {connection_id: len(sent) for connection_id, sent in connections.sent.items()}
    assert posts == {"alice-1": 1, "bob-1": 1, "bob-2": 1, "carol-1": 1, "dave-1": 1, "erin-1": 1}, (
        "one PostToConnection per connection"
    )
    frames = {connection_id: frame for connection_id, (frame,) in ((c, _frames(connections, c)) for c in posts)}
    assert {frame["type"] for frame in frames.values()} == {"message.new"}
    assert "badge" not in frames["alice-1"]["payload"] and "toast" not in frames["alice-1"]["payload"], (
        "the sender is not notified of its own message"
    )
    for connection_id in ("bob-1", "bob-2", "carol-1", "dave-1", "erin-1"):
        badge = frames[connection_id]["payload"]["badge"]
        assert (badge["chatId"], badge["unreadCount"], badge["totalUnreadCount"]) == ("project-x", 1, 1)
    assert frames["bob-1"]["payload"]["badge"]["mentionCount"] == 1
    assert frames["carol-1"]["payload"]["badge"]["mentionCount"] == 0
    # Toasts where the preferences say so: bob (mentioned) and carol (level all), not dave (off)
    # nor erin (mentions only, not mentioned).
    toasted = {c for c, frame in frames.items() if "toast" in frame["payload"]}
    assert toasted == {"bob-1", "bob-2", "carol-1"}
    toast = frames["bob-1"]["payload"]["toast"]
    assert (toast["title"], toast["body"], toast["chatId"]) == ("Alice in project-x", "hi @bob", "project-x")
    assert toast["messageId"] == frames["bob-1"]["payload"]["message"]["messageId"]
    assert frames["bob-2"]["payload"]["toast"] == toast, "both of bob's tabs are told the same"


def test_v1_connections_and_those_that_never_said_hello_get_todays_three_frames(functions, context, connections):
    _chat_of_five()
    for n, user_id in enumerate(MEMBERS[1:]):
        _connect(f"{user_id}-1", user_id, 10 + n, 1 if n % 2 else None)
    _send("hi @bob")

    _deliver(functions, context)

    types = {c: [f["type"] for f in _frames(connections, c)] for c in connections.sent}
    assert types == {
        "bob-1": ["message.new", "notification.badge", "notification.toast"],
        "carol-1": ["message.new", "notification.badge", "notification.toast"],
        "dave-1": ["message.new", "notification.badge"],
        "erin-1": ["message.new", "notification.badge"],
    }
    for connection_id in types:
        new = _frames(connections, connection_id)[0]
        assert "badge" not in new["payload"] and "toast" not in new["payload"], "v1's message.new is as before"


def test_mixed_versions_each_connection_as_it_speaks(functions, context, connections):
    _chat_of_five()
    _connect("bob-new", "bob", 1, 2)
    _connect("bob-old", "bob", 2, 1)
    _connect("carol-1", "carol", 3, None)
    _connect("dave-1", "dave", 4, 2)
    _send("hi @bob")

    _deliver(functions, context)

    (bob_new,) = _frames(connections, "bob-new")
    bob_old = _frames(connections, "bob-old")
    assert [f["type"] for f in bob_old] == ["message.new", "notification.badge", "notification.toast"]
    assert bob_new["payload"]["badge"] == bob_old[1]["payload"], "the same badge, carried or separate"
    assert bob_new["payload"]["toast"] == bob_old[2]["payload"]
    assert [f["type"] for f in _frames(connections, "carol-1")] == [
        "message.new",
        "notification.badge",
        "notification.toast",
    ]
    (dave,) = _frames(connections, "dave-1")
    assert dave["payload"]["badge"]["unreadCount"] == 1 and "toast" not in dave["payload"]


def test_a_failed_decision_still_delivers_the_message_and_queues_the_notification_retry(
    functions, context, connections, monkeypatch
):
    from tidings.chats.models import MemberModel

    _chat_of_five()
    _connect("bob-1", "bob", 1, 2)
    _connect("carol-1", "carol", 2, 1)
    _send("hi @bob")

    def preferences_down(self, user_ids):
        raise RuntimeError("Users is throttled")

    with monkeypatch.context() as patched:
        patched.setattr(DynamoPreferenceStore, "for_users", preferences_down)
        _deliver(functions, context)

    # Plain message.new to everybody, v2 or not; no badge counted yet.
    for connection_id in ("bob-1", "carol-1"):
        (new,) = _frames(connections, connection_id)
        assert new["type"] == "message.new"
        assert "badge" not in new["payload"] and "toast" not in new["payload"]
    assert int(MemberModel.get("project-x", "bob").unread_count or 0) == 0
    url = os.environ["NOTIFICATION_RETRIES_QUEUE_URL"]
    (job,) = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=10)["Messages"]

    # The retry tells in separate frames, to the v2 connection too; the message is not posted again.
    assert functions["notify_retry"].handler(sqs_event([job["Body"]]), context) == {"batchItemFailures": []}
    for connection_id in ("bob-1", "carol-1"):
        types = [f["type"] for f in _frames(connections, connection_id)]
        assert types == ["message.new", "notification.badge", "notification.toast"]
    assert int(MemberModel.get("project-x", "bob").unread_count) == 1


def test_reading_the_versions_costs_no_read_of_its_own(functions, context, connections, monkeypatch):
    from tidings.sessions.models import ConnectionModel

    _chat_of_five()
    for n, user_id in enumerate(MEMBERS[1:]):
        _connect(f"{user_id}-1", user_id, 10 + n, 2)
    _send("hi @bob")
    reads = count_batch_gets(monkeypatch, ConnectionModel)
    monkeypatch.setattr(
        ConnectionModel, "get", lambda *a, **k: (_ for _ in ()).throw(AssertionError("a read per connection"))
    )

    _deliver(functions, context)

    assert reads == [4], "the recipients' focus and versions in one batch read"
    assert all(len(sent) == 1 for sent in connections.sent.values())
