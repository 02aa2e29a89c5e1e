"""`$connect` Lambda REQUEST authorizer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import authorizer_entry
from tidings.sessions import compose as sessions
from tidings.sessions.authorizing import authorize
from tidings.sessions.declaration import AUTHORIZER
from tidings.sessions.token_store import DynamoRevocations


@cold_start(AUTHORIZER)
def _checks(environment: Environment) -> tuple[Any, DynamoRevocations]:
    return sessions.signing_key(environment), sessions.revocations(environment)


@authorizer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    signing_key, revocations = _checks()
    return authorize(event, signing_key, revocations.revoked_before)
