"""`python -m tidings_local.bench_cold` (`make bench-cold`): what a cold start costs each function
before its handler runs, measured on the synthesized code the way Lambda loads it.

Method
------
1. Read the synthesized template (`cdk.out/`, `make synth`): every function's asset and layers.
2. For each function, `--runs` times (default 5), in a fresh interpreter with Lambda's path
   (`tidings_local.lambda_loader`: the asset, our layer, the runtime's and the Powertools
   layer's packages, the standard library): `import_module(<handler module>)` and `getattr`,
   timed, with the number of modules it imported. The median is reported.
   `-B`, as the code is read-only on Lambda: the bytecode that the asset and our layer ship
   (`make synth` compiles it, `tidings_infra.bytecode`) is loaded, never written.
   The time is the import's CPU time by default (`--clock cpu`: the process's user + system
   time), which the other processes of a busy machine disturb far less than the wall clock
   (`--clock wall`); an import does next to no I/O that CPU time would miss.
3. The same for a baseline, `import boto3, pydantic`, in the same interpreter setup and run (its
   samples spread over the whole run: the median of `--runs` first, then one beside each function
   and each shared cost), and
   for the baseline plus each shared cost (`SHARED_COSTS`): what a function pays for whatever
   its routes, the floor below which trimming a function's imports cannot take it.
4. One run per function with `-X importtime`: the import time spent in each top-level package
   (self time, summed), which says what dominates.

This measures this machine, not Lambda (whose CPU share depends on the memory size); the ratios
to the baseline and the module counts are the transferable part. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tidings_local.lambda_loader import (
    SynthesizedFunction,
    read_template,
    run_fresh,
    runtime_packages,
    synthesized_functions,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks-cold-start.md"
BASELINE_MODULES = ("boto3", "pydantic")
TOP_PACKAGES = 5

# What functions import beyond the baseline whatever their routes, each measured as the baseline's
# imports plus these: label -> modules.
_CORE = ("tidings.kernel.lazy_model", "pynamodb.models", "tidings.kernel.observability", "aws_xray_sdk.core")
SHARED_COSTS = {
    "pydantic's model machinery (any model class: frames, settings, events)": ("tidings.kernel.lazy_model",),
    "PynamoDB's models (every function with a table)": ("pynamodb.models", "pynamodb.attributes"),
    "Powertools' Logger and Metrics (`tidings.kernel.observability`)": ("tidings.kernel.observability",),
    "the X-Ray SDK (Powertools' Tracer, with tracing on as deployed)": ("aws_xray_sdk.core",),
    "Powertools' event data classes (the consumers, the authorizer)": ("aws_lambda_powertools.utilities.data_classes",),
    "Powertools' HTTP resolver (the HTTP API functions)": ("aws_lambda_powertools.event_handler",),
    "the first four together (a traced function with a table and models)": _CORE,
}

# Why a module of ours pulls in what it does, for the summary (printed when it shows up).
KNOWN_CAUSES = {
    "tidings.kernel.observability": (
        "creates Powertools' Logger and Metrics and, with tracing on (as on Lambda), the Tracer: the "
        "X-Ray recorder, and X-Ray's patch of each library as the function imports it (botocore, PynamoDB)"
    ),
    "tidings.kernel.lazy_model": (
        "imports pydantic's model machinery (`BaseModel`, its fields, schema generation), which the first "
        "model class of a function needs; the models themselves are built on first use"
    ),
    "tidings.kernel.rest": "imports Powertools' event handler (the HTTP API resolver)",
    "tidings.kernel.environment": "imports pydantic (the feature settings models)",
    "tidings.chats.models": "imports PynamoDB's models, which import botocore",
    "tidings.kernel.wire": "builds the pydantic models of the frames (pydantic's schema building)",
}

# Why functions stay above 1.5x the baseline after the trimming (issue 13): what is left is what
# they use. Static text, rendered after the numbers; keep it true when the imports change.
REMAINING_OUTLIERS = """## What changed (issue 13)

- **Models are built on first use.** Every pydantic model of ours derives from
  `tidings.kernel.lazy_model.LazyModel` (`defer_build`): a function no longer builds, at import,
  the core schema, validator and serializer of every frame, payload and settings model of the wire
  modules it imports, only of those it validates (the create-chat `TypeAdapter`s defer too).
  `docs/asyncapi.yaml` and `docs/openapi.yaml` are generated from the same models, unchanged.

