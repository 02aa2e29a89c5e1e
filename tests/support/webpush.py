"""A Web Push subscriber for tests: its own ECDH P-256 key pair and auth secret, as a browser
has, and what a push service receives, decrypted (RFC 8291 aes128gcm) and its VAPID header
verified (RFC 8292)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class Subscriber:
    """A browser's side of a subscription."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """`PushSubscription.toJSON()`, as a browser gives it."""
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth_secret)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm")
        return json.loads(plain)


@dataclass(frozen=True)
class PushRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


def verify_vapid(request: PushRequest, audience: str) -> tuple[dict[str, Any], str]:
    """Checks `Authorization: vapid t=<JWT>, k=<public key>`: the JWT is ES256, signed by k,
    for `audience`. Returns the claims and k."""
    scheme, _, params = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(values["k"]))
    claims = jwt.decode(values["t"], public_key, algorithms=["ES256"], audience=audience)
    return claims, values["k"]
