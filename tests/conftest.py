"""Shared fixtures: moto-backed AWS, tables built from the application declaration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from hypothesis import HealthCheck, settings
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
from tidings.app import APPLICATION  # noqa: E402
from tidings.sessions.declaration import JWT_SIGNING_KEY  # noqa: E402

# Every table's name as the runtime gives it to the functions that may use it: the local name.
for _table in APPLICATION.tables:
    os.environ.setdefault(_table.env_var, _table.default_name)

# Hypothesis (tests/fuzz/). `default` runs in `make test`: few examples, the same ones every run,
# so the suite stays fast and repeatable. `long` (`make fuzz`) explores: many random examples.
# The fuzz tests reuse one moto world across examples (state accumulates, as in production), hence
# the function-scoped fixtures; handlers on moto are slow next to Hypothesis' expectations.
_FUZZ_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "default", max_examples=60, deadline=None, derandomize=True, suppress_health_check=_FUZZ_HEALTH, database=None
)
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=_FUZZ_HEALTH)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _share_botocore_models_between_sessions() -> None:
    """moto gives every test a new default boto3 session, and every new session parses the
    services' JSON models again (a quarter of a second per client, most of the suite's time).
    The models are read-only data, as botocore's own per-loader cache already assumes, so one
    parse serves every session of the test process."""
    import botocore.loaders

    shared: dict[tuple, object] = {}

    def cached(method):
        def load(self, *args, **kwargs):
            key = (method.__name__, *args, *sorted(kwargs.items()))
            if key not in shared:
                shared[key] = method(self, *args, **kwargs)
            return shared[key]

        return load

    botocore.loaders.Loader.load_service_model = cached(botocore.loaders.Loader.load_service_model)
    botocore.loaders.Loader.load_data = cached(botocore.loaders.Loader.load_data)
    # The endpoints and partitions files: the largest of all, read by every new session.
    botocore.loaders.Loader.load_data_with_path = cached(botocore.loaders.Loader.load_data_with_path)


_share_botocore_models_between_sessions()


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
    monkeypatch.setenv(JWT_SIGNING_KEY.env_var, arn)
    return key


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs the suite on every core (pytest-xdist, `--dist loadgroup`). A module's
    tests stay on one worker, so its module-scoped `tidings dev` starts once; the infrastructure
    tests all share one worker, so the layer in build/ is never rebuilt by two synths at once."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        group = "infrastructure" if module.startswith("tests/infrastructure/") else module
        item.add_marker(pytest.mark.xdist_group(group))
