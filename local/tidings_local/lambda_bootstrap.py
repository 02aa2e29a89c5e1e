"""Lambda's Python runtime, locally: the program of every `tidings dev` worker process.

Standard library only: it runs as `python -I -S -u lambda_bootstrap.py CONFIG`, an interpreter
that sees neither the virtualenv nor the caller's environment, and sets up what a function sees
itself. It plays two parts.

**The template** (one per runtime; `workers.Template` starts it). It puts the layers and the
runtime's packages on `sys.path` (`lambda_paths`), imports the packages every function shares
(CONFIG's `preload`: boto3, pydantic, Powertools, the layer's third-party packages; never
`tidings` nor function code, and only with the environment every function has in common), then
forks one worker per request on its control socket. Importing those once instead of once per
worker is what lets `tidings dev` load ~30 functions in a few seconds on two cores.

**A worker** (one per execution environment, as Lambda has them). After the fork it becomes
what Lambda's runtime is for one environment, in Lambda's order:

1. `os.environ` is exactly the spec's: the function's declared variables plus what Lambda
   sets itself (`lambdas.lambda_environment`); the working directory is the function's code;
2. `sys.path` is the function's code, the layers, the runtime's packages, the standard library;
3. the handler is loaded as `awslambdaric.bootstrap._get_handler` loads it, with its errors:
   `Runtime.MalformedHandlerName`, `Runtime.BuiltInModuleConflict`, `Runtime.ImportModuleError`
   ("Unable to import module 'm': ..."), `Runtime.UserCodeSyntaxError`, `Runtime.HandlerNotFound`
   ("Handler 'h' missing on module 'm'"); any other exception raised at import is reported by
   its type. An init error is reported and the worker exits, as Lambda's runtime does;
4. it loops: an invocation in (event, request id, deadline), the handler called with a context
   like Lambda's, the result out as JSON (Decimals as numbers, bytes as they are; anything else
   not serializable is `Runtime.MarshalError`), or the error as Lambda reports it (errorMessage,
   errorType, stackTrace without this file's frames), logged to stdout the way Lambda logs it.
   A `BaseException` that is not an `Exception` (`SystemExit`, a runtime crash) ends the
   process, as it ends Lambda's runtime: the caller reports `Runtime.ExitError`.

Messages are JSON lines on the worker's channel (a Unix socket to the main process). While an
invocation runs, the fault hooks (`lambda_faults.py`, loaded by path) may ask the main process
whether an injected fault fires (`decide`). stdout and stderr are the worker's log stream.
"""

# Standard library modules only; Lambda's own bootstrap (awslambdaric) imports about these
# before the handler, so a function's module named like one of them is shadowed the same way.
import base64
import concurrent.futures  # noqa: F401
import datetime  # noqa: F401
import decimal
import enum  # noqa: F401
import importlib
import importlib.util
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings

STDLIB_PATH = list(sys.path)  # with -I -S: the standard library only
CHANNEL_LIMIT = 64 * 1024 * 1024
CONTROL_MESSAGE_BYTES = 1024 * 1024


class FaultException(Exception):
    """An error of the runtime itself, with Lambda's error type (awslambdaric's names)."""

    MARSHAL_ERROR = "Runtime.MarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"

    def __init__(self, exception_type, message, trace=None):
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message
        self.trace = trace


# --- the template ---------------------------------------------------------------------------


def run_template(config):
    """Preloads, tells the main process which modules it holds, then forks a worker for each
    request until the control socket closes."""
    sys.path[:] = [config["layers"], config["runtime"], *STDLIB_PATH]
    for name in config["preload"]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # not installed here: the functions that need it will say so
            print(f"lambda template: {name} not preloaded: {type(exc).__name__}: {exc}", file=sys.stderr)
    _check_preloaded(config)
    _share_sdk_models(config.get("sdk_services") or ())
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    # A Ctrl-C at the terminal reaches the whole process group: the main process stops the
    # template by closing the control socket, so the interrupt is not the template's to act on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=config["control_fd"])
    control.sendall(json.dumps({"modules": sorted({name.partition(".")[0] for name in sys.modules})}).encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, CONTROL_MESSAGE_BYTES, 3)
        except OSError:
            return
        if not message:
            return
        spec = json.loads(message)
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a worker is a normal process
            try:
                if spec.get("fresh"):
                    _exec_fresh(spec, fds)
                run_worker(spec, *fds)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        control.sendall(json.dumps({"pid": pid}).encode())


