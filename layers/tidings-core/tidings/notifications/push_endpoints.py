"""Where a push may go: a Web Push endpoint never leads inside the deployment (docs/architecture.md,
"Push")."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

# `tidings dev` only (PUSH_ALLOW_LOOPBACK_HTTP): the test push services listen on plain http here.
LOCAL_PUSH_HOSTS = frozenset({"127.0.0.1", "localhost"})


WEB_PUSH_PORT = 443


# IPv6 forms that carry an IPv4 address a connection may end up at (besides IPv4-mapped
# `::ffff:a.b.c.d`, 6to4 and Teredo, which `ipaddress` unpacks itself).
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


class EndpointRefused(ValueError):
    """A push endpoint, or the address it resolves to, that the worker must not connect to."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (raises OSError when it does not resolve)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address: not loopback, private, link-local (the
    instance metadata service, 169.254.169.254 and fd00:ec2::254, included), CGNAT, multicast,
    reserved or unspecified, in IPv4 or IPv6, including IPv4 addresses carried inside IPv6."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if carried is None and ip in NAT64_PREFIX:
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None:
            ip = carried
    return ip.is_global and not ip.is_multicast


def check_addresses(scheme: str, host: str, addresses: list[str], *, allow_loopback_http: bool) -> None:
    """Raises EndpointRefused unless every address `host` resolved to may be connected to: public
    addresses over https; loopback over plain http to the local push hosts where allowed."""
    if not addresses:
        raise EndpointRefused("host resolves to no address")
    if scheme == "http":
        loopback = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
        if allow_loopback_http and host in LOCAL_PUSH_HOSTS and loopback:
            return
        raise EndpointRefused("must be an https URL")
    if not all(is_public_address(address) for address in addresses):
        raise EndpointRefused("must name a public host, not a loopback, private, link-local or reserved address")


def check_endpoint(
    endpoint: str, *, allow_loopback_http: bool, resolve: Callable[[str, int], list[str]] | None = None
) -> str:
    """A Web Push endpoint the worker may post to, or EndpointRefused (a ValueError) saying why.

    Endpoints are `https://` on port 443, to a host that is not an address inside the deployment
    (loopback, private, link-local such as the instance metadata service, …): a subscription must
    not make the worker post to anything but a public push service. An IP literal is checked as
    it is; a host name is resolved and every address checked. A name that does not resolve now is
    accepted, as it reaches nothing: the worker checks every address again when it connects
    (`tidings.notifications.push_http.guarded_session`), since DNS can change. Plain http is allowed
    only to 127.0.0.1 or localhost, and only where the deployment says so (`tidings dev`, whose
    tests run a push service there); on AWS never."""
    try:
        url = urlsplit(endpoint)
        host, port = url.hostname, url.port
    except ValueError:
        raise EndpointRefused("must be an https URL") from None
    if url.username is not None or url.password is not None:
        raise EndpointRefused("must not carry credentials")
    if not host or url.scheme not in ("http", "https"):
        raise EndpointRefused("must be an https URL")
    if url.scheme == "http":
        if allow_loopback_http and host in LOCAL_PUSH_HOSTS:
            return endpoint
        raise EndpointRefused("must be an https URL")
    if port not in (None, WEB_PUSH_PORT):
        raise EndpointRefused(f"must use the https port ({WEB_PUSH_PORT})")
    if _is_ip_literal(host):
        check_addresses("https", host, [host], allow_loopback_http=allow_loopback_http)
        return endpoint
    try:
        addresses = (resolve or resolve_host)(host, WEB_PUSH_PORT)
    except UnicodeError:
        raise EndpointRefused("must name a valid host") from None
    except OSError:
        return endpoint  # does not resolve now; checked again at every send
    check_addresses("https", host, addresses, allow_loopback_http=allow_loopback_http)
    return endpoint


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
