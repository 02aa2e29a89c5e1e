"""What every function gets besides its own code: the layer's distributions and its
environment (the common variables, then the declaration's own).

Kept apart from `names.py`, whose `aws_cdk` import starts jsii's Node.js runtime (seconds), so
that the local runtime (`tidings dev`) builds its workers from the very same lists without CDK.
"""

from __future__ import annotations

from collections.abc import Mapping

from tidings.kernel.declaration import Function, PhysicalNames, function_environment

# Distributions copied from the installed environment into our layer.
# boto3/botocore come from the Lambda runtime; Powertools and pydantic from the AWS layer.
# tzdata: IANA time zones for scheduled DND, whatever the runtime image carries.
# opensearch-py and what it imports at run time (requests and its own dependencies); its
# gRPC extras (opensearch-protobufs, grpcio) are never imported and stay out.
# The push worker's dependencies: pywebpush and its closure (it imports requests and aiohttp
# at module level), and httpx with h2 for FCM/APNs. cryptography, cffi and aiohttp's speedups
# are compiled: they are copied as installed, so `make synth` must run on Linux x86_64 with
# CPython 3.11, the functions' platform (layer_build checks it).
LAYER_DISTRIBUTIONS = (
    "pynamodb",
    "PyJWT",
    "tzdata",
    # search
    "opensearch-py",
    "Events",
    # Web Push
    "pywebpush",
    "py-vapid",
    "http_ece",
    "cryptography",
    "cffi",
    "pycparser",
    "requests",
    "urllib3",
    "charset-normalizer",
    "idna",
    "certifi",
    "aiohttp",
    "aiohappyeyeballs",
    "aiosignal",
    "attrs",
    "frozenlist",
    "multidict",
    "propcache",
    "yarl",
    # FCM and APNs (HTTP/2)
    "httpx",
    "httpcore",
    "h11",
    "h2",
    "hpack",
    "hyperframe",
    "anyio",
)

# Environment every function gets (Powertools reads these; tidings.kernel.observability builds on it).
COMMON_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "tidings",
    "POWERTOOLS_METRICS_NAMESPACE": "Tidings",
    "LOG_LEVEL": "INFO",
}


def deployment_settings(function: Function, values: Mapping[str, str]) -> dict[str, str]:
    """Of a deployment's feature-setting `values` (variable -> value), those `function` reads:
    each function gets the settings it declared, and no other."""
    declared = {variable for model in function.settings for variable in model.variables().values()}
    return {variable: value for variable, value in values.items() if variable in declared}


def lambda_environment(function: Function, names: PhysicalNames) -> dict[str, str]:
    """The environment `function` is deployed with: `COMMON_ENVIRONMENT` and the declaration's
    variables (`function_environment`) under the given runtime's names. The CDK stack sets
    exactly this; `tidings dev` starts from it too."""
    declared = function_environment(function, names)
    clash = COMMON_ENVIRONMENT.keys() & declared.keys()
    if clash:
        raise ValueError(f"function {function.id}: environment variables {sorted(clash)} are set twice")
    return COMMON_ENVIRONMENT | declared
