"""Lambda's asynchronous invocation, emulated for the event sources that invoke that way (S3
event notifications, EventBridge schedules): a failed invocation is retried twice (after
`RETRY_DELAYS`, seconds here rather than AWS's minutes), then the event and the error go to the
function's on-failure destination, an SQS queue, as Lambda's destination record.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import boto3

from tidings.kernel.declaration import Function
from tidings_local.aws import region
from tidings_local.lambdas import Lambdas
from tidings_local.log import logger

RETRY_DELAYS = (1.0, 2.0)


async def invoke_async(
    lambdas: Lambdas,
    function: Function,
    event: dict[str, Any],
    on_failure_url: str,
) -> None:
    """Invokes `function` as Lambda's asynchronous invocation does."""
    error = ""
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
        if delay:
            await asyncio.sleep(delay)
        try:
            await lambdas.invoke(function, event)
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "asynchronous invocation failed",
                extra={"function": function.id, "attempt": attempt + 1, "error": error},
            )
    await asyncio.to_thread(_park, event, error, on_failure_url)
    logger.warning(
        "asynchronous invocation sent to the on-failure destination",
        extra={"function": function.id, "attempts": 1 + len(RETRY_DELAYS)},
    )


def _park(event: dict[str, Any], error: str, on_failure_url: str) -> None:
    """Lambda's on-failure destination record: the request, the response, the condition."""
    record = {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 1 + len(RETRY_DELAYS)},
        "requestPayload": event,
        "responsePayload": {"errorMessage": error},
    }
    boto3.client("sqs", region_name=region()).send_message(QueueUrl=on_failure_url, MessageBody=json.dumps(record))
