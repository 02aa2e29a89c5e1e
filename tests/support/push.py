"""A push notification for tests of the push path."""

from tidings.notifications.push_delivery import PushNotification

NOTIFICATION = PushNotification(
    user_id="carol",
    id="toast-1",
    title="Alice",
    body="lunch?",
    chat_id="project-x",
    message_id="m-1",
    priority="normal",
    timestamp="2026-11-25T10:00:00.000Z",
    total_unread=3,
)
