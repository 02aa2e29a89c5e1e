"""The local JWT signing key, shared by `tidings token` and `tidings dev` without shared state.

Both commands derive the key the same way, so a token printed by one process is accepted by a
runtime started in another. The fixed key below is for development only and is public: it
must never sign anything on AWS, where the key is a generated Secrets Manager secret.
"""

from __future__ import annotations

import os

ENV_VAR = "TIDINGS_JWT_SECRET"

# Public, documented development key (>= 32 bytes for HS256). Override with TIDINGS_JWT_SECRET.
DEVELOPMENT_KEY = "tidings-local-development-signing-key-not-a-secret"


def dev_signing_key() -> str:
    """`TIDINGS_JWT_SECRET` when set, else the fixed development key."""
    return os.environ.get(ENV_VAR) or DEVELOPMENT_KEY
