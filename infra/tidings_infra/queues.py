"""SQS queues: one per declared `Queue`."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tidings.kernel.declaration import Queue
from tidings_infra.nag import acknowledge

_DLQ_RETENTION = Duration.days(14)  # the SQS maximum: time for an operator to inspect and redrive


class QueuesConstruct(Construct):
    """One encrypted, TLS-only SQS queue per declared `Queue`, with a DLQ where declared.

    `failure_destinations` are the ids of queues used as on-failure destinations of event
    source mappings: they are dead-letter queues themselves and get no DLQ of their own.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queues: Sequence[Queue],
        failure_destinations: Collection[str],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queues: dict[str, sqs.Queue] = {}
        for declared in queues:
            self.queues[declared.id] = self._queue(declared, declared.id in failure_destinations, removal_policy)

    def queue(self, declared: Queue) -> sqs.Queue:
        return self.queues[declared.id]

    def dead_letter_queue(self, declared: Queue) -> sqs.IQueue | None:
        """The DLQ of a queue declared with `dead_letter_after`, else None."""
        dead_letter = self.queue(declared).dead_letter_queue
        return dead_letter.queue if dead_letter is not None else None

    def _queue(self, declared: Queue, is_failure_destination: bool, removal_policy: RemovalPolicy) -> sqs.Queue:
        dead_letter_queue = None
        if declared.dead_letter_after is not None:
            dlq = self._encrypted_queue(f"{declared.id}Dlq", removal_policy, retention_period=_DLQ_RETENTION)
            _acknowledge_dead_letter_queue(dlq, f"the dead-letter queue of {declared.id}")
            dead_letter_queue = sqs.DeadLetterQueue(max_receive_count=declared.dead_letter_after, queue=dlq)
        queue = self._encrypted_queue(
            declared.id,
            removal_policy,
            delivery_delay=Duration.seconds(declared.delay_seconds) if declared.delay_seconds else None,
            visibility_timeout=Duration.seconds(declared.visibility_timeout_seconds),
            retention_period=Duration.days(declared.retention_days),
            dead_letter_queue=dead_letter_queue,
        )
        if is_failure_destination and dead_letter_queue is None:
            _acknowledge_dead_letter_queue(
                queue, "the on-failure destination of a stream consumer, where failed records are parked"
            )
        return queue

    def _encrypted_queue(self, construct_id: str, removal_policy: RemovalPolicy, **props: object) -> sqs.Queue:
        return sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal_policy,
            **props,  # type: ignore[arg-type]
        )


def _acknowledge_dead_letter_queue(queue: sqs.Queue, what: str) -> None:
    acknowledge(
        queue,
        f"This queue is {what}, i.e. a dead-letter queue itself; a redrive policy on it would only "
        "move failed messages one queue further. Its messages are kept for inspection and redrive.",
        "AwsSolutions-SQS3",
        "Serverless-SQSRedrivePolicy",
    )
