"""The push adapters' request shapes and how they read answers: Web Push against a local push
service (decrypted, VAPID verified), FCM and APNs through httpx.MockTransport."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.push import NOTIFICATION as SAMPLE
from tests.support.push_service import LocalPushService, closed_port_url
from tests.support.webpush import Subscriber, verify_vapid
from tidings.notifications.apns import ApnsConfig, ApnsSender
from tidings.notifications.fcm import FCM_SCOPE, JWT_BEARER_GRANT, FcmConfig, FcmSender
from tidings.notifications.push_delivery import PushRejected, PushSubscription, SubscriptionGone, TransientPushFailure
from tidings.notifications.push_senders import ConfiguredSenders
from tidings.notifications.vapid import VapidConfig
from tidings.notifications.webpush import WebPushSender

NOTIFICATION = replace(SAMPLE, priority="urgent")
NOW = 1_800_000_000.0


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# --- Web Push ----------------------------------------------------------------------------------


@pytest.fixture
def push_service():
    with LocalPushService() as service:
        yield service


def web_subscription(subscriber: Subscriber, endpoint: str) -> PushSubscription:
    keys = subscriber.subscription(endpoint)["keys"]
    return PushSubscription("carol", "webpush", endpoint=endpoint, p256dh=keys["p256dh"], auth=keys["auth"])


def test_web_push_is_encrypted_for_the_subscriber_and_signed_with_vapid(push_service):
    vapid = VapidConfig.generate("mailto:ops@example.com")
    subscriber = Subscriber()
    sender = WebPushSender(vapid, allow_loopback_http=True)
    sender.send(web_subscription(subscriber, push_service.url("/push/a")), NOTIFICATION)
    [request] = push_service.requests
    assert subscriber.decrypt(request.body) == NOTIFICATION.to_payload()
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["urgency"] == "high"
    assert int(request.headers["ttl"]) == 86400
    claims, k = verify_vapid(request, audience=push_service.origin)
    assert k == vapid.public_key
    assert claims["sub"] == "mailto:ops@example.com"


def test_web_push_audience_follows_each_endpoint():
    """pywebpush writes `aud` into the claims it is given; a shared dict would leak it."""
    vapid = VapidConfig.generate("mailto:ops@example.com")
    sender = WebPushSender(vapid, allow_loopback_http=True)
    with LocalPushService() as first, LocalPushService() as second:
        sender.send(web_subscription(Subscriber(), first.url("/p")), NOTIFICATION)
        sender.send(web_subscription(Subscriber(), second.url("/p")), NOTIFICATION)
        verify_vapid(first.requests[0], audience=first.origin)
        verify_vapid(second.requests[0], audience=second.origin)


@pytest.mark.parametrize(
    ("status", "headers", "failure"),
    [
        (404, {}, SubscriptionGone),
        (410, {}, SubscriptionGone),
        (429, {"Retry-After": "120"}, TransientPushFailure),
        (503, {}, TransientPushFailure),
        (400, {}, PushRejected),
        (413, {}, PushRejected),
    ],
)
def test_web_push_answers_become_domain_failures(push_service, status, headers, failure):
    push_service.answers["/push/a"] = (status, headers)
    sender = WebPushSender(VapidConfig.generate("mailto:ops@example.com"), allow_loopback_http=True)
    with pytest.raises(failure) as raised:
        sender.send(web_subscription(Subscriber(), push_service.url("/push/a")), NOTIFICATION)
    assert raised.value.status == status
    if headers:
        assert raised.value.retry_after == 120


def test_an_unreachable_web_push_endpoint_is_transient_and_the_failure_never_quotes_the_url():
    sender = WebPushSender(VapidConfig.generate("mailto:ops@example.com"), allow_loopback_http=True)
    endpoint = closed_port_url("/push/secret-capability-token")
    with pytest.raises(TransientPushFailure) as raised:
        sender.send(web_subscription(Subscriber(), endpoint), NOTIFICATION)
    assert "secret-capability-token" not in str(raised.value)


class Rebinding:
    """DNS that answers a public address first (the send-time check) and 127.0.0.1 after (the
    connection), as a rebinding attacker's name server would; records what was connected to."""

    def __init__(self) -> None:
        self.lookups = 0
        self.connected: list[tuple] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups += 1
        return ["142.250.1.1"] if self.lookups == 1 else ["127.0.0.1"]

    def create_connection(self, address, *args, **kwargs):
        self.connected.append(address)
        raise OSError("not connecting anywhere in a test")