Tried and not taken: the consumers' partial batch responses without Powertools' batch package,
and the WebSocket events parsed by our own small models instead of Powertools' parser. Both
would hand-write what Powertools already does, and in a paired comparison (alternating runs on
one machine, medians of 5) what they saved was within this machine's run-to-run noise (about
80 ms): the batch package builds the parser's models only when pydantic is already imported, and
most of what the two bring (asyncio, the data classes, pydantic's machinery) the functions load
anyway.

## Why functions stay above 1.5x the baseline

Every function imports only what its routes use (`tests/infrastructure/test_cold_start_imports.py`
checks what it must not load). What keeps them above `import boto3, pydantic` is the floor above,
which no trimming of a function's own imports removes:

- **pydantic's model machinery.** `import pydantic` is lazy; the baseline never loads `BaseModel`,
  its fields and its schema generation, which the first model class of a function does (its frame
  and payload models, the feature settings it validates at cold start, the WebSocket event).
- **PynamoDB** (every function with a table), with the parts of botocore it loads at import.
- **Powertools' Logger and Metrics**, and, with tracing on as deployed, **the X-Ray SDK** (its
  recorder, asyncio and wrapt, which Powertools' `Tracer()` imports even before it patches
  anything): every handler's logging, metrics and traces.

Together they are a third to a half again as much as the baseline's own imports (the last row
of the floor table: +0.36 and +0.47 in two runs on 2026-12-03; one run's row is only as steady
as the machine, so read it with the single rows above it), so a traced function with a
table and models starts near 1.5x before a line of its own code: the goal is not reached by any
function but `$default` (no table, no models), and the table above says by how much for each. Beyond the floor:

- **The HTTP API functions**: Powertools' HTTP resolver (`event_handler`), which serves their routes.
- **The consumers and the authorizer**: Powertools' event data classes (the package imports every
  event source's classes; the records are these).
