"""Erasure worker (the ErasureJobs queue): erases a user stage by stage
(`tidings.admin.erasure`), and queues the rest of the work, with its cursor, before the
invocation's time runs out. A job that fails (storage down, a connection that could not be
closed) is redelivered by SQS and resumes from its cursor; nothing it did is done twice."""

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.admin import compose as admin
from tidings.admin.declaration import ERASURE_WORKER
from tidings.admin.erasure import ERASURE_JOB_BODIES, ErasureJob, ErasurePorts, ErasureService
from tidings.attachments import compose as attachments
from tidings.chats import compose as chats
from tidings.chats.membership import PLATFORM
from tidings.kernel import connections_api
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch, queue_job
from tidings.messaging import compose as messaging
from tidings.notifications import compose as notifications
from tidings.presence import compose as presence
from tidings.search import compose as search
from tidings.sessions import compose as sessions

# Time kept for queueing the continuation and for the slowest step (a page of deletes).
RESERVED_MILLISECONDS = 20_000


@cold_start(ERASURE_WORKER)
def _erasure(environment: Environment) -> ErasureService:
    engine = search.search_engine(environment)
    ports = ErasurePorts(
        marks=admin.erasure_marks(environment),
        sessions=sessions.session_revocation(environment, poster=connections_api.poster(environment)),
        messages=messaging.message_erasure(
            environment,
            actor_id=PLATFORM.actor_id,
            actor_name=PLATFORM.actor_name,
            attachments=attachments.sent_attachments(environment),
        ),
        remove_from_search=lambda message_ids: engine().remove(message_ids),
        uploads=attachments.upload_erasure(environment),
        memberships=chats.chat_administration(environment),
        push=notifications.push_subscriptions(environment),
        presence=presence.presence_store(environment),
        presence_subscriptions=presence.subscriptions(environment),
    )
    return ErasureService(ports, now=time.time)


@cold_start(ERASURE_WORKER)
def _jobs(environment: Environment) -> DelayQueue[ErasureJob]:
    return admin.erasure_jobs(environment)


def erase(record: SQSRecord, context: LambdaContext) -> None:
    job = queue_job(record, ERASURE_JOB_BODIES, job="erasure job", malformed_metric="ErasureJobsMalformed")
    rest = _erasure().run(job, has_time=lambda: context.get_remaining_time_in_millis() > RESERVED_MILLISECONDS)
    if rest is not None:
        _jobs().schedule(rest)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A batch of nothing but poison is still a partial failure response, not an invocation error.
    return process_batch(event, context, lambda record: erase(record, context), EventType.SQS, poison_is_partial=True)
