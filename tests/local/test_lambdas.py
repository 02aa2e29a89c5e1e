"""Lambda, locally: each function in its own worker processes, loaded and run as Lambda does."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.local.conftest import StartRuntime, eventually, probe
from tests.local.stub_app import NAPPER, NEEDS_MOTO, NOBODY, PROBE, READER, SHADOWED, alone
from tidings_local.lambda_paths import LambdaPaths
from tidings_local.lambdas import FunctionCrashed, FunctionLoadError, FunctionTimeout
from tidings_local.runtime import LocalRuntime

# --- loading, as Lambda loads a handler ----------------------------------------------------------


async def test_a_module_named_like_the_standard_librarys_stops_the_start(start_runtime: StartRuntime) -> None:
    """functions/message/typing.py once did this: fine in one process, broken on Lambda, where
    the function's folder is first on sys.path for every import of that function."""
    with pytest.raises(FunctionLoadError) as refused:
        await start_runtime(alone(SHADOWED))
    message = str(refused.value)
    assert "Shadowed" in message and "frames.py" in message and "handler frames.handler" in message
    assert "Runtime.ImportModuleError: Unable to import module 'frames'" in message
    assert "typing.py has the name of the standard library's 'typing'" in message


async def test_a_dependency_missing_from_the_layers_stops_the_start(start_runtime: StartRuntime) -> None:
    """moto is installed in this environment, but no layer carries it, so Lambda has no moto."""
    with pytest.raises(FunctionLoadError) as refused:
        await start_runtime(alone(NEEDS_MOTO))
    assert "NeedsMoto" in str(refused.value)
    assert "Runtime.ImportModuleError: Unable to import module 'needs_moto': No module named 'moto'" in str(
        refused.value
    )


async def test_a_worker_sees_only_the_functions_folder_the_layers_and_the_runtime(runtime: LocalRuntime) -> None:
    paths: LambdaPaths = runtime.lambdas.paths
    names, path = (await probe(runtime, NOBODY, {"do": "environ"}, {"do": "path"}))["steps"]

    assert path[:3] == [str(runtime.lambdas.asset_dir(NOBODY)), str(paths.layers), str(paths.runtime)]
    assert all("site-packages" not in entry and ".venv" not in entry for entry in path[3:]), "no virtualenv"
    assert (paths.layers / "tidings").resolve() == Path(__file__).resolve().parents[2] / "layers/tidings-core/tidings"
    assert not (paths.layers / "moto").exists() and not (paths.runtime / "moto").exists()
    assert (paths.runtime / "boto3").exists() and (paths.layers / "aws_lambda_powertools").exists()
    assert "VIRTUAL_ENV" not in names and "PYTEST_CURRENT_TEST" not in names and "HOME" not in names
    assert {"AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_ACCESS_KEY_ID", "TZ"} <= set(names)


async def test_workers_share_the_sdk_models_the_template_parsed(runtime: LocalRuntime) -> None:
    """Each botocore session parses the service models anew (PynamoDB makes one per model
    class): parsed once in the template, a worker's first AWS calls cost a fifth of the CPU."""
    [models] = (await probe(runtime, NOBODY, {"do": "sdk_models"}))["steps"]
    assert models["shared"] is True
    assert models["operations"] > 50, "the SDK's own model, complete"


# --- the environment -----------------------------------------------------------------------------


async def test_a_function_sees_only_the_variables_it_was_declared_with(runtime: LocalRuntime) -> None:
    names = ("NOTES_TABLE", "EVENTS_TABLE", "STUB_KEY_SECRET_ARN", "WEBSOCKET_CALLBACK_URL", "STUB_SEARCH_DB_PATH")
    steps = [{"do": "env", "name": name} for name in (*names, "AWS_LAMBDA_FUNCTION_NAME")]

    probe_env = (await probe(runtime, PROBE, *steps))["steps"]
    reader_env = (await probe(runtime, READER, *steps))["steps"]
    nobody_env = (await probe(runtime, NOBODY, *steps))["steps"]

    assert probe_env[:2] == ["local-test-notes", "local-test-events"] and probe_env[2:4] == [None, None]
    assert probe_env[4] == runtime.search_db_path and probe_env[5] == "Stub-Probe"
    assert reader_env[:4] == ["local-test-notes", None, runtime.provisioned.secret_arns["StubKey"], None]
    assert nobody_env == [None, None, None, None, None, "Stub-Nobody"]
    assert "NOTES_TABLE" in os.environ, "the runtime's own process has it: only the functions are kept apart"


