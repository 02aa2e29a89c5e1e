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
3. The same for a baseline, `import boto3, pydantic`, in the same interpreter setup and run.
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

# Why a module of ours pulls in what it does, for the summary (printed when it shows up).
KNOWN_CAUSES = {
    "tidings.kernel.observability": (
        "creates Powertools' Logger and Metrics and, with tracing on (as on Lambda), the Tracer: the "
        "X-Ray recorder, and X-Ray's patch of each library as the function imports it (botocore, PynamoDB)"
    ),
    "tidings.kernel.apigw_events": (
        "imports Powertools' parser models of the API Gateway WebSocket events, and with them the "
        "package of every event source's models"
    ),
    "tidings.kernel.rest": "imports Powertools' event handler (the HTTP API resolver)",
    "tidings.kernel.environment": "imports pydantic (the feature settings models)",
    "tidings.chats.models": "imports PynamoDB's models, which import botocore",
    "tidings.kernel.wire": "builds the pydantic models of the frames (pydantic's schema building)",
}

# Why functions stay above 1.5x the baseline after the trimming (issue 13): what is left is what
# they use. Static text, rendered after the numbers; keep it true when the imports change.
REMAINING_OUTLIERS = """## Why functions stay above the baseline

Every function but `$default` imports only what its routes use
(`tests/infrastructure/test_cold_start_imports.py` checks it). What remains above `import boto3,
pydantic`:

- **Every function with tables** (all but `$default`): PynamoDB and its models (the attributes,
  the connection, botocore's loaders it calls at import), Powertools' Logger and Metrics, our
  kernel and the feature settings models. With tracing on, as deployed, also the X-Ray recorder and
  its patches of botocore and PynamoDB: the calls the function makes are traced.
- **The WebSocket frame functions, `$connect` and `$disconnect`**: Powertools' parser models of
  the API Gateway WebSocket events, whose package builds the pydantic models of every event
  source it supports; and the pydantic models of the frames of the function's feature (its
  `wire.py` is built whole at import).
- **The consumers** (stream and queue): Powertools' batch utility, which imports its pydantic
  models of every event source (SQS, DynamoDB, Kinesis, Kafka) even for one.
- **The typing functions, the Delivery consumer, receipts, sync and history**: the largest service
  graphs: their routes use the chats directory, sessions' connections, presence and messaging
  together (typing indicators fan out to members' connections and record activity).
- **The HTTP API functions**: Powertools' HTTP resolver (`event_handler`).
- **The authorizer** loads PyJWT and cryptography at its first verification (with every token
  it verifies), which this table does not count: a first-invocation cost, like every function's
  `@cold_start` builders (the services it builds, Powertools' parameters utility at the first
  secret read, the push senders in the push worker).

Further steps, not taken: our own models of the few WebSocket event fields we read instead of Powertools' parser
package; `defer_build` on the wire models, so that a function builds the models it validates.
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
) -> str:
    lines = [
        "# Cold start: importing each function's handler",
        "",
        "Written by `make bench-cold` (`python -m tidings_local.bench_cold`); the method is in that",
        "module's docstring. Each function is loaded from the synthesized code (`cdk.out/`) in a fresh",
        "interpreter with Lambda's `sys.path` (its asset, our layer, the runtime's and the Powertools",
        "layer's packages, the standard library): the time is `import_module` of the handler module, the",
        f"median of {runs} runs, beside a bare `import boto3, pydantic` measured the same way in the same run.",
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


def run(cloud_assembly: Path, runs: int, clock: str = "cpu") -> tuple[list[FunctionResult], Timing, dict[str, float]]:
    functions = synthesized_functions(read_template(cloud_assembly), cloud_assembly)
    if not functions:
        raise BenchError(f"no functions in {cloud_assembly}; run `make synth` first")
    with runtime_packages() as runtime_dir:
        reference = functions[0]
        log(f"baseline: import {', '.join(BASELINE_MODULES)}")
        baseline = measure(reference, runtime_dir, runs, BASELINE_MODULES, clock=clock)
        baseline_packages, _ = attribute(reference, runtime_dir, BASELINE_MODULES)
        results = []
        for function in functions:
            log(f"{function.logical_id} ({function.handler})")
            deployed = measure(function, runtime_dir, runs, clock=clock)
            packages, largest = attribute(function, runtime_dir)
            results.append(FunctionResult(function, deployed, packages, largest))
    return results, baseline, baseline_packages


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
        results, baseline, baseline_packages = run(args.cloud_assembly, args.runs, args.clock)
    except (BenchError, FileNotFoundError) as error:
        log(f"bench-cold: {error}")
        return 1
    args.output.write_text(render(results, baseline, baseline_packages, args.runs, args.clock))
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
