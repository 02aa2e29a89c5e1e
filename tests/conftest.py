"""Shared fixtures: moto-backed AWS, tables built from the application declaration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tidings")
# botocore sends DynamoDB Streams calls to account-based endpoints that moto does not route.
os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ[_name] = "testing"

from tests.support.aws import create_tables  # noqa: E402  (after the fake credentials)


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh moto account with every declared table, for one test."""
    with mock_aws():
        create_tables()
        yield


@pytest.fixture
def signing_key(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    key = "unit-test-signing-key-that-is-long-enough-for-hs256"
    arn = boto3.client("secretsmanager").create_secret(Name="tidings/test-jwt", SecretString=key)["ARN"]
    monkeypatch.setenv("JWT_SECRET_ARN", arn)
    from tidings.settings import settings

    settings.cache_clear()
    yield key
    settings.cache_clear()
