"""Loads synthesized functions the way the Lambda Python runtime does, each in a fresh interpreter.

`tidings dev` runs the functions from the source tree as Lambda would (`lambdas.py`,
`lambda_paths.py`). This module reproduces what Lambda does with the *synthesized* code
(`cdk.out`), so the infrastructure tests and `make bench-cold` can check and measure what
`cdk deploy` would ship:

- `sys.path` is, in Lambda's order: the function's code (`/var/task`, the asset directory), the
  layers' `python/` directories (`/opt/python`), then the runtime's own packages (`/var/runtime`)
  and the standard library. The Lambda runtime provides boto3 and its dependencies; the public
  Powertools layer provides aws-lambda-powertools with its extras (pydantic, aws-xray-sdk, ...).
  Those are staged as a directory of symlinks to exactly those installed distributions' files
  (`runtime_packages`), never the whole virtualenv, so a dependency our layer forgot fails here.
- The interpreter is fresh (`python -I -S`: no site-packages, no user site, no PYTHON* variables)
  with the environment Lambda sets (region, function name, X-Ray daemon, the function's own
  variables, unresolved CloudFormation values as placeholders) and no credentials of ours.
- The handler is loaded as Lambda's bootstrap loads it: `importlib.import_module(module)`, then
  `getattr(module, attribute)`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tidings_local.lambda_paths import provided_distributions

STACK_NAME = "TidingsStack"
REGION = "us-east-1"
# Run in the fresh interpreter: Lambda's bootstrap, reduced to loading the handler. It reports
# how long the import took (wall clock, and the process's CPU time, which other processes on a
# busy machine disturb less) and how many modules it brought in (what `make bench-cold` tables),
# and on request their names (what tests/infrastructure/test_cold_start_imports.py checks).
_BOOTSTRAP = """
import importlib, json, sys, time
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
before = len(sys.modules)
start, cpu_start = time.perf_counter(), time.process_time()
try:
    loaded = [importlib.import_module(name) for name in spec["modules"]]
    handler = getattr(loaded[0], spec["attribute"]) if spec["attribute"] else None
except BaseException as error:
    print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
    raise SystemExit(1)
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({
    "seconds": seconds,
    "cpu_seconds": cpu_seconds,
    "loaded": sorted(sys.modules) if spec.get("list_modules") else None,
    "modules": len(sys.modules) - before,
    "file": getattr(loaded[0], "__file__", None),
    "callable": callable(handler),
}))
"""


@dataclass(frozen=True)
class SynthesizedFunction:
    """One `AWS::Lambda::Function` of the template, with its code and layers on this disk."""

    logical_id: str
    handler: str
    asset_dir: Path
    layer_dirs: tuple[Path, ...]  # our own layers' `python/` directories, in the function's order
    environment: Mapping[str, str]
    memory_mb: int

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class LoadResult:
    function: SynthesizedFunction
    error: str | None
    seconds: float = 0.0
    modules: int = 0
    loaded: frozenset[str] = frozenset()  # every module's name, with `list_modules`

    @property
    def ok(self) -> bool:
        return self.error is None


def read_template(cloud_assembly: Path, stack_name: str = STACK_NAME) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((cloud_assembly / f"{stack_name}.template.json").read_text())
    return template


def _asset_dir(cloud_assembly: Path, code: Mapping[str, Any], owner: str) -> Path:
    """The staged asset behind a `Code`/`Content` property: `asset.<hash>` for S3Key `<hash>.zip`."""
    key = code.get("S3Key")
    if not isinstance(key, str) or not key.endswith(".zip"):
        raise ValueError(f"{owner}: code is not a zipped directory asset ({code})")
    path = cloud_assembly.resolve() / f"asset.{key.removesuffix('.zip')}"
    if not path.is_dir():
        raise FileNotFoundError(f"{owner}: asset directory {path} is missing; synthesize first")
    return path


def synthesized_functions(template: Mapping[str, Any], cloud_assembly: Path) -> list[SynthesizedFunction]:
    """Every function of `template`, resolved to its asset and layer directories under `cloud_assembly`.

    Layers that are not ours (a `Ref` to no LayerVersion of the template: the Powertools layer's
    SSM parameter) are what `runtime_packages` stands in for."""
    resources: Mapping[str, Any] = template["Resources"]
    layers = {
        logical_id: _asset_dir(cloud_assembly, resource["Properties"]["Content"], logical_id) / "python"
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::LayerVersion"
    }
    functions = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        if "ZipFile" in properties.get("Code", {}):
            continue  # CDK's own inline deploy-time handlers (bucket notifications), not ours
        layer_refs = [layer.get("Ref") for layer in properties.get("Layers", []) if isinstance(layer, dict)]
        variables = properties.get("Environment", {}).get("Variables", {})
        functions.append(
            SynthesizedFunction(
                logical_id=logical_id,
                handler=properties["Handler"],
                asset_dir=_asset_dir(cloud_assembly, properties["Code"], logical_id),
                layer_dirs=tuple(layers[ref] for ref in layer_refs if ref in layers),
                # Table names, queue URLs and ARNs are CloudFormation references until deploy.
                environment={
                    key: value if isinstance(value, str) else f"unresolved-{key.lower()}"
                    for key, value in variables.items()
                },
                memory_mb=int(properties.get("MemorySize", 128)),
            )
        )
    return functions


def _stage_symlinks(distributions: Iterable[importlib.metadata.Distribution], target: Path) -> None:
    for distribution in distributions:
        for file in distribution.files or []:
            relative = PurePosixPath(str(file))
            if relative.parts and relative.parts[0] == "..":  # console scripts outside site-packages
                continue
            source = Path(str(distribution.locate_file(file)))
            link = target / relative
            if source.is_file() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(source)


@contextlib.contextmanager
def runtime_packages() -> Iterator[Path]:
    """A directory holding exactly the runtime's and the Powertools layer's packages (symlinks,
    including their compiled bytecode, as a runtime image carries it)."""
    with tempfile.TemporaryDirectory(prefix="lambda-runtime-") as directory:
        _stage_symlinks(provided_distributions(), Path(directory))
        yield Path(directory)


def top_level_names(site_dir: Path) -> set[str]:
    """Importable top-level names in a site directory (packages, modules, extension modules)."""
    names = set()
    for entry in site_dir.iterdir():
        if entry.name.endswith((".dist-info", ".egg-info", ".pth")) or entry.name == "__pycache__":
            continue
        names.add(entry.name.split(".", 1)[0])
    return names


# --- loading -----------------------------------------------------------------------------


def sys_path(function: SynthesizedFunction, runtime_dir: Path) -> list[str]:
    return [str(function.asset_dir), *(str(d) for d in function.layer_dirs), str(runtime_dir)]


def lambda_environment(function: SynthesizedFunction) -> dict[str, str]:
    """What Lambda sets for a function with active tracing, then the function's own variables."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.logical_id}",
        "LAMBDA_TASK_ROOT": str(function.asset_dir),
        "_HANDLER": function.handler,
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        # The execution role's credentials are in the environment on Lambda; these are dummies
        # (nothing may call AWS at import), and no config file of this machine is read.
        "AWS_ACCESS_KEY_ID": "ASIAXXXXXXXXXXXXXXXX",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        "AWS_SESSION_TOKEN": "dummy",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **function.environment,
    }


