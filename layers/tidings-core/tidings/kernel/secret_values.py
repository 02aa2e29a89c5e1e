"""A secret's value, read from Secrets Manager through Powertools' parameters cache."""

from __future__ import annotations

from collections.abc import Callable


def secret_reader(arn: str, max_age_seconds: int) -> Callable[[], str]:
    """`() -> value` of the secret at `arn`, cached by Powertools for `max_age_seconds`, so a
    rotation lands within that long.

    Powertools' parameters utility is imported at the first read, not with this module: it loads
    every provider it has (AppConfig, DynamoDB, SSM) and most functions read no secret."""

    def read() -> str:
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_secret(arn, max_age=max_age_seconds))

    return read
