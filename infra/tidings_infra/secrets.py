"""Secrets Manager secrets: one per declared `Secret`."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from tidings.declaration import Secret
from tidings_infra.nag import acknowledge


class SecretsConstruct(Construct):
    """One Secrets Manager secret per declared `Secret`, generated at deploy time.

    The SecretString is the raw key (64 alphanumerics, about 380 bits), used as the HS256 key.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, secrets: Sequence[Secret], removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for declared in secrets:
            secret = secretsmanager.Secret(
                self,
                declared.id,
                description=declared.description,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=64, exclude_punctuation=True
                ),
                removal_policy=removal_policy,
            )
            acknowledge(
                secret,
                "Not rotated automatically: rotating an HS256 signing key needs verifiers to accept the "
                "previous key until every token it signed has expired (a key-id / dual-key scheme in "
                "tidings.auth, not built yet). Until then rotation is a planned manual operation.",
                "AwsSolutions-SMG4",
            )
            self.secrets[declared.id] = secret

    def secret(self, declared: Secret) -> secretsmanager.Secret:
        return self.secrets[declared.id]