def run_fresh(
    function: SynthesizedFunction,
    runtime_dir: Path,
    modules: Sequence[str] | None = None,
    attribute: str | None = "",
    interpreter_options: Sequence[str] = (),
    timeout: float = 120,
    write_bytecode: bool = False,
    list_modules: bool = False,
    environment: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the bootstrap for `function` in a fresh interpreter. By default it loads the handler;
    `modules` (with `attribute=None`) imports something else on the same path (a baseline).

    `-B` by default because the code is read-only on Lambda: the bytecode the asset and our
    layer ship is read, never written. `write_bytecode` is for use with `-X pycache_prefix=DIR`
    only, which caches in DIR, never in the assets.
    `environment` is laid over Lambda's; `list_modules` reports every module loaded."""
    spec = {
        "path": sys_path(function, runtime_dir),
        "modules": list(modules or [function.module]),
        "attribute": function.attribute if attribute == "" else attribute,
        "list_modules": list_modules,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter, our own script
        [
            sys.executable,
            "-I",
            "-S",
            *([] if write_bytecode else ["-B"]),
            *interpreter_options,
            "-c",
            _BOOTSTRAP,
            json.dumps(spec),
        ],
        env={**lambda_environment(function), **(environment or {})},
        cwd=function.asset_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load(
    function: SynthesizedFunction,
    runtime_dir: Path,
    interpreter_options: Sequence[str] = (),
    write_bytecode: bool = False,
    list_modules: bool = False,
    environment: Mapping[str, str] | None = None,
) -> LoadResult:
    """Load one function's handler as Lambda does; the error says what broke, if anything."""
    completed = run_fresh(
        function,
        runtime_dir,
        interpreter_options=interpreter_options,
        write_bytecode=write_bytecode,
        list_modules=list_modules,
        environment=environment,
    )
    lines = completed.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {}
    if completed.returncode != 0 or "error" in report:
        detail = report.get("error") or (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return LoadResult(function, str(detail))
    own_file = function.asset_dir / f"{function.module.replace('.', '/')}.py"
    if report["file"] != str(own_file):
        return LoadResult(function, f"`import {function.module}` loaded {report['file']}, not {own_file}")
    if not report["callable"]:
        return LoadResult(function, f"{function.handler} is not callable")
    return LoadResult(
        function, None, seconds=report["seconds"], modules=report["modules"], loaded=frozenset(report["loaded"] or ())
    )


def load_all(
    functions: Sequence[SynthesizedFunction],
    runtime_dir: Path,
    interpreter_options: Sequence[str] = (),
    workers: int | None = None,
    write_bytecode: bool = False,
    list_modules: bool = False,
    environment: Mapping[str, str] | None = None,
) -> list[LoadResult]:
    """`load` every function, a few fresh interpreters at a time, in the order given."""
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        return list(
            pool.map(
                lambda f: load(f, runtime_dir, interpreter_options, write_bytecode, list_modules, environment),
                functions,
            )
        )
