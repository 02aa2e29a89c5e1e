"""Construction of the administration API's services, from a function's environment. The
sessions feature's sign-in, and the other features' parts of an erasure, are passed in by the
handler that composes them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tidings.admin.declaration import ERASURE_JOBS
from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment
from tidings.messaging.models import MESSAGES
from tidings.notifications.models import PUSH_SUBSCRIPTIONS

if TYPE_CHECKING:
    from tidings.admin.erasure import ErasureJob
    from tidings.admin.service import AdminService, SessionIssuing
    from tidings.admin.user_store import DynamoUserStore


def admin_service(environment: Environment, *, sessions: SessionIssuing) -> AdminService:
    from tidings.admin.export_store import DynamoUserData
    from tidings.admin.service import AdminService
    from tidings.admin.user_store import DynamoUserStore

    environment.require(USERS, MEMBERS, CHATS, MESSAGES, PUSH_SUBSCRIPTIONS)
    return AdminService(DynamoUserStore(), DynamoUserData(), sessions, erasure_jobs(environment), now=time.time)


def erasure_jobs(environment: Environment) -> DelayQueue[ErasureJob]:
    from tidings.admin.erasure import ERASURE_JOB_BODIES

    return DelayQueue(environment.queue_url(ERASURE_JOBS), ERASURE_JOB_BODIES)


def erasure_marks(environment: Environment) -> DynamoUserStore:
    """The erasure's state on the user item, and the tombstone it leaves."""
    from tidings.admin.user_store import DynamoUserStore

    environment.require(USERS)
    return DynamoUserStore()
