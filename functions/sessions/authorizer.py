"""`$connect` Lambda REQUEST authorizer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics
from tidings.sessions.authorizing import authorize
from tidings.wiring import revocations, signing_key


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event, signing_key, revocations().revoked_before)
