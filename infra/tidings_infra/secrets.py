"""Secrets Manager secrets: one per declared `Secret`."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from tidings.kernel.declaration import Secret
from tidings_infra.nag import acknowledge


class SecretsConstruct(Construct):
    """One Secrets Manager secret per declared `Secret`.

    Without a placeholder it is generated at deploy time: the SecretString is the raw key (64
    alphanumerics, about 380 bits), used as the HS256 key. With one, it starts as the
    placeholder and the operator puts the value (docs/architecture.md "Push").
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, secrets: Sequence[Secret], removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for declared in secrets:
            if declared.placeholder is None:
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
                    "tidings.sessions.tokens, not built yet). Until then rotation is a planned manual operation.",
                    "AwsSolutions-SMG4",
                )
            else:
                secret = self._operator_supplied(declared, removal_policy)
            self.secrets[declared.id] = secret

    def _operator_supplied(self, declared: Secret, removal_policy: RemovalPolicy) -> secretsmanager.Secret:
        """A secret whose value the operator puts after deploying (`aws secretsmanager
        put-secret-value`); the template holds only the placeholder, which is no secret, so a
        later deploy never overwrites the real value (CloudFormation only writes it on change)."""
        secret = secretsmanager.Secret(
            self,
            declared.id,
            description=declared.description,
            secret_string_value=SecretValue.unsafe_plain_text(declared.placeholder or ""),
            removal_policy=removal_policy,
        )
        acknowledge(
            secret,
            "Not rotated by Secrets Manager: the value is a credential issued outside AWS (a Web Push "
            "VAPID key pair, an FCM service account key, an APNs .p8 key) that no rotation Lambda can "
            "re-issue. It is rotated by hand in its issuer's console (for VAPID: a new pair from "
            "`tidings vapid-keys`, after which browsers must subscribe again).",
            "AwsSolutions-SMG4",
        )
        return secret

    def secret(self, declared: Secret) -> secretsmanager.Secret:
        return self.secrets[declared.id]
