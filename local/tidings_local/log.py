"""The runtime's own logger: Powertools JSON logs, service `tidings-local`.

The handlers log through `tidings.kernel.observability` (service `tidings`); the platform pieces
emulated here log through this one, so the two are easy to tell apart. Metadata only: never a
frame body or message content.
"""

from aws_lambda_powertools import Logger

logger = Logger(service="tidings-local")