def _exec_fresh(spec, fds):
    """A worker in a new interpreter, with nothing preloaded: for a function whose code has a
    module named like one the template imported, which on Lambda would shadow it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in fds:
        os.set_inheritable(fd, True)
    config = json.dumps({"worker": spec, "fds": fds})
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-u", os.path.abspath(__file__), config])  # noqa: S606


def _share_sdk_models(services):
    """Parses the AWS SDK's models once, here, for every worker forked after.

    botocore parses a service's JSON models (and its endpoint rules, partitions, retry config)
    once per botocore session: that is most of the ~0.2 s of CPU each new `boto3.client` costs,
    paid by every worker at its first invocation, several times over (boto3's default session,
    PynamoDB's own). Parsed once in the template, the workers share them copy-on-write. The data
    are the SDK's own files, unchanged: botocore already shares one parse between the clients of
    a session; this shares it between sessions. A local speed-up only: on Lambda each
    environment parses its own."""
    try:
        import boto3
        import botocore.session
        from botocore import loaders
    except ImportError:
        return
    shared = {}

    def across_sessions(load):
        def load_shared(self, *args, **kwargs):
            key = (load.__name__, tuple(self.search_paths), args, tuple(sorted(kwargs.items())))
            if key not in shared:
                shared[key] = load(self, *args, **kwargs)
            return shared[key]

        return load_shared

    for name in ("load_service_model", "load_data_with_path", "list_available_services"):
        setattr(loaders.Loader, name, across_sessions(getattr(loaders.Loader, name)))
    for service in services:
        try:  # creating a client loads all it needs (no call is made), through boto3 (whose
            # loader also searches boto3's own data) and through botocore alone, as PynamoDB does
            for session in (boto3.session.Session(), botocore.session.get_session()):
                create = session.client if isinstance(session, boto3.session.Session) else session.create_client
                create(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
        except Exception as exc:
            print(f"lambda template: {service} model not preloaded: {type(exc).__name__}: {exc}", file=sys.stderr)


def _check_preloaded(config):
    """Nothing preloaded may come from outside the layers, the runtime and the standard library,
    and the shared package must not be there at all (it reads the environment at import)."""
    allowed = (config["layers"], config["runtime"], *STDLIB_PATH)
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if name == "tidings" or name.startswith("tidings."):
            raise SystemExit(f"lambda template: {name} must not be preloaded")
        if origin and origin != __file__ and not origin.startswith(allowed):
            raise SystemExit(f"lambda template: {name} was preloaded from {origin}, outside the function's sys.path")


# --- a worker ---------------------------------------------------------------------------------


def run_worker(spec, channel_fd, stdout_fd, stderr_fd):
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)  # its own process group, so that a timeout kills whatever it started
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    os.close(stdout_fd)
    os.close(stderr_fd)
    os.environ.clear()
    os.environ.update(spec["environment"])
    time.tzset()
    os.chdir(spec["asset"])
    channel = Channel(socket.socket(fileno=channel_fd))
    _setup_logging()
    # Powertools warns "No application metrics to publish" after every invocation that added no
    # metric; locally nothing is published, so it is only noise (as `log_format` hides it there).
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    faults = _load_fault_hooks(spec.get("hooks"), channel)  # before the function's sys.path is set
    sys.path[:] = [*spec["sys_path"], *STDLIB_PATH]
    started = time.monotonic()
    try:
        handler = _get_handler(spec["handler"])
    except Exception as exc:
        error = _fault_result(exc) if isinstance(exc, FaultException) else _error_result(exc)
        _log_error(error)
        channel.send({"initError": error})
        sys.stdout.flush()
        os._exit(1)
    channel.send({"ready": {"initMs": round((time.monotonic() - started) * 1000, 1)}})
    while True:
        message = channel.receive()
        if message is None:
            os._exit(0)
        invocation = message["invoke"]
        if faults is not None:
            faults.active.clear()
            faults.active.update(invocation.get("faultTargets") or ())
        try:
            channel.send(_invoke(handler, invocation))
        except BaseException as exc:
            traceback.print_exc()
            code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
            channel.send({"exit": {"status": code, "errorType": type(exc).__name__, "errorMessage": str(exc)}})
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


class Channel:
    """JSON lines to and from the main process; `request` may be called from any thread."""

    def __init__(self, sock):
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, message):
        self._sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def send_raw(self, line):
        self._sock.sendall(line + b"\n")

    def receive(self):
        line = self._reader.readline(CHANNEL_LIMIT)
        return json.loads(line) if line else None

    def request(self, message):
        with self._lock:
            self.send(message)
            return self.receive()


def _get_handler(handler):
    """Lambda's handler loading, step for step (awslambdaric's `_get_handler`)."""
    try:
        module_name, attribute = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultException(FaultException.MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {exc}") from None
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT, f"Cannot use built-in module {module_name} as a handler module"
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultException(
            FaultException.IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{module_name}': {exc}", trace
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND, f"Handler '{attribute}' missing on module '{module_name}'"
        ) from None


class LambdaContext:
    """The context object Lambda's Python runtime passes as the handler's second argument."""

    def __init__(self, request_id, invoked_function_arn, deadline_ms):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = CognitoIdentity()
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self):
        return f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name}])"


class CognitoIdentity:
    cognito_identity_id = None
    cognito_identity_pool_id = None


def _invoke(handler, invocation):
    request_id = invocation["requestId"]
    _RequestIdFilter.request_id = request_id
    os.environ["_X_AMZN_TRACE_ID"] = invocation["traceId"]
    context = LambdaContext(request_id, invocation["invokedFunctionArn"], invocation["deadlineMs"])
    try:
        result = handler(invocation["event"], context)
        return _marshal(result)
    except FaultException as exc:
        error = _fault_result(exc)
    except Exception as exc:
        error = _error_result(exc)
    error["requestId"] = request_id
    _log_error(error)
    return {"error": error}


def _marshal(result):
    if isinstance(result, bytes):
        return {"bytes": base64.b64encode(result).decode()}
    try:
        return {"result": json.loads(json.dumps(result, default=_json_default))}
    except (TypeError, ValueError) as exc:
        raise FaultException(FaultException.MARSHAL_ERROR, f"Unable to marshal response: {exc}") from None


def _json_default(value):
    """Lambda's encoder writes a Decimal as the number it is."""
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return math.nan
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _fault_result(exc):
    return {"errorMessage": exc.message, "errorType": exc.exception_type, "stackTrace": exc.trace or []}


def _error_result(exc):
    frames = list(traceback.extract_tb(exc.__traceback__))
    while frames and frames[0].filename == __file__:  # as Lambda drops its bootstrap's frames
        frames = frames[1:]
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": traceback.format_list(frames)}


def _log_error(error):
    """As Lambda's text log format writes an error: one record, lines joined by a carriage
    return (so that a log line is one event), with the trace's indentation kept."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            lines += [line.replace(" ", "\u00a0") if line.startswith(" ") else line for line in element.splitlines()]
    sys.stdout.write("\r".join(lines) + "\n")
    sys.stdout.flush()


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = self.request_id
        return True


def _setup_logging():
    """Lambda's root logger handler, text format (awslambdaric `_setup_logging`)."""
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def _load_fault_hooks(path, channel):
    """The fault hooks module, loaded from its file (it is not on the function's sys.path)."""
    if not path:
        return None
    spec = importlib.util.spec_from_file_location("_tidings_local_fault_hooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install(lambda target, facts: channel.request({"decide": {"target": target, "facts": facts}})["rule"])
    return module


def main():
    config = json.loads(sys.argv[1])
    if "worker" in config:
        run_worker(config["worker"], *config["fds"])
    else:
        run_template(config)


if __name__ == "__main__":
    main()
