"""What a function can import, laid out as Lambda lays it out.

On Lambda a Python function's `sys.path` is, in order: its code (`/var/task`, the asset folder),
the layers' `python/` directory (`/opt/python`: every layer is unpacked into `/opt`, a later
layer's files over an earlier one's), the runtime's own packages (boto3 and its closure), then
the standard library. Nothing else: not the packages of the machine that built it.

`stage(root)` builds that here with symlinks, so a worker sees exactly this and the sources stay
editable in place:

- `root/opt/python/`: the AWS Powertools layer's packages (`powertools_layer_distributions`:
  Powertools with the extras tidings-core asks for, and their closure; the public layer bundles
  them all, so this errs on the strict side), then ours over it: the shared package `tidings`
  (its source directory) and the distributions `tidings_infra.layer_build` copies into our layer
  (`LAYER_DISTRIBUTIONS`);
- `root/runtime/`: boto3 and its closure (`runtime_distributions`), as the Python runtime ships it.

The same two lists are what `lambda_loader` stages for the synthesized code.

`shadowing(asset_dir, paths)` names the asset's modules that would hide a module of the standard
library, of the layers or of the runtime: with the asset first on `sys.path`, `import typing`
in any code of that function finds the asset's `typing.py` on AWS.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tidings_infra.packaging import LAYER_DISTRIBUTIONS

CORE_PACKAGE_DIR = Path(__file__).resolve().parents[2] / "layers" / "tidings-core" / "tidings"
# The Lambda Python runtime ships boto3 (and what it needs); the public Powertools layer ships
# aws-lambda-powertools with its extras.
RUNTIME_ROOTS = ("boto3",)
POWERTOOLS = "aws-lambda-powertools"
CORE_DISTRIBUTION = "tidings-core"
_NOT_MODULES = {"__pycache__", "bin", "share", "include"}


@dataclass(frozen=True)
class LambdaPaths:
    layers: Path  # /opt/python
    runtime: Path  # the runtime's packages

    def sys_path(self, asset_dir: Path) -> list[str]:
        """A function's `sys.path` before the standard library."""
        return [str(asset_dir), str(self.layers), str(self.runtime)]

    def top_level_names(self) -> dict[str, str]:
        """Importable top-level names of the layers and the runtime -> where they come from."""
        names: dict[str, str] = {}
        for directory, origin in ((self.runtime, "the Lambda runtime"), (self.layers, "a layer")):
            names.update({name: origin for name in _module_names(directory)})
        return names


def stage(root: Path, core_package: Path = CORE_PACKAGE_DIR) -> LambdaPaths:
    """(Re)creates `root/opt/python` and `root/runtime`; returns them."""
    paths = LambdaPaths(root / "opt" / "python", root / "runtime")
    for directory in (paths.layers, paths.runtime):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    for distribution in runtime_distributions():
        _link_distribution(distribution, paths.runtime)
    for distribution in powertools_layer_distributions():
        _link_distribution(distribution, paths.layers)
    for name in LAYER_DISTRIBUTIONS:  # ours is the later layer: its files win
        _link_distribution(importlib.metadata.distribution(name), paths.layers)
    _link(core_package, paths.layers / core_package.name)
    return paths


def shadowing(asset_dir: Path, paths: LambdaPaths) -> list[tuple[str, str]]:
    """(module file, what it hides) for each top-level module of the asset folder that has the
    name of a standard library module or of a package the layers or the runtime provide."""
    provided = paths.top_level_names()
    found = []
    for name in sorted(_module_names(asset_dir)):
        if name in sys.stdlib_module_names:
            found.append((name, f"the standard library's {name!r}"))
        elif name in provided:
            found.append((name, f"{name!r} of {provided[name]}"))
    return found


def _module_names(directory: Path) -> set[str]:
    names = set()
    for entry in directory.iterdir():
        name = entry.name
        if name.endswith(".py"):
            names.add(name.removesuffix(".py"))
        elif name.endswith(".so"):
            names.add(name.split(".", 1)[0])
        elif entry.is_dir() and name.isidentifier() and name not in _NOT_MODULES:
            names.add(name)
    return names


# --- what the Lambda runtime and the Powertools layer provide ----------------------------


def _powertools_extras() -> set[str]:
    for line in importlib.metadata.requires(CORE_DISTRIBUTION) or []:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == POWERTOOLS:
            return set(requirement.extras)
    raise LookupError(f"{CORE_DISTRIBUTION} does not require {POWERTOOLS}")


def distribution_closure(roots: Iterable[tuple[str, Iterable[str]]]) -> list[importlib.metadata.Distribution]:
    """The installed distributions `roots` (name, extras) need, with their dependencies."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    pending = [(name, set(extras)) for name, extras in roots]
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        distribution = importlib.metadata.distribution(name)
        seen[key] = distribution
        for line in distribution.requires or []:
            requirement = Requirement(line)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in extras | {""}
            )
            if wanted:
                pending.append((requirement.name, set(requirement.extras)))
    return list(seen.values())


def runtime_distributions() -> list[importlib.metadata.Distribution]:
    """What the Python runtime itself ships: boto3 and its closure."""
    return distribution_closure((name, ()) for name in RUNTIME_ROOTS)


def powertools_layer_distributions() -> list[importlib.metadata.Distribution]:
    """What the Powertools layer adds over the runtime's packages."""
    runtime = {canonicalize_name(d.metadata["Name"]) for d in runtime_distributions()}
    layer = distribution_closure([(POWERTOOLS, _powertools_extras())])
    return [d for d in layer if canonicalize_name(d.metadata["Name"]) not in runtime]


def provided_distributions() -> list[importlib.metadata.Distribution]:
    """Everything a function gets without bringing it: the runtime's and the Powertools layer's."""
    return [*runtime_distributions(), *powertools_layer_distributions()]


def _link_distribution(distribution: importlib.metadata.Distribution, target: Path) -> None:
    """Links each top-level entry the distribution installed (its packages, modules and
    `.dist-info`) into `target`."""
    tops = set()
    for file in distribution.files or []:
        parts = PurePosixPath(str(file)).parts
        if parts and parts[0] != ".." and parts[0] not in _NOT_MODULES and not parts[0].endswith(".pth"):
            tops.add(parts[0])
    for top in tops:
        source = Path(str(distribution.locate_file(top)))
        if source.exists():
            _link(source, target / top)


def _link(source: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(source, link)