# --- execution environments ----------------------------------------------------------------------


async def test_module_globals_are_per_function_and_per_execution_environment(runtime: LocalRuntime) -> None:
    await probe(runtime, PROBE, {"do": "set", "key": "who", "value": "probe"})

    seen_by_reader = (await probe(runtime, READER, {"do": "get", "key": "who"}))["steps"]
    seen_by_probe = (await probe(runtime, PROBE, {"do": "get", "key": "who"}))["steps"]

    assert seen_by_reader == [None]
    assert seen_by_probe == ["probe"], "the warm worker is reused, with its globals"


async def test_concurrent_invocations_of_one_function_run_in_separate_workers(runtime: LocalRuntime) -> None:
    answers = await asyncio.gather(*(probe(runtime, PROBE, {"do": "sleep", "seconds": 0.5}) for _ in range(3)))
    assert len({answer["pid"] for answer in answers}) == 3
    assert len(runtime.lambdas.workers(PROBE)) == 3


async def test_a_timeout_kills_the_worker_and_the_next_invocation_gets_a_fresh_one(runtime: LocalRuntime) -> None:
    [warm] = runtime.lambdas.workers(NAPPER)
    with pytest.raises(FunctionTimeout) as timed_out:
        await probe(runtime, NAPPER, {"do": "sleep", "seconds": 30})
    assert timed_out.value.error_type == "Sandbox.Timedout"
    assert timed_out.value.error_message.endswith("Task timed out after 1.00 seconds")
    assert not warm.alive
    await eventually(lambda: not Path(f"/proc/{warm.pid}").exists())

    answer = await probe(runtime, NAPPER, {"do": "get", "key": "anything"})
    [fresh] = runtime.lambdas.workers(NAPPER)
    assert answer["pid"] == fresh.pid != warm.pid
    assert fresh.invocations == 1, "a cold start: a new execution environment"


async def test_a_runtime_that_exits_fails_the_invocation_and_is_replaced(runtime: LocalRuntime) -> None:
    first = (await probe(runtime, PROBE))["pid"]
    with pytest.raises(FunctionCrashed) as crashed:
        await probe(runtime, PROBE, {"do": "exit", "code": 3})
    assert crashed.value.error_type == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in crashed.value.error_message
    assert (await probe(runtime, PROBE))["pid"] != first


async def test_stopping_lets_a_running_invocation_finish_before_the_workers_go(start_runtime: StartRuntime) -> None:
    # A connection closed just before shutdown still has its $disconnect running: killing its
    # worker would fail it as Runtime.ExitError (and log an error for nothing the user did).
    runtime = await start_runtime()
    running = asyncio.ensure_future(probe(runtime, PROBE, {"do": "sleep", "seconds": 0.5}))
    await eventually(lambda: runtime.lambdas.in_flight)
    await runtime.stop()
    assert (await running)["pid"]


async def test_a_function_error_is_reported_as_lambda_reports_it(runtime: LocalRuntime) -> None:
    from tidings_local.lambdas import FunctionError

    with pytest.raises(FunctionError) as failed:
        await probe(runtime, PROBE, {"do": "nonsense"})
    assert failed.value.error_type == "KeyError"
    assert failed.value.error_message == "'nonsense'"
    assert any("probe.py" in line for line in failed.value.stack_trace)
    assert not any("lambda_bootstrap.py" in line for line in failed.value.stack_trace)


async def test_worker_logs_are_tagged_with_their_function_and_log_stream(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    from tidings_local.lambdas import FunctionError

    with pytest.raises(FunctionError):
        await probe(runtime, READER, {"do": "nonsense"})
    [worker] = runtime.lambdas.workers(READER)
    await asyncio.sleep(0.5)  # the log line travels through the worker's stdout
    lines = [line for line in capsys.readouterr().out.splitlines() if '"function": "Reader"' in line]
    assert lines and all(f'"logStream": "{worker.log_stream}"' in line for line in lines)
    assert any("[ERROR] KeyError: 'nonsense'" in line for line in lines)
