"""Each synthesized function imports only what its routes use (docs/benchmarks-cold-start.md).

Every function is loaded as Lambda loads it (`tidings_local.lambda_loader`: a fresh interpreter,
Lambda's `sys.path` and environment), once with tracing on as deployed and once with
`POWERTOOLS_TRACE_DISABLED`, and the modules it has loaded once its handler is imported are
checked against what it must not load at import. Nothing here is timed: the modules are what
makes a cold start slow, and they do not depend on how busy the machine is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infrastructure.synthesis import Synthesized
from tidings.app import APPLICATION
from tidings.kernel.observability import TRACED_LIBRARIES
from tidings_local import lambda_loader
from tidings_local.lambda_loader import LoadResult, SynthesizedFunction

# Loaded by no function at import, with why (each is imported where it is first used).
NEVER_AT_IMPORT = {
    "aiohttp": "pywebpush's transport: the push worker imports its senders when it builds them",
    "pywebpush": "the push worker's Web Push sender, built on its first job",
    "httpx": "the FCM and APNs senders, built on the push worker's first job",
    "requests": "the push senders' HTTP session, built on the push worker's first job",
    "py_vapid": "the VAPID key pair, read by the push API's key route and the push worker",
    "jwt": "PyJWT, imported where a token is first signed or verified",
    "cryptography": "loaded by PyJWT and py_vapid, where they are first used",
    "opensearchpy": "the OpenSearch engine, opened on the first search",
    "sqlite3": "the embedded search engine, opened on the first search",
    "aws_lambda_powertools.utilities.parameters": "Powertools' secret reader, imported at the first read",
}

# A feature's service module -> the only functions (handler modules) that may load it at import.
ONLY_IN = {
    "aws_lambda_powertools.utilities.batch": "consumers",  # resolved from the event source mappings
    "aws_lambda_powertools.event_handler": {route.function.handler.split(".")[0] for route in APPLICATION.http_routes},
    "tidings.sessions.credentials": {"auth_api"},
    "tidings.messaging.syncing": {"sync_request"},
    "tidings.chats.chat_list": {"chats_api"},
}

UNTRACED = {"authorizer"}  # `authorizer_entry`: logs and metrics, no trace of its own


def _loaded(name: str, modules: frozenset[str]) -> bool:
    return any(module == name or module.startswith(f"{name}.") for module in modules)


def _all_loaded(results: list[LoadResult]) -> list[LoadResult]:
    failed = [f"{r.function.handler}: {r.error}" for r in results if not r.ok]
    assert not failed, failed
    return results


@pytest.fixture(scope="module")
def traced(deployed_loads: list[LoadResult]) -> list[LoadResult]:
    """Loaded with tracing on, as deployed (active tracing; Powertools traces on Lambda)."""
    return _all_loaded(deployed_loads)


@pytest.fixture(scope="module")
def consumers(synthesized: Synthesized) -> set[str]:
    return {
        mapping["Properties"]["FunctionName"]["Ref"]
        for mapping in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
    }


# 26 fresh interpreters per mode on a busy 2-core machine.
@pytest.mark.timeout(900)
def test_no_function_loads_what_only_first_use_needs(traced: list[LoadResult]) -> None:
    found = [
        f"{r.function.handler} loads {name} ({why})"
        for r in traced
        for name, why in NEVER_AT_IMPORT.items()
        if _loaded(name, r.loaded)
    ]
    assert not found, "\n".join(found)


@pytest.mark.timeout(900)
def test_a_function_loads_another_routes_services_nowhere(traced: list[LoadResult], consumers: set[str]) -> None:
    found = []
    for result in traced:
        for name, allowed in ONLY_IN.items():
            if allowed == "consumers":
                may = result.function.logical_id in consumers
            else:
                may = result.function.module in allowed
            if not may and _loaded(name, result.loaded):
                found.append(f"{result.function.handler} loads {name}")
    assert not found, "\n".join(found)


@pytest.mark.timeout(900)
def test_the_consumers_do_load_the_batch_utility(traced: list[LoadResult], consumers: set[str]) -> None:
    """The rule above is not vacuous: the consumers load what it keeps from the others."""
    consumer_results = [r for r in traced if r.function.logical_id in consumers]
    assert consumer_results
    assert all(_loaded("aws_lambda_powertools.utilities.batch", r.loaded) for r in consumer_results)


@pytest.mark.timeout(900)
def test_with_tracing_on_every_library_a_function_loads_is_patched_for_x_ray(traced: list[LoadResult]) -> None:
    """Tracing is not lost by patching lazily: each library X-Ray patches is patched once the
    function has imported it (the patch module is loaded), and none the function does not use."""
    problems = []
    for result in traced:
        if result.function.module in UNTRACED:
            if _loaded("aws_xray_sdk", result.loaded):
                problems.append(f"{result.function.handler} is untraced but loads the X-Ray SDK")
            continue
        if "aws_xray_sdk.core" not in result.loaded:
            problems.append(f"{result.function.handler} is traced but has no X-Ray recorder")
        for library, trigger in TRACED_LIBRARIES.items():
            patched = f"aws_xray_sdk.ext.{library}.patch" in result.loaded
            if patched != (trigger in result.loaded):
                problems.append(
                    f"{result.function.handler}: {trigger} {'loaded' if trigger in result.loaded else 'not loaded'}, "
                    f"X-Ray's {library} patch {'loaded' if patched else 'not loaded'}"
                )
    assert not problems, "\n".join(problems)
    # Every traced function calls AWS through botocore, so the patch that matters most is there.
    traced_aws = [r for r in traced if r.function.module not in UNTRACED and "botocore.client" in r.loaded]
    assert traced_aws
    assert all("aws_xray_sdk.ext.botocore.patch" in r.loaded for r in traced_aws)


@pytest.mark.timeout(900)
def test_with_tracing_disabled_no_function_loads_the_x_ray_sdk(
    functions: list[SynthesizedFunction], runtime_dir: Path
) -> None:
    """Powertools' `Tracer()` imports the X-Ray SDK even when disabled; `tidings dev` and the
    tests run with `POWERTOOLS_TRACE_DISABLED`, and so never create it."""
    untraced = _all_loaded(
        lambda_loader.load_all(
            functions, runtime_dir, list_modules=True, environment={"POWERTOOLS_TRACE_DISABLED": "true"}
        )
    )
    found = [r.function.handler for r in untraced if _loaded("aws_xray_sdk", r.loaded)]
    assert not found, found