def test_the_worker_checks_the_address_it_connects_to_not_only_the_name(monkeypatch):
    """A name that resolved to a public address when checked and to a loopback one when the
    connection is made is refused at connect time: the worker connects only to an address it
    checked, so nothing is ever connected to."""
    from tidings.notifications import push_endpoints as push
    from tidings.notifications import push_http

    dns = Rebinding()
    monkeypatch.setattr(push, "resolve_host", dns.resolve)
    monkeypatch.setattr(push_http, "create_connection", dns.create_connection)
    sender = WebPushSender(VapidConfig.generate("mailto:ops@example.com"), allow_loopback_http=False)
    with pytest.raises(PushRejected) as raised:
        sender.send(web_subscription(Subscriber(), "https://push.example/p/secret-token"), NOTIFICATION)
    assert "public host" in str(raised.value) and "secret-token" not in str(raised.value)
    assert dns.lookups == 2, "checked before sending, and again when connecting"
    assert dns.connected == []


def test_a_checked_address_is_the_one_connected_to(monkeypatch):
    from tidings.notifications import push_endpoints as push
    from tidings.notifications import push_http

    dns = Rebinding()
    monkeypatch.setattr(push, "resolve_host", lambda host, port: ["142.250.1.1"])
    monkeypatch.setattr(push_http, "create_connection", dns.create_connection)
    sender = WebPushSender(VapidConfig.generate("mailto:ops@example.com"), allow_loopback_http=False)
    with pytest.raises(TransientPushFailure):  # the fake connection fails: retried later
        sender.send(web_subscription(Subscriber(), "https://push.example/p"), NOTIFICATION)
    assert dns.connected == [("142.250.1.1", 443)]


def test_plain_http_is_refused_unless_loopback_is_allowed(push_service):
    subscription = web_subscription(Subscriber(), push_service.url("/push/a"))
    with pytest.raises(PushRejected):
        WebPushSender(VapidConfig.generate("mailto:ops@example.com"), allow_loopback_http=False).send(
            subscription, NOTIFICATION
        )
    assert push_service.requests == []


def test_a_vapid_secret_round_trips_and_the_placeholder_is_not_configured():
    config = VapidConfig.generate("mailto:ops@example.com")
    assert VapidConfig.from_secret(config.to_secret()) == config
    assert len(config.public_key) == 87  # base64url of a 65-byte uncompressed point
    for raw in (None, "", "{}", "random-generated-string", '{"privateKey": "x"}'):
        assert VapidConfig.from_secret(raw) is None


# --- FCM HTTP v1 -------------------------------------------------------------------------------

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "tidings-test",
    "private_key_id": "key-1",
    "private_key": pem(RSA_KEY),
    "client_email": "push@tidings-test.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


