"""Lambda, locally: every declared function in its own worker processes, loaded as Lambda loads it.

Each invocation runs in a worker process of its function (`workers.py`): a fresh interpreter
whose `sys.path` holds only the function's folder, the layers and the runtime's packages
(`lambda_paths.py`), whose environment is only the function's declared variables and what
Lambda sets itself (`lambda_environment`), and which loads the handler with Lambda's own
`importlib.import_module` and reports Lambda's errors (`lambda_bootstrap.py`). A function has up
to `max_workers` workers, one per concurrent invocation, each kept warm between invocations, so
module globals are per function and per execution environment, as on AWS.

`start()` pre-warms one worker per function, in parallel: `tidings dev` is ready only once every
function has loaded, and a function that cannot load (a module named like the standard
library's, a dependency missing from the layer, a typo) stops it at once with Lambda's error,
naming the function and its module.

An invocation past the function's timeout kills its worker, as Lambda ends the environment, and
fails with `Task timed out after N.00 seconds`; the next one starts a new worker (a cold start).
A worker that dies mid-invocation (`SystemExit`, a crash) fails it with `Runtime.ExitError`.

Workers reach AWS through `AWS_ENDPOINT_URL` (moto's server, `moto_server.py`) with their
function's own credentials, so that IAM can be enforced where AWS enforces it (`iam.py`).

Differences from AWS, on purpose: workers fork from a template process that has already imported
the runtime's and the layers' third-party packages and parsed the AWS SDK's service models
(see `lambda_bootstrap.py`; a function whose
folder shadows one of them gets a fresh interpreter instead); the init phase has no 10 s limit
and a cold start does not count against the invocation's timeout (a loaded laptop is slower than
Lambda); memory is not limited; more concurrent invocations than `max_workers` wait for a worker
instead of starting more environments.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tidings.kernel.declaration import Application, Function
from tidings_local.aws import ACCOUNT_ID, region
from tidings_local.lambda_paths import LambdaPaths, shadowing, stage
from tidings_local.log import logger
from tidings_local.stats import Stats
from tidings_local.workers import (
    FAULT_HOOKS,
    FunctionPool,
    Template,
    Worker,
    WorkerGone,
    WorkerTimedOut,
    log_stream_name,
)

FUNCTIONS_DIR_ENV = "TIDINGS_FUNCTIONS_DIR"
MAX_WORKERS_PER_FUNCTION = 4
PYTHON_RUNTIME = "python3.11"


def default_functions_dir() -> Path:
    """`$TIDINGS_FUNCTIONS_DIR`, else the repository's `functions/` next to `local/`."""
    override = os.environ.get(FUNCTIONS_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "functions"


# How long shutdown waits for running invocations before it kills their workers.
DRAIN_SECONDS = 5.0


class FunctionError(Exception):
    """The function failed, as Lambda reports it: `errorType`, `errorMessage`, `stackTrace`."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        self.error_type = str(error.get("errorType", ""))
        self.error_message = str(error.get("errorMessage", ""))
        self.stack_trace = list(error.get("stackTrace") or [])
        super().__init__(self.error_message)


class FunctionTimeout(FunctionError):
    """The invocation ran past the function's declared timeout."""


class FunctionCrashed(FunctionError):
    """The function's runtime died mid-invocation (`Runtime.ExitError`)."""


class FunctionLoadError(Exception):
    """A function cannot load: `tidings dev` does not start."""


@dataclass(frozen=True)
class Invocation:
    """One invocation, kept when the runtime records them (tests read what functions got)."""

    function_id: str
    event: Any
    result: Any = None
    error: FunctionError | None = None
    worker_pid: int | None = None


class WorkerFaults(Protocol):
    """What the fault hooks inside the workers ask the main process (`faults.Faults`)."""

    def worker_targets(self) -> list[str]:
        """The targets with active rules that the workers decide (stream, search, push)."""
        ...

    def decide(self, function_id: str, target: str, facts: dict[str, Any]) -> str | None:
        """The error of the rule that fires for this call, or None."""
        ...


class _NoFaults:
    def worker_targets(self) -> list[str]:
        return []

    def decide(self, function_id: str, target: str, facts: dict[str, Any]) -> str | None:
        return None


def platform_environment() -> dict[str, str]:
    """What Lambda sets in every execution environment of a Python 3.11 function."""
    return {
        "AWS_REGION": region(),
        "AWS_DEFAULT_REGION": region(),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{PYTHON_RUNTIME}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        # Local only: no ~/.aws/config of the developer's (retry modes, profiles) reaches a worker.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


_template_lock = threading.Lock()
_template: Template | None = None


def shared_template() -> Template:
    """The process's template, started on first use: it never runs function code, so every
    runtime of the process (tests start many) forks from the same one."""
    global _template
    with _template_lock:
        if _template is None or not _template.running:
            staging = Path(tempfile.mkdtemp(prefix="tidings-lambda-"))
            template = Template(stage(staging), platform_environment())
            template.start()
            atexit.register(template.stop)
            _template = template
        return _template


class Lambdas:
    """The declared functions' workers: started, invoked, stopped."""

    def __init__(
        self,
        application: Application,
        stats: Stats,
        functions_dir: Path | None = None,
        *,
        max_workers: int = MAX_WORKERS_PER_FUNCTION,
        record_invocations: bool = False,
    ) -> None:
        self.application = application
        self.functions_dir = functions_dir or default_functions_dir()
        self._stats = stats
        self._max_workers = max_workers
        self._environments: dict[str, dict[str, str]] = {}
        self._faults: WorkerFaults = _NoFaults()
        self._pools: dict[str, FunctionPool] = {}
        self._template: Template | None = None
        self._fresh_folders: set[Path] = set()
        self._hints: dict[Path, str] = {}
        self._in_flight = 0
        self._running: set[asyncio.Task[Any]] = set()
        self.invocations: list[Invocation] | None = [] if record_invocations else None

    @property
    def in_flight(self) -> int:
        """Invocations still running."""
        return self._in_flight

    @property
    def paths(self) -> LambdaPaths:
        assert self._template is not None, "start() first"
        return self._template.paths

    def function_name(self, function: Function) -> str:
        return f"{self.application.name}-{function.id}"

    def function_arn(self, function: Function) -> str:
        return f"arn:aws:lambda:{region()}:{ACCOUNT_ID}:function:{self.function_name(function)}"

    def asset_dir(self, function: Function) -> Path:
        return self.functions_dir / function.domain

    def workers(self, function: Function) -> list[Worker]:
        """The function's live workers (tests look at their processes)."""
        pool = self._pools.get(function.id)
        return pool.workers if pool else []

    def invocations_of(self, function: Function) -> list[Invocation]:
        assert self.invocations is not None, "start the runtime with record_invocations=True"
        return [i for i in self.invocations if i.function_id == function.id]

    def events(self, function: Function) -> list[Any]:
        """The events `function` was invoked with, in order (needs `record_invocations`)."""
        return [invocation.event for invocation in self.invocations_of(function)]

    async def start(self, environments: Mapping[str, Mapping[str, str]], faults: WorkerFaults | None = None) -> None:
        """Loads every function: `environments` is each function's own (by id), to which
        Lambda's variables are added; `faults` answers the fault hooks in the workers."""
        self._environments = {function_id: dict(env) for function_id, env in environments.items()}
        if faults is not None:
            self._faults = faults
        self._template = await asyncio.to_thread(shared_template)
        problems = self._check_folders()
        for function in self.application.functions:
            self._pools[function.id] = FunctionPool(
                function, lambda function=function: self._start_worker(function), self._max_workers
            )
        results = await asyncio.gather(
            *(self._warm(function) for function in self.application.functions), return_exceptions=True
        )
        problems += [str(result) for result in results if isinstance(result, BaseException)]
        if problems:
            await self.stop()
            raise FunctionLoadError("\n".join(problems))

    def _check_folders(self) -> list[str]:
        problems = []
        for folder in sorted({self.asset_dir(function) for function in self.application.functions}):
            if not folder.is_dir():
                names = ", ".join(f.id for f in self.application.functions if self.asset_dir(f) == folder)
                problems.append(f"{names}: the code folder {folder} does not exist")
                continue
            shadows = shadowing(folder, self.paths)
            if shadows:
                self._hints[folder] = "; ".join(
                    f"{folder / name}.py has the name of {what}: Lambda puts {folder.name}/ first on sys.path, "
                    f"so `import {name}` in these functions finds it instead"
                    for name, what in shadows
                )
                assert self._template is not None
                if {name for name, _ in shadows} & self._template.modules:
                    self._fresh_folders.add(folder)
                logger.warning(
                    "a module of a function folder shadows another", extra={"shadowing": self._hints[folder]}
                )
        return problems

    async def _warm(self, function: Function) -> None:
        pool = self._pools[function.id]
        try:
            worker = await pool.acquire()
        except FunctionError as exc:
            folder = self.asset_dir(function)
            hint = f" ({self._hints[folder]})" if folder in self._hints else ""
            raise FunctionLoadError(
                f"{function.id} ({folder / function.module}.py, handler {function.handler}): "
                f"{exc.error_type}: {exc.error_message}{hint}"
            ) from None
        await pool.release(worker)

    async def _start_worker(self, function: Function) -> Worker:
        assert self._template is not None
        folder = self.asset_dir(function)
        instance = uuid.uuid4().hex
        environment = self._lambda_environment(function, log_stream_name(instance))
        spec = {
            "handler": function.handler,
            "asset": str(folder),
            "sys_path": self.paths.sys_path(folder),
            "environment": environment,
            "hooks": str(FAULT_HOOKS),
            "fresh": folder in self._fresh_folders,
        }
        spawned = await asyncio.to_thread(self._template.spawn, spec)
        worker = await Worker.attach(function, spawned, environment["AWS_LAMBDA_LOG_STREAM_NAME"], _print)
        try:
            reply = await worker.ready()
        except WorkerGone as gone:
            await worker.closed()
            raise FunctionCrashed({"errorType": "Runtime.ExitError", "errorMessage": _exit_reason(gone)}) from None
        if "initError" in reply:
            worker.kill()
            await worker.closed()
            raise FunctionError(reply["initError"])
        return worker

    def _lambda_environment(self, function: Function, log_stream: str) -> dict[str, str]:
        """The function's own variables plus those Lambda sets for this execution environment."""
        environment = dict(self._environments.get(function.id, {}))
        environment.update(platform_environment())
        environment.update(
            {
                "_HANDLER": function.handler,
                "LAMBDA_TASK_ROOT": str(self.asset_dir(function)),
                "AWS_LAMBDA_FUNCTION_NAME": self.function_name(function),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name(function)}",
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            }
        )
        return environment

    async def invoke(self, function: Function, event: Any) -> Any:
        """Invokes `function` with `event`; returns its result or raises `FunctionError`.

        Cancelling the caller (an integration timeout) does not stop the invocation: on AWS the
        function runs on until its own timeout."""
        self._stats.invocation(function.id)
        task = asyncio.ensure_future(self._invoke(function, event))
        self._running.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that gave up does not leave it unobserved

    async def _invoke(self, function: Function, event: Any) -> Any:
        pool = self._pools[function.id]
        self._in_flight += 1
        worker: Worker | None = None
        try:
            worker = await pool.acquire()
            result = await self._run(worker, function, event)
        except FunctionError as exc:
            self._record(function, event, error=exc, worker=worker)
            raise
        finally:
            self._in_flight -= 1
            if worker is not None:
                await pool.release(worker)
        self._record(function, event, result=result, worker=worker)
        return result

    async def _run(self, worker: Worker, function: Function, event: Any) -> Any:
        request_id = str(uuid.uuid4())
        invocation = {
            "requestId": request_id,
            "invokedFunctionArn": self.function_arn(function),
            "deadlineMs": int((time.time() + function.timeout_seconds) * 1000),
            "traceId": _trace_id(),
            "faultTargets": self._faults.worker_targets(),
            "event": event,
        }
        try:
            reply = await worker.invoke(
                invocation,
                function.timeout_seconds,
                lambda target, facts: self._faults.decide(function.id, target, facts),
            )
        except WorkerTimedOut:
            raise FunctionTimeout(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"{request_id} Task timed out after {function.timeout_seconds}.00 seconds",
                }
            ) from None
        except WorkerGone as gone:
            raise FunctionCrashed(
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: {_exit_reason(gone)}",
                }
            ) from None
        if "error" in reply:
            raise FunctionError(reply["error"])
        if "bytes" in reply:
            return base64.b64decode(reply["bytes"])
        return reply.get("result")

    def _record(
        self,
        function: Function,
        event: Any,
        *,
        result: Any = None,
        error: FunctionError | None = None,
        worker: Worker | None,
    ) -> None:
        if self.invocations is not None:
            pid = worker.pid if worker is not None else None
            self.invocations.append(Invocation(function.id, event, result, error, pid))

    async def stop(self, grace_seconds: float = DRAIN_SECONDS) -> None:
        """Ends every worker (their logs written out first). Invocations still running (the
        `$disconnect` of a connection that closed just before, a consumer's last batch) get
        `grace_seconds` to finish first: killed mid-way they would fail as `Runtime.ExitError`."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace_seconds)
        workers = [worker for pool in self._pools.values() for worker in pool.kill_all()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(worker.closed() for worker in workers)), 2)
        for task in list(self._running):
            task.cancel()
        self._pools.clear()


def _exit_reason(gone: WorkerGone) -> str:
    status = (gone.exit_info or {}).get("status")
    return f"Runtime exited with error: exit status {status}" if status is not None else "Runtime exited"


def _print(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def _trace_id() -> str:
    """An X-Ray trace header, as Lambda sets `_X_AMZN_TRACE_ID` for each invocation (not sampled:
    there is no X-Ray daemon locally)."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
