"""The local-only endpoints, kept to this machine.

`tidings dev` serves endpoints that AWS does not expose to clients, with no authentication: the
@connections management API (on AWS it is SigV4-signed and IAM-authorized, so only the
functions' role may post to or close a connection) and `/_local/*` (a sign-in for any user id,
fault injection, stats, queue inspection, the search rebuild). Bound to loopback, only this
machine reaches them. Bound to another address (`--host 0.0.0.0`), anyone on the network could,
so `peer_check` answers them 403 unless the peer is this machine, or unless the developer asked
for it (`--allow-remote-local-endpoints`).

This machine is a loopback peer, or one whose address is the address it reached the runtime on
(the handlers' own @connections calls, when the runtime is bound to a LAN address and
`WEBSOCKET_CALLBACK_URL` names that address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

LOCAL_ONLY_PREFIXES = ("/@connections/", "/_local/")
ALLOW_FLAG = "--allow-remote-local-endpoints"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((text or "").split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def is_loopback_host(host: str) -> bool:
    """Whether binding `host` keeps the runtime on this machine (`localhost`, 127.0.0.0/8, ::1).
    Any other name or address, and the wildcard (`0.0.0.0`, `::`, ''), may be reached from others."""
    if host == "localhost":
        return True
    address = _address(host)
    return address is not None and address.is_loopback


def is_same_host(peer: str | None, local: str | None) -> bool:
    """Whether a connection from `peer`, accepted on the local address `local`, comes from this
    machine."""
    peer_address = _address(peer)
    if peer_address is None:
        return False
    return peer_address.is_loopback or peer_address == _address(local)


def is_local_only(path: str) -> bool:
    return path.startswith(LOCAL_ONLY_PREFIXES)


def _refusal(path: str) -> web.Response:
    message = (
        f"{path} is a local-only endpoint of tidings dev and answers only this machine;"
        f" restart tidings dev with {ALLOW_FLAG} to allow other hosts"
    )
    if path.startswith("/@connections/"):
        # The management API's own error shape (botocore reads the type from the header), with
        # the status AWS gives a caller it does not authorize.
        return web.json_response({"message": message}, status=403, headers={"x-amzn-ErrorType": "ForbiddenException"})
    return web.json_response({"error": {"code": "FORBIDDEN", "message": message}}, status=403)


def peer_check(*, allow_remote: bool) -> Middleware:
    """The aiohttp middleware refusing the local-only endpoints to other hosts."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if allow_remote or not is_local_only(request.path):
            return await handler(request)
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        local = sockname[0] if isinstance(sockname, tuple) and sockname else None
        if is_same_host(request.remote, local):
            return await handler(request)
        return _refusal(request.path)

    return check
