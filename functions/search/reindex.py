"""Rebuilds the search index from the message store (seed §8.2): the recovery path.

On AWS: `aws lambda invoke --function-name <SearchReindex> out.json`; progress goes to the
function's log. Locally, `tidings reindex` runs the same `Reindexer` inside `tidings dev`.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.search.indexing import ReindexProgress
from tidings.wiring import reindexer


def _log(progress: ReindexProgress) -> None:
    logger.info(
        "reindex progress",
        extra={
            "chatsDone": progress.chats_done,
            "chatsTotal": progress.chats_total,
            "messages": progress.messages_indexed,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = reindexer().run(_log)
    metrics.add_metric(name="SearchDocumentsReindexed", unit="Count", value=result.messages_indexed)
    return {"chats": result.chats_total, "messages": result.messages_indexed}
