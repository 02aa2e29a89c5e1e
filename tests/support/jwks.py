"""A local OpenID Connect provider for tests: keys the test generates (cryptography), a JWKS
endpoint on 127.0.0.1 (http.server in a thread), and tokens signed with those keys.

The test decides what the endpoint publishes (`publish`, `withdraw`), whether it answers at all
(`down`), and counts the fetches, so key rotation and an outage are observable.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test"
AUDIENCE = "tidings-app"


class LocalIdentityProvider:
    def __init__(self, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.private_keys: dict[str, Any] = {}
        self.algorithms: dict[str, str] = {}
        self.published: list[str] = []
        self.down = False
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                if provider.down:
                    self.send_error(503, "down")
                    return
                body = json.dumps({"keys": [provider.public_jwk(kid) for kid in provider.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalIdentityProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def config(self, **overrides: Any) -> dict[str, Any]:
        """The provider's entry in `IDENTITY_PROVIDERS` (camelCase, as a deployment writes it)."""
        return {"issuer": self.issuer, "audience": self.audience, "jwksUrl": self.jwks_url, **overrides}

    def add_key(self, kid: str, algorithm: str = "RS256", *, publish: bool = True) -> None:
        if algorithm == "RS256":
            self.private_keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private_keys[kid] = ec.generate_private_key(ec.SECP256R1())
        self.algorithms[kid] = algorithm
        if publish:
            self.published.append(kid)

    def publish(self, kid: str) -> None:
        self.published.append(kid)

    def withdraw(self, kid: str) -> None:
        self.published.remove(kid)

    def public_jwk(self, kid: str) -> dict[str, Any]:
        algorithm = self.algorithms[kid]
        public = self.private_keys[kid].public_key()
        jwk = (RSAAlgorithm if algorithm == "RS256" else ECAlgorithm).to_jwk(public, as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": algorithm}

    def claims(self, user: str = "ext-alice", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"sub": user, "iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + 600}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, kid: str, user: str = "ext-alice", **claims: Any) -> str:
        return jwt.encode(
            self.claims(user, **claims), self.private_keys[kid], algorithm=self.algorithms[kid], headers={"kid": kid}
        )
