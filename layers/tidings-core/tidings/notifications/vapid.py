"""The VAPID key pair (RFC 8292) a deployment signs Web Push with, as its secret holds it. Apart
from the sender so that reading the public key imports neither pywebpush nor aiohttp."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from py_vapid.utils import b64urlencode

from tidings.notifications.push_http import (
    parse_secret_json,
)


@dataclass(frozen=True)
class VapidConfig:
    """The VAPID secret: `{"privateKey": <base64url 32-byte P-256 scalar>, "subject": "mailto:…"}`."""

    private_key: str
    subject: str

    @classmethod
    def from_secret(cls, raw: str | None) -> VapidConfig | None:
        value = parse_secret_json(raw)
        if value is None or not value.get("privateKey") or not value.get("subject"):
            return None
        return cls(str(value["privateKey"]), str(value["subject"]))

    @property
    def public_key(self) -> str:
        """The application server key a browser subscribes with: base64url uncompressed point."""
        return vapid_public_key(Vapid.from_raw(self.private_key.encode()))

    @classmethod
    def generate(cls, subject: str) -> VapidConfig:
        private = ec.generate_private_key(ec.SECP256R1())
        scalar = private.private_numbers().private_value.to_bytes(32, "big")
        return cls(b64urlencode(scalar), subject)

    def to_secret(self) -> str:
        return json.dumps({"privateKey": self.private_key, "subject": self.subject})


def vapid_public_key(vapid: Vapid) -> str:
    point = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64urlencode(point)
