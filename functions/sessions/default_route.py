"""`$default` and `ping`: answers heartbeats, and every frame no route matched."""

from tidings.kernel.router import answer_unrouted_frame, frame_handler, frame_route
from tidings.kernel.wire import EmptyPayload

route = frame_route(EmptyPayload, answer_unrouted_frame)

handler = frame_handler(route)
