"""Lambda, locally: the declared handler files, invoked in a thread pool with a Lambda context.

Each declared `Function` is loaded from `functions/<domain>/<module>.py` by file path, as Lambda
loads it from its code root, under a unique module name (`tidings_fn_<domain>_<module>`), so two
domains may both have a `handler.py`. Functions that share one file share one module. Loading is
eager, at startup: a missing handler fails `tidings dev` at once instead of on the first frame.

Invocations run in a `ThreadPoolExecutor`, never on the event loop: handlers make blocking HTTP
calls back into this same server (@connections) and would deadlock it.

Differences from AWS, on purpose:
- all functions share one process, one environment and one copy of module globals, and
  concurrent invocations of one function run in threads of that process (on AWS each
  concurrent invocation has its own execution environment);
- a timed-out invocation is reported as failed (`FunctionTimeout`) but its thread cannot be
  killed, so it runs on in the background;
- sibling-module imports inside `functions/<domain>/` are not on `sys.path`; shared code
  belongs in the `tidings` layer.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tidings.kernel.declaration import Application, Function
from tidings_local.aws import ACCOUNT_ID, region
from tidings_local.stats import Stats, handler_scope

FUNCTIONS_DIR_ENV = "TIDINGS_FUNCTIONS_DIR"


def default_functions_dir() -> Path:
    """`$TIDINGS_FUNCTIONS_DIR`, else the repository's `functions/` next to `local/`."""
    override = os.environ.get(FUNCTIONS_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "functions"


class HandlerNotFound(Exception):
    """A declared function has no handler file or no such attribute in it."""


class FunctionTimeout(Exception):
    """The invocation ran past the function's declared timeout."""


class FunctionCrashed(Exception):
    """The handler's runtime died mid-invocation (`SystemExit` or another `BaseException` that
    is not an `Exception`); Lambda reports that as the function error `Runtime.ExitError`."""


@dataclass
class LambdaContext:
    """The context object Lambda's Python runtime passes as the handler's second argument."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Lambdas:
    """Loads and invokes the declared functions."""

    def __init__(
        self,
        application: Application,
        executor: Executor,
        stats: Stats,
        functions_dir: Path | None = None,
    ) -> None:
        self.application = application
        self.functions_dir = functions_dir or default_functions_dir()
        self._executor = executor
        self._stats = stats
        self._modules: dict[Path, ModuleType] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Invocations still running (a shutdown waits for these before stopping moto)."""
        with self._in_flight_lock:
            return self._in_flight

    def function_name(self, function: Function) -> str:
        return f"{self.application.name}-{function.id}"

    def function_arn(self, function: Function) -> str:
        return f"arn:aws:lambda:{region()}:{ACCOUNT_ID}:function:{self.function_name(function)}"

    def load(self) -> None:
        """Imports every declared function's module (the cold start), once per file."""
        for function in self.application.functions:
            module = self.module(function)
            handler = getattr(module, function.attribute, None)
            if not callable(handler):
                raise HandlerNotFound(f"{function.id}: {module.__file__} has no callable {function.attribute!r}")
            self._handlers[function.id] = handler

    def module(self, function: Function) -> ModuleType:
        """The loaded module of a function's handler file (tests read stub state through it)."""
        path = self.functions_dir / function.domain / f"{function.module}.py"
        if path in self._modules:
            return self._modules[path]
        if not path.is_file():
            raise HandlerNotFound(f"{function.id}: handler file {path} does not exist")
        name = f"tidings_fn_{function.domain}_{function.module}".replace(".", "_").replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise HandlerNotFound(f"{function.id}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        with handler_scope(self._stats):
            spec.loader.exec_module(module)
        self._modules[path] = module
        return module

    async def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        """Invokes the function with `event`; returns its result or raises its exception."""
        handler = self._handlers[function.id]
        context = LambdaContext(
            function_name=self.function_name(function),
            invoked_function_arn=self.function_arn(function),
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
        )
        self._stats.invocation(function.id)

        def run() -> Any:
            with self._in_flight_lock:
                self._in_flight += 1
            try:
                with handler_scope(self._stats, function.id):
                    return handler(event, context)
            except Exception:
                raise
            except BaseException as exc:
                raise FunctionCrashed(f"Runtime.ExitError: {type(exc).__name__}: {exc}") from exc
            finally:
                with self._in_flight_lock:
                    self._in_flight -= 1

        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, run), function.timeout_seconds)
        except TimeoutError as exc:
            raise FunctionTimeout(f"Task timed out after {function.timeout_seconds}.00 seconds") from exc
