"""Rebuilds the search index from the message store: the recovery path.

On AWS: `aws lambda invoke --function-name <SearchReindex> out.json`; progress goes to the
function's log. Locally, `tidings reindex` runs the same `Reindexer` inside `tidings dev`.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.chats.directory import all_chat_ids
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry
from tidings.kernel.observability import logger, metrics
from tidings.messaging import compose as messaging
from tidings.search import compose as search
from tidings.search.declaration import SEARCH_REINDEX
from tidings.search.indexing import Reindexer, ReindexProgress


@cold_start(SEARCH_REINDEX)
def _reindexer(environment: Environment) -> Reindexer:
    return search.reindexer(
        environment, chat_ids=all_chat_ids, messages=messaging.message_store(environment).messages_of
    )


def _log(progress: ReindexProgress) -> None:
    logger.info(
        "reindex progress",
        extra={
            "chatsDone": progress.chats_done,
            "chatsTotal": progress.chats_total,
            "messages": progress.messages_indexed,
        },
    )


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = _reindexer().run(_log)
    metrics.add_metric(name="SearchDocumentsReindexed", unit="Count", value=result.messages_indexed)
    return {"chats": result.chats_total, "messages": result.messages_indexed}
