"""The interim offline-push hook in BadgeService (issue 5): a recipient with no connection gets
a PushNotification on the push queue. The §3.2 evaluator replaces the hook, and this file with it."""

import time

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.domain.badges import BadgeService
from tidings.domain.messages import MessageService, SendMessage
from tidings.domain.push import PushNotification
from tidings.storage.badges import DynamoBadgeStore
from tidings.storage.connections import DynamoConnectionStore
from tidings.storage.messages import DynamoMemberDirectory, DynamoMessageStore, DynamoUserDirectory


class Queue:
    def __init__(self) -> None:
        self.notifications: list[PushNotification] = []

    def enqueue(self, notification: PushNotification) -> None:
        self.notifications.append(notification)


class Posted:
    def post(self, connection_id: str, data: str) -> bool:
        return True


def test_only_offline_recipients_get_a_push_with_the_message_cut_to_100_characters(aws):
    make_chat("project-x", ["alice", "bob", "carol"])
    connections = DynamoConnectionStore()
    connections.add("bob-1", "bob", connected_at_ms=1, token_expires_at=2_000_000_000)
    queue = Queue()
    badges = BadgeService(DynamoBadgeStore(), DynamoMemberDirectory(), connections, Posted, push=queue)
    sending = MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)
    content = "é" * 150
    message = sending.send("alice", SendMessage(request_id="r1", chat_id="project-x", content=content))
    badges.message_arrived(message)
    [push] = queue.notifications
    assert push.user_id == "carol", "bob is online and alice sent it"
    assert (push.title, push.chat_id, push.message_id, push.priority) == (
        message.sender_name,
        "project-x",
        message.message_id,
        "normal",
    )
    assert push.body == "é" * 99 + "…"
    assert push.total_unread == 1
