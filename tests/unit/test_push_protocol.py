"""The push subscription bodies (pydantic) and the endpoint rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support.webpush import Subscriber
from tidings.notifications.push_delivery import subscription_id
from tidings.notifications.push_endpoints import check_endpoint
from tidings.notifications.wire import (
    DeviceTokenIdentity,
    DeviceTokenRegistration,
    WebPushIdentity,
    WebPushRegistration,
    parse_identity,
    parse_registration,
)

ENDPOINT = "https://updates.push.services.mozilla.com/wpush/v2/gAAAA"


def fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in error["loc"]) for error in exc.errors()}


def test_a_browser_subscription_becomes_a_web_push_subscription():
    body = Subscriber().subscription(ENDPOINT) | {"expirationTime": 1_900_000_000_000}
    registration = parse_registration(body, allow_loopback_http=False)
    assert isinstance(registration, WebPushRegistration)
    subscription = registration.subscription("carol", "2026-11-25T10:00:00.000Z")
    assert (subscription.platform, subscription.endpoint, subscription.expires_at) == (
        "webpush",
        ENDPOINT,
        1_900_000_000,
    )
    assert subscription.id == subscription_id("webpush", ENDPOINT)


def test_native_tokens_are_told_apart_by_platform():
    fcm = parse_registration({"platform": "fcm", "deviceToken": "abc:APA91b-x_y"}, allow_loopback_http=False)
    apns = parse_registration({"platform": "apns", "deviceToken": "AB" * 32}, allow_loopback_http=False)
    assert isinstance(fcm, DeviceTokenRegistration) and isinstance(apns, DeviceTokenRegistration)
    assert fcm.subscription("u", "t").id == subscription_id("fcm", "abc:APA91b-x_y")
    assert subscription_id("fcm", "same") != subscription_id("apns", "same")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"endpoint": "ftp://x/y", "keys": {}}, "endpoint"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": "!!!", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": Subscriber().p256dh, "auth": "AAAA"}}, "keys.auth"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": Subscriber().p256dh}}, "keys.auth"),
        (
            {"endpoint": ENDPOINT, "keys": Subscriber().subscription(ENDPOINT)["keys"], "expirationTime": -1},
            "expirationTime",
        ),
        ({"platform": "apns", "deviceToken": "zz" * 32}, "deviceToken"),
        ({"platform": "fcm", "deviceToken": "has space"}, "deviceToken"),
        ({"platform": "fcm", "deviceToken": ""}, "deviceToken"),
    ],
)
def test_bad_bodies_name_the_field(body, field):
    with pytest.raises(ValidationError) as raised:
        parse_registration(body, allow_loopback_http=True)
    assert field in fields(raised.value)


def test_delete_bodies_identify_the_subscription():
    web = parse_identity(Subscriber().subscription(ENDPOINT))  # the whole subscription JSON works
    assert isinstance(web, WebPushIdentity) and web.subscription_id == subscription_id("webpush", ENDPOINT)
    native = parse_identity({"platform": "apns", "deviceToken": "ab"})
    assert isinstance(native, DeviceTokenIdentity) and native.subscription_id == subscription_id("apns", "ab")
    with pytest.raises(ValidationError):
        parse_identity({})


@pytest.mark.parametrize(
    ("endpoint", "loopback_allowed", "ok"),
    [
        ("https://fcm.googleapis.com/fcm/send/x", False, True),
        ("http://fcm.googleapis.com/fcm/send/x", True, False),
        ("http://127.0.0.1:8080/push", False, False),
        ("http://127.0.0.1:8080/push", True, True),
        ("http://localhost/push", True, True),
        ("http://[::1]:9/push", True, False),  # only 127.0.0.1 and localhost, even locally
        ("http://10.0.0.1/push", True, False),
        ("https:///no-host", False, False),
        ("javascript:alert(1)", True, False),
    ],
)
def test_endpoints_are_https_except_loopback_where_allowed(endpoint, loopback_allowed, ok):
    if ok:
        assert check_endpoint(endpoint, allow_loopback_http=loopback_allowed) == endpoint
    else:
        with pytest.raises(ValueError):
            check_endpoint(endpoint, allow_loopback_http=loopback_allowed)


# --- no endpoint leads inside the deployment (SSRF) -----------------------------------------------


def resolving(table: dict[str, list[str]]):
    """A resolver answering from `table`; other names do not resolve."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://169.254.169.254/latest/meta-data/",  # the instance metadata service
        "https://[fd00:ec2::254]/latest/meta-data/",  # its IPv6 address
        "https://10.1.2.3/push",
        "https://172.16.0.9/push",
        "https://192.168.1.1/push",
        "https://100.64.0.1/push",  # CGNAT
        "https://127.0.0.1/push",
        "https://127.0.0.1:8443/push",
        "https://[::1]/push",
        "https://[::ffff:169.254.169.254]/push",  # IPv4-mapped IPv6
        "https://[::ffff:7f00:1]/push",
        "https://[64:ff9b::a9fe:a9fe]/push",  # NAT64 of the metadata service
        "https://[fe80::1]/push",
        "https://[ff02::1]/push",
        "https://224.0.0.1/push",  # multicast
        "https://240.0.0.1/push",  # reserved
        "https://0.0.0.0/push",
        "https://2130706433/push",  # 127.0.0.1 as one number: resolves there
        "https://0x7f.1/push",  # and as hex
        "https://push.internal.example/push",  # resolves to a private address (below)
        "https://split.example/push",  # one public address, one private: refused
        "https://fcm.googleapis.com:8443/fcm/send/x",  # a public host, but not the https port
        "https://user:secret@fcm.googleapis.com/fcm/send/x",
    ],
)
def test_endpoints_inside_the_deployment_are_refused(endpoint):
    resolve = resolving(
        {
            "push.internal.example": ["10.0.0.5"],
            "split.example": ["142.250.1.1", "192.168.0.1"],
            "fcm.googleapis.com": ["142.250.1.1"],
            "2130706433": ["127.0.0.1"],
            "0x7f.1": ["127.0.0.1"],
        }
    )
    for allow_loopback_http in (False, True):
        with pytest.raises(ValueError):
            check_endpoint(endpoint, allow_loopback_http=allow_loopback_http, resolve=resolve)


def test_a_public_host_is_accepted_and_one_that_does_not_resolve_yet_too():
    resolve = resolving({"fcm.googleapis.com": ["142.250.1.1", "2a00:1450:4001::200a"]})
    for endpoint in ("https://fcm.googleapis.com/fcm/send/x", "https://fcm.googleapis.com:443/x", ENDPOINT):
        assert check_endpoint(endpoint, allow_loopback_http=False, resolve=resolve) == endpoint


def test_the_real_resolver_reads_numeric_hosts_as_the_connection_would():
    """No DNS needed: getaddrinfo reads these forms the way the worker's connection would."""
    for host in ("2130706433", "0x7f.1", "127.1"):
        with pytest.raises(ValueError):
            check_endpoint(f"https://{host}/push", allow_loopback_http=True)


def test_registration_refuses_the_metadata_service_naming_the_endpoint():
    body = Subscriber().subscription("https://169.254.169.254/latest/meta-data/iam")
    with pytest.raises(ValidationError) as raised:
        parse_registration(body, allow_loopback_http=True)
    assert fields(raised.value) == {"endpoint"}
