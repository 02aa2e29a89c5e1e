"""`$default` and `ping`: answers heartbeats, and every frame no route matched."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.handlers import websocket_entry
from tidings.kernel.router import answer_unrouted_frame, frame_route
from tidings.kernel.wire import EmptyPayload

route = frame_route(EmptyPayload, answer_unrouted_frame)


@websocket_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
