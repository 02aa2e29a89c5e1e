"""What every function gets besides its own code: the layer's distributions and the common
environment variables.

Kept apart from `names.py`, whose `aws_cdk` import starts jsii's Node.js runtime (seconds), so
that the local runtime (`tidings dev`) builds its workers from the very same lists without CDK.
"""

from __future__ import annotations

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

# Environment every function gets (Powertools reads these; tidings.observability builds on it).
COMMON_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "tidings",
    "POWERTOOLS_METRICS_NAMESPACE": "Tidings",
    "LOG_LEVEL": "INFO",
}
# Set on functions with `manages_connections`: the @connections endpoint of this API stage.
CALLBACK_URL_ENV = "WEBSOCKET_CALLBACK_URL"
# Set on functions declared with a SearchIndex (tidings.settings reads them).
SEARCH_ENGINE_ENV = "SEARCH_ENGINE"
SEARCH_INDEX_ENV = "SEARCH_INDEX"
