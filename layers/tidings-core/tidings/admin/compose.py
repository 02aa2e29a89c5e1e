"""Construction of the administration API's service, from a function's environment. The
sessions feature's sign-in is passed in by the handler that composes them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.environment import Environment
from tidings.messaging.models import MESSAGES
from tidings.notifications.models import PUSH_SUBSCRIPTIONS

if TYPE_CHECKING:
    from tidings.admin.service import AdminService, SessionIssuing


def admin_service(environment: Environment, *, sessions: SessionIssuing) -> AdminService:
    from tidings.admin.export_store import DynamoUserData
    from tidings.admin.service import AdminService
    from tidings.admin.user_store import DynamoUserStore

    environment.require(USERS, MEMBERS, CHATS, MESSAGES, PUSH_SUBSCRIPTIONS)
    return AdminService(DynamoUserStore(), DynamoUserData(), sessions, now=time.time)
