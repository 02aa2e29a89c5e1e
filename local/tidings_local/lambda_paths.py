"""What a function can import, laid out as Lambda lays it out.

On Lambda a Python function's `sys.path` is, in order: its code (`/var/task`, the asset folder),
the layers' `python/` directory (`/opt/python`: every layer is unpacked into `/opt`, a later
layer's files over an earlier one's), the runtime's own packages (boto3 and its closure), then
the standard library. Nothing else: not the packages of the machine that built it.

`stage(root)` builds that here with symlinks, so a worker sees exactly this and the sources stay
editable in place:

- `root/opt/python/`: the AWS Powertools layer's packages (`POWERTOOLS_LAYER_DISTRIBUTIONS`:
  Powertools with its core extras, as that layer ships them; one not installed here is missing,
  which is stricter than AWS), then ours over it: the shared package `tidings` (its source
  directory) and the distributions `tidings_infra.layer_build` copies into our layer
  (`LAYER_DISTRIBUTIONS`);
- `root/runtime/`: boto3 and its closure (`RUNTIME_DISTRIBUTIONS`), as the Python runtime ships it.

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

from tidings_infra.packaging import LAYER_DISTRIBUTIONS

CORE_PACKAGE_DIR = Path(__file__).resolve().parents[2] / "layers" / "tidings-core" / "tidings"
# What the Python 3.11 runtime ships for function code: the AWS SDK and its closure.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
# The public Powertools layer: Powertools with its core extras ("[all]") and their closures.
POWERTOOLS_LAYER_DISTRIBUTIONS = (
    "aws-lambda-powertools",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "aws-xray-sdk",
    "wrapt",
    "fastjsonschema",
    "jsonpath-ng",
    "pydantic-settings",
    "aws-encryption-sdk",
)
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
    for distribution in _installed(RUNTIME_DISTRIBUTIONS):
        _link_distribution(distribution, paths.runtime)
    for distribution in _installed(POWERTOOLS_LAYER_DISTRIBUTIONS):
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


def _installed(names: Iterable[str]) -> list[importlib.metadata.Distribution]:
    found = []
    for name in names:
        try:
            found.append(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: missing locally (stricter than AWS), never borrowed
    return found


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
