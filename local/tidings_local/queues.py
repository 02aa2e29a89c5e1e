"""Lambda's SQS event source mapping, emulated for each declared `QueueSubscription`.

One `QueuePoller` per subscription receives from the queue (moto) and invokes the function
with an SQS event, as the mapping does with `ReportBatchItemFailures` on:

- batching: up to `batch_size` messages, waiting up to `max_batching_window_seconds` to fill;
- success deletes the batch; `batchItemFailures` (`itemIdentifier` = messageId) keeps those
  messages, and an exception (or an unknown identifier) keeps the whole batch. Kept messages
  become visible again after the queue's visibility timeout and are retried, and the queue's
  redrive policy (`dead_letter_after`) moves them to its dead-letter queue, both done by moto's
  SQS as SQS does them;
- delay queues (`delay_seconds`) work as timers because moto's SQS honours the delay.

Instead of polling hot, the poller wakes as soon as moto handles a send, and when idle sleeps
until the queue's next delayed or in-flight message becomes visible (moto's SQS is in this
process, so it can look), or `poll_interval` at most.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import boto3

from tidings.kernel.declaration import QueueSubscription
from tidings_local.aws import ACCOUNT_ID, queue_name_of, region
from tidings_local.lambdas import Lambdas
from tidings_local.log import logger
from tidings_local.moto_patches import SQS_SENDS, on_request, seconds_until_visible, wait_until_set, wake
from tidings_local.streams import PollerSettings

T = TypeVar("T")
SQS_RECEIVE_MAX = 10  # one ReceiveMessage returns at most 10 messages


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage message, as the event source mapping puts it into the Lambda event."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        attribute: dict[str, Any] = {
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attributes[name] = attribute
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region(),
    }


class QueuePoller:
    """The event source mapping of one queue subscription."""

    def __init__(
        self,
        subscription: QueueSubscription,
        queue_url: str,
        queue_arn: str,
        lambdas: Lambdas,
        platform: Executor,
        settings: PollerSettings,
    ) -> None:
        self.subscription = subscription
        self._url = queue_url
        self._name = queue_name_of(queue_url)
        self._arn = queue_arn
        self._lambdas = lambdas
        self._platform = platform
        self._settings = settings
        self._sqs = boto3.client("sqs", region_name=region())
        self._sent = asyncio.Event()

    async def run(self) -> None:
        """Receives and delivers until cancelled. Unexpected errors are logged and retried."""
        loop = asyncio.get_running_loop()
        unsubscribe = on_request(SQS_SENDS, lambda: wake(loop, self._sent))
        try:
            while True:
                try:
                    await self._step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("queue poller error", extra={"function": self.subscription.function.id})
                    await asyncio.sleep(self._settings.retry_backoff)
        finally:
            unsubscribe()

    async def _step(self) -> None:
        self._sent.clear()
        batch = await self._platform_call(lambda: self._receive(self.subscription.batch_size))
        if not batch:
            until_visible = await self._platform_call(lambda: seconds_until_visible(self._name, ACCOUNT_ID, region()))
            await self._wait_for_sends(min(until_visible, self._settings.poll_interval))
            return
        window_ends = time.monotonic() + self.subscription.max_batching_window_seconds
        while len(batch) < self.subscription.batch_size and (left := window_ends - time.monotonic()) > 0:
            await self._wait_for_sends(min(left, self._settings.poll_interval))
            self._sent.clear()
            wanted = self.subscription.batch_size - len(batch)
            batch += await self._platform_call(lambda: self._receive(wanted))  # noqa: B023
        await self._deliver(batch)

    async def _wait_for_sends(self, timeout: float) -> None:
        await wait_until_set(self._sent, timeout)

    def _receive(self, wanted: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < wanted:
            received = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, wanted - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(dict(m) for m in received)
            if len(received) < SQS_RECEIVE_MAX:
                break
        return messages

    async def _deliver(self, messages: list[dict[str, Any]]) -> None:
        function = self.subscription.function
        records = [lambda_record(message, self._arn) for message in messages]
        try:
            response = await self._lambdas.invoke(function, {"Records": records})
        except Exception as exc:
            logger.warning(
                "queue batch failed; it is retried after the visibility timeout",
                extra={"function": function.id, "batchSize": len(records), "error": type(exc).__name__},
                exc_info=True,
            )
            return
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        identifiers = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures or []}
        if not identifiers <= {m["MessageId"] for m in messages}:
            logger.warning("invalid batchItemFailures: keeping the whole batch", extra={"function": function.id})
            return
        done = [m for m in messages if m["MessageId"] not in identifiers]
        await self._platform_call(lambda: self._delete(done))

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_RECEIVE_MAX):
            chunk = messages[start : start + SQS_RECEIVE_MAX]
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    async def _platform_call(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._platform, call)