class Google:
    """The token endpoint and FCM, answering from `send_answers` in order (then 200)."""

    def __init__(self, *send_answers: httpx.Response) -> None:
        self.token_requests: list[httpx.Request] = []
        self.send_requests: list[httpx.Request] = []
        self.send_answers = list(send_answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "oauth2.googleapis.com":
            self.token_requests.append(request)
            return httpx.Response(200, json={"access_token": f"access-{len(self.token_requests)}", "expires_in": 3599})
        self.send_requests.append(request)
        return (
            self.send_answers.pop(0)
            if self.send_answers
            else httpx.Response(200, json={"name": "projects/x/messages/1"})
        )


def fcm_sender(google: Google, now=lambda: NOW) -> FcmSender:
    config = FcmConfig.from_secret(json.dumps(SERVICE_ACCOUNT))
    assert config is not None
    return FcmSender(config, httpx.Client(transport=httpx.MockTransport(google)), now=now)


FCM_SUBSCRIPTION = PushSubscription("carol", "fcm", device_token="fcm-registration-token")


def test_fcm_exchanges_a_signed_assertion_for_a_token_and_sends_a_data_message():
    google = Google()
    fcm_sender(google).send(FCM_SUBSCRIPTION, NOTIFICATION)
    [token_request] = google.token_requests
    form = {k: v[0] for k, v in parse_qs(token_request.content.decode()).items()}
    assert form["grant_type"] == JWT_BEARER_GRANT
    assertion = jwt.decode(
        form["assertion"],
        RSA_KEY.public_key(),
        algorithms=["RS256"],
        audience=SERVICE_ACCOUNT["token_uri"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert assertion["iss"] == SERVICE_ACCOUNT["client_email"]
    assert assertion["scope"] == FCM_SCOPE
    assert assertion["exp"] - assertion["iat"] == 3600
    assert jwt.get_unverified_header(form["assertion"])["kid"] == "key-1"

    [send] = google.send_requests
    assert send.method == "POST"
    assert str(send.url) == "https://fcm.googleapis.com/v1/projects/tidings-test/messages:send"
    assert send.headers["authorization"] == "Bearer access-1"
    message = json.loads(send.content)["message"]
    assert message["token"] == "fcm-registration-token"
    assert message["data"] == {k: str(v) for k, v in NOTIFICATION.to_payload().items()}
    assert all(isinstance(v, str) for v in message["data"].values())
    assert message["android"]["priority"] == "high"


def test_fcm_reuses_its_access_token_until_it_nears_expiry():
    google, clock = Google(), [NOW]
    sender = fcm_sender(google, now=lambda: clock[0])
    sender.send(FCM_SUBSCRIPTION, NOTIFICATION)
    clock[0] += 3000
    sender.send(FCM_SUBSCRIPTION, NOTIFICATION)
    assert len(google.token_requests) == 1
    clock[0] += 400  # within 5 minutes of expiry
    sender.send(FCM_SUBSCRIPTION, NOTIFICATION)
    assert len(google.token_requests) == 2


def test_fcm_unregistered_token_is_gone():
    unregistered = httpx.Response(
        404,
        json={
            "error": {
                "code": 404,
                "status": "NOT_FOUND",
                "details": [
                    {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}
                ],
            }
        },
    )
    with pytest.raises(SubscriptionGone):
        fcm_sender(Google(unregistered)).send(FCM_SUBSCRIPTION, NOTIFICATION)


def test_fcm_quota_and_server_errors_are_transient_and_a_refused_token_is_renewed():
    google = Google(httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(401), httpx.Response(500))
    sender = fcm_sender(google)
    with pytest.raises(TransientPushFailure) as quota:
        sender.send(FCM_SUBSCRIPTION, NOTIFICATION)
    assert quota.value.retry_after == 30
    with pytest.raises(TransientPushFailure):
        sender.send(FCM_SUBSCRIPTION, NOTIFICATION)
    with pytest.raises(TransientPushFailure):
        sender.send(FCM_SUBSCRIPTION, NOTIFICATION)
    assert len(google.token_requests) == 2, "after the 401 a new access token is fetched"


def test_fcm_timeouts_are_transient():
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    config = FcmConfig.from_secret(json.dumps(SERVICE_ACCOUNT))
    sender = FcmSender(config, httpx.Client(transport=httpx.MockTransport(timeout)))
    with pytest.raises(TransientPushFailure):
        sender.send(FCM_SUBSCRIPTION, NOTIFICATION)


def test_fcm_secret_needs_a_service_account():
    assert FcmConfig.from_secret("{}") is None
    assert FcmConfig.from_secret(json.dumps({"project_id": "p"})) is None


# --- APNs --------------------------------------------------------------------------------------

EC_KEY = ec.generate_private_key(ec.SECP256R1())
APNS_SECRET = {
    "teamId": "TEAM123456",
    "keyId": "KEY1234567",
    "privateKey": pem(EC_KEY),
    "bundleId": "app.tidings",
    "sandbox": True,
}
DEVICE = "ab" * 32
APNS_SUBSCRIPTION = PushSubscription("carol", "apns", device_token=DEVICE)


class Apple:
    def __init__(self, *answers: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else httpx.Response(200)


def apns_sender(apple: Apple, now=lambda: NOW, **overrides) -> ApnsSender:
    config = ApnsConfig.from_secret(json.dumps({**APNS_SECRET, **overrides}))
    assert config is not None
    return ApnsSender(config, httpx.Client(transport=httpx.MockTransport(apple)), now=now)


def test_apns_request_has_the_provider_token_topic_push_type_and_alert():
    apple = Apple()
    apns_sender(apple).send(APNS_SUBSCRIPTION, NOTIFICATION)
    [request] = apple.requests
    assert str(request.url) == f"https://api.sandbox.push.apple.com/3/device/{DEVICE}"
    assert request.headers["apns-topic"] == "app.tidings"
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    assert request.headers["apns-collapse-id"] == "toast-1"
    scheme, token = request.headers["authorization"].split(" ")
    assert scheme == "bearer"
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "KEY1234567", "typ": "JWT"}
    claims = jwt.decode(token, EC_KEY.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": "TEAM123456", "iat": int(NOW)}
    body = json.loads(request.content)
    assert body["aps"]["alert"] == {"title": "Alice", "body": "lunch?"}
    assert body["aps"]["badge"] == 3
    assert body["aps"]["interruption-level"] == "time-sensitive"
    assert (body["chatId"], body["messageId"], body["type"]) == ("project-x", "m-1", "notification.push")


def test_apns_production_host_and_provider_token_reuse():
    apple, clock = Apple(), [NOW]
    sender = apns_sender(apple, now=lambda: clock[0], sandbox=False)
    sender.send(APNS_SUBSCRIPTION, NOTIFICATION)
    clock[0] += 20 * 60
    sender.send(APNS_SUBSCRIPTION, NOTIFICATION)
    clock[0] += 31 * 60
    sender.send(APNS_SUBSCRIPTION, NOTIFICATION)
    assert {r.url.host for r in apple.requests} == {"api.push.apple.com"}
    tokens = [r.headers["authorization"] for r in apple.requests]
    assert tokens[0] == tokens[1] != tokens[2]


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (httpx.Response(410, json={"reason": "Unregistered", "timestamp": 1}), SubscriptionGone),
        (httpx.Response(400, json={"reason": "BadDeviceToken"}), SubscriptionGone),
        (httpx.Response(429, json={"reason": "TooManyRequests"}), TransientPushFailure),
        (httpx.Response(503, json={"reason": "ServiceUnavailable"}), TransientPushFailure),
        (httpx.Response(400, json={"reason": "PayloadTooLarge"}), PushRejected),
    ],
)
def test_apns_answers_become_domain_failures(answer, failure):
    with pytest.raises(failure):
        apns_sender(Apple(answer)).send(APNS_SUBSCRIPTION, NOTIFICATION)


def test_apns_expired_provider_token_is_transient_and_renewed():
    apple = Apple(httpx.Response(403, json={"reason": "ExpiredProviderToken"}))
    clock = [NOW]
    sender = apns_sender(apple, now=lambda: clock[0])
    with pytest.raises(TransientPushFailure):
        sender.send(APNS_SUBSCRIPTION, NOTIFICATION)
    clock[0] += 1
    sender.send(APNS_SUBSCRIPTION, NOTIFICATION)
    assert apple.requests[0].headers["authorization"] != apple.requests[1].headers["authorization"]


def test_apns_client_speaks_http2():
    sender = ApnsSender(ApnsConfig.from_secret(json.dumps(APNS_SECRET)))  # type: ignore[arg-type]
    assert sender._client._transport._pool._http2  # httpx with h2: APNs accepts nothing else


# --- configured senders ------------------------------------------------------------------------


def test_senders_are_built_from_their_secret_and_rebuilt_when_it_changes():
    values = {"fcm": "{}"}
    built = []

    def factory(raw):
        built.append(raw)
        config = FcmConfig.from_secret(raw)
        return FcmSender(config) if config else None

    senders = ConfiguredSenders({"fcm": lambda: values["fcm"], "apns": None}, {"fcm": factory})
    assert senders("fcm") is None and senders("fcm") is None
    assert senders("apns") is None and senders("webpush") is None
    values["fcm"] = json.dumps(SERVICE_ACCOUNT)
    first = senders("fcm")
    assert isinstance(first, FcmSender) and senders("fcm") is first
    assert built == ["{}", values["fcm"]]