- **The largest service graphs** (message send, chat events, delivery, typing, sync, history):
  their routes use the chats directory, sessions' connections, presence and messaging together, and
  our own modules (dataclasses, protocols, the wire modules' model classes, built or not) cost
  their import.
- **The authorizer** loads PyJWT and cryptography at its first verification, which this table does
  not count: a first-invocation cost, like every function's `@cold_start` builders.

Not done: the wire modules of other features that a function imports only for a type or a constant, split so it
imports less. Our own record classes instead of Powertools' data classes (the consumers), or a
lighter HTTP router than its resolver, would hand-write what Powertools does. Reaching 1.5x would also need the
X-Ray SDK or pydantic kept out of the init phase, which moves their cost to the first invocation
rather than removing it.
"""

# `-X importtime` lines: "import time: <self us> | <cumulative us> | <indent><module>".
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Timing:
    median_ms: float
    modules: int


@dataclass(frozen=True)
class FunctionResult:
    function: SynthesizedFunction
    deployed: Timing
    by_package_ms: dict[str, float]
    largest_imports: list[Import]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# `--clock` -> the field of lambda_loader's report that is timed.
CLOCKS = {"cpu": "cpu_seconds", "wall": "seconds"}


def _run(
    function: SynthesizedFunction,
    runtime_dir: Path,
    modules: Sequence[str] | None,
    options: Sequence[str],
    clock: str = "cpu",
) -> tuple[float, int, str]:
    completed = run_fresh(
        function,
        runtime_dir,
        modules=modules,
        attribute=None if modules else "",
        interpreter_options=options,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise BenchError(f"{function.logical_id}: {(completed.stdout + completed.stderr).strip()[-2000:]}")
    report = json.loads(lines[-1])
    return report[CLOCKS[clock]] * 1000, int(report["modules"]), completed.stderr


def measure(
    function: SynthesizedFunction,
    runtime_dir: Path,
    runs: int,
    modules: Sequence[str] | None = None,
    options: Sequence[str] = (),
    clock: str = "cpu",
) -> Timing:
    samples = [_run(function, runtime_dir, modules, options, clock) for _ in range(runs)]
    return Timing(statistics.median(ms for ms, _, _ in samples), samples[-1][1])


def by_package(importtime_stderr: str) -> dict[str, float]:
    """Self import time (ms) per top-level package, from `-X importtime` output."""
    totals: defaultdict[str, float] = defaultdict(float)
    for line in importtime_stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, _, _, module = match.groups()
            totals[module.split(".", 1)[0]] += int(self_us) / 1000
    return dict(totals)


@dataclass(frozen=True)
class Import:
    module: str
    parent: str
    cumulative_ms: float


def boundary_imports(importtime_stderr: str, first_party: Sequence[str]) -> list[Import]:
    """Third-party imports made directly by first-party code (`tidings.*`, the handler module),
    largest first: which of our imports pulls in what. Imports made while a first-party module
    runs (Powertools' Tracer patching libraries for X-Ray at construction) count as its own."""
    rows = []
    for line in importtime_stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            _, cumulative_us, indent, module = match.groups()
            rows.append((int(cumulative_us) / 1000, len(indent) // 2, module))

    def ours(module: str) -> bool:
        return any(module == name or module.startswith(f"{name}.") for name in first_party)

    found = []
    for index, (cumulative_ms, depth, module) in enumerate(rows):
        # -X importtime prints a module after everything it imported: its parent is the next
        # line one level up.
        parent = next((m for _, d, m in rows[index + 1 :] if d < depth), None)
        if parent is not None and ours(parent) and not ours(module):
            found.append(Import(module, parent, cumulative_ms))
    return sorted(found, key=lambda i: -i.cumulative_ms)


def attribute(
    function: SynthesizedFunction, runtime_dir: Path, modules: Sequence[str] | None = None
) -> tuple[dict[str, float], list[Import]]:
    _, _, stderr = _run(function, runtime_dir, modules, ("-X", "importtime"))
    return by_package(stderr), boundary_imports(stderr, ("tidings", function.module))


def _top(packages: dict[str, float], count: int = TOP_PACKAGES) -> str:
    ranked = sorted(packages.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {ms:.0f}" for name, ms in ranked)


def _by_trigger(imports: list[Import], count: int = 4) -> str:
    """Third-party import time grouped by the module of ours that triggered it, largest first,
    each with its two largest imports."""
    groups: defaultdict[str, list[Import]] = defaultdict(list)
    for found in imports:
        groups[found.parent].append(found)
    ranked = sorted(groups.items(), key=lambda item: -sum(i.cumulative_ms for i in item[1]))[:count]
    return "; ".join(
        f"{parent} {sum(i.cumulative_ms for i in group):.0f} ({', '.join(i.module for i in group[:2])})"
        for parent, group in ranked
    )


def _summary(results: list[FunctionResult], baseline: Timing) -> list[str]:
    """What dominates, computed from this run's numbers."""
    if not results:
        return []
    deployed = [r.deployed.median_ms for r in results]
    modules = [r.deployed.modules for r in results]
    triggers: defaultdict[str, list[float]] = defaultdict(list)
    for result in results:
        per_parent: defaultdict[str, float] = defaultdict(float)
        for found in result.largest_imports:
            per_parent[found.parent] += found.cumulative_ms
        for parent, ms in per_parent.items():
            triggers[parent].append(ms)
    ranked = sorted(triggers.items(), key=lambda item: -sum(item[1]) / len(results))[:6]
    lines = [
        "## What dominates",
        "",
        f"- Every function imports {min(modules)}-{max(modules)} modules (the baseline {baseline.modules}) in "
        f"{min(deployed):.0f}-{max(deployed):.0f} ms as deployed, {min(deployed) / baseline.median_ms:.1f}-"
        f"{max(deployed) / baseline.median_ms:.1f}x the baseline (median "
        f"{statistics.median(deployed) / baseline.median_ms:.1f}x).",
        "- The modules of ours whose third-party imports cost most (ms, mean over all functions; in how many):",
        "",
    ]
    for parent, values in ranked:
        cause = KNOWN_CAUSES.get(parent)
        lines.append(
            f"  - `{parent}`: {sum(values) / len(results):.0f} ms, in {len(values)} of {len(results)} functions"
            + (f": it {cause}." if cause else ".")
        )
    return lines


def _shared_costs(shared: dict[str, Timing], baseline: Timing) -> list[str]:
    if not shared:
        return []
    return [
        "",
        "## The floor: what functions import whatever their routes",
        "",
        "The baseline's imports plus each of these, measured the same way in the same run; *over base*:",
        "the time above the baseline's, as a share of it.",
        "",
        "| what | modules | as deployed (ms) | over base |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {timing.modules} | {timing.median_ms:.0f} | "
            f"+{(timing.median_ms - baseline.median_ms) / baseline.median_ms:.2f} |"
            for label, timing in shared.items()
        ),
    ]


def _git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(
    results: list[FunctionResult],
    baseline: Timing,
    baseline_packages: dict[str, float],
    runs: int,
    clock: str = "cpu",
    shared: dict[str, Timing] | None = None,
) -> str:
    lines = [
        "# Cold start: importing each function's handler",
        "",
        "Written by `make bench-cold` (`python -m tidings_local.bench_cold`); the method is in that",
        "module's docstring. Each function is loaded from the synthesized code (`cdk.out/`) in a fresh",
        "interpreter with Lambda's `sys.path` (its asset, our layer, the runtime's and the Powertools",
        "layer's packages, the standard library): the time is `import_module` of the handler module, the",
        f"median of {runs} runs, beside a bare `import boto3, pydantic` measured the same way in the same run",
        "(its samples spread over the run: one beside each function).",
        f"Times are the import's {'CPU time (user + system)' if clock == 'cpu' else 'wall-clock time'}.",
        "",
        f"- run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, revision {_git_revision()}, "
        f"Python {platform.python_version()}, {platform.machine()}, load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs at the end (a busy machine skews even medians: compare ratios within one run)",
        "- *as deployed*: read-only code (`-B`) with the bytecode the asset and our layer ship.",
        "- *x base*: the time over the baseline's.",
        "",
        "| function | handler | modules | as deployed (ms) | x base |",
        "|---|---|---:|---:|---:|",
        f"| *baseline* | `import boto3, pydantic` | {baseline.modules} | {baseline.median_ms:.0f} | 1.0 |",
    ]
    for result in results:
        f = result.function
        lines.append(
            f"| {f.logical_id} | `{f.handler}` | {result.deployed.modules} | {result.deployed.median_ms:.0f} | "
            f"{result.deployed.median_ms / baseline.median_ms:.1f} |"
        )
    lines += _shared_costs(shared or {}, baseline)
    lines += [
        "",
        "## What each function's imports pull in",
        "",
        "The third-party imports made directly by our code (`tidings.*` or the handler module), their",
        "cumulative import time in ms summed by the module of ours that makes them, with its two largest",
        "(`-X importtime`, one run, as deployed). Imports made while one of our modules runs count as",
        "that module's: the X-Ray patching that Powertools' `Tracer()` does when `tidings.kernel.observability`",
        "creates it is `tidings.kernel.observability`'s. Then the self time by package.",
        "",
        "| function | third-party imports, by the module of ours that makes them (ms) | self time by package (ms) |",
        "|---|---|---|",
        f"| *baseline* | | {_top(baseline_packages)} |",
        *(f"| {r.function.logical_id} | {_by_trigger(r.largest_imports)} | {_top(r.by_package_ms)} |" for r in results),
    ]
    totals: defaultdict[str, float] = defaultdict(float)
    for result in results:
        for name, ms in result.by_package_ms.items():
            totals[name] += ms
    mean = {name: ms / len(results) for name, ms in totals.items()} if results else {}
    lines += ["", *_summary(results, baseline)]
    lines += [
        "",
        "## Where the time goes, over all functions",
        "",
        "Mean self import time per function, by top-level package (ms, as deployed):",
        "",
        "| package | ms |",
        "|---|---:|",
        *(f"| {name} | {ms:.0f} |" for name, ms in sorted(mean.items(), key=lambda item: -item[1])[:15]),
        "",
        REMAINING_OUTLIERS,
    ]
    return "\n".join(lines)


def run(
    cloud_assembly: Path, runs: int, clock: str = "cpu"
) -> tuple[list[FunctionResult], Timing, dict[str, float], dict[str, Timing]]:
    functions = synthesized_functions(read_template(cloud_assembly), cloud_assembly)
    if not functions:
        raise BenchError(f"no functions in {cloud_assembly}; run `make synth` first")
    with runtime_packages() as runtime_dir:
        reference = functions[0]
        log(f"baseline: import {', '.join(BASELINE_MODULES)}")
        # Baseline samples are taken all through the run (a few first, then one beside each
        # function and each shared cost), so that a machine whose load changes during the run
        # skews the baseline as it skews what is compared with it.
        baseline_samples = [_run(reference, runtime_dir, BASELINE_MODULES, (), clock) for _ in range(runs)]
        baseline_packages, _ = attribute(reference, runtime_dir, BASELINE_MODULES)
        shared = {}
        for label, modules in SHARED_COSTS.items():
            log(f"baseline + {label}")
            shared[label] = measure(reference, runtime_dir, runs, (*BASELINE_MODULES, *modules), clock=clock)
            baseline_samples.append(_run(reference, runtime_dir, BASELINE_MODULES, (), clock))
        results = []
        for function in functions:
            log(f"{function.logical_id} ({function.handler})")
            deployed = measure(function, runtime_dir, runs, clock=clock)
            baseline_samples.append(_run(reference, runtime_dir, BASELINE_MODULES, (), clock))
            packages, largest = attribute(function, runtime_dir)
            results.append(FunctionResult(function, deployed, packages, largest))
    baseline = Timing(statistics.median(ms for ms, _, _ in baseline_samples), baseline_samples[-1][1])
    return results, baseline, baseline_packages, shared


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tidings_local.bench_cold", description=__doc__.splitlines()[0])
    parser.add_argument("--cloud-assembly", type=Path, default=REPO_ROOT / "cdk.out", help="`cdk synth` output")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per function (median)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the Markdown table goes")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu", help="the import's CPU time (default) or wall-clock time"
    )
    args = parser.parse_args(argv)
    try:
        results, baseline, baseline_packages, shared = run(args.cloud_assembly, args.runs, args.clock)
    except (BenchError, FileNotFoundError) as error:
        log(f"bench-cold: {error}")
        return 1
    args.output.write_text(render(results, baseline, baseline_packages, args.runs, args.clock, shared))
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
