"""`$connect` Lambda REQUEST authorizer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import authorizer_entry
from tidings.sessions import compose as sessions
from tidings.sessions.authorizing import authorize
from tidings.sessions.declaration import AUTHORIZER
from tidings.sessions.session_service import TokenVerifier


@cold_start(AUTHORIZER)
def _verifier(environment: Environment) -> TokenVerifier:
    return sessions.connect_token_verifier(environment)


@authorizer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event, _verifier())
