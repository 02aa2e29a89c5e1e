"""Stages the contents of our Lambda layer at synth time, without Docker and without network.

The layer holds the shared package `tidings` (from the source tree) and its dependencies
(PynamoDB, PyJWT, and the push worker's: see `names.LAYER_DISTRIBUTIONS`), copied file by file
from the distributions installed in this environment, which are the exact versions the tests
ran against. boto3/botocore come from the Lambda runtime, aws-lambda-powertools and pydantic
from the AWS-managed Powertools layer. A few push dependencies are compiled (cryptography,
cffi, aiohttp's speedups); they are copied as installed, which is right only on Lambda's own
platform (Linux x86_64, CPython 3.11), so the build refuses any other. One whose installed
wheel needs a newer glibc than Lambda's is unpacked from its Lambda build instead, which
`make install` downloads (`lambda_wheels`).

Every module ships compiled (`bytecode.compile_bytecode`).
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from tidings_infra import names
from tidings_infra.bytecode import LAMBDA_LAYER_SITE, compile_bytecode
from tidings_infra.lambda_wheels import WHEELS_DIR, runs_on_lambda, wheel_for
from tidings_infra.staging import stage

_SKIPPED_PARTS = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _wanted(relative: PurePosixPath) -> bool:
    return (
        bool(relative.parts)
        and relative.parts[0] != ".."  # console scripts and data outside site-packages
        and not _SKIPPED_PARTS.intersection(relative.parts)
        and relative.suffix not in _SKIPPED_SUFFIXES
    )


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _copy_package_tree(package_dir: Path, site_dir: Path) -> None:
    for source in sorted(package_dir.rglob("*")):
        relative = PurePosixPath(source.relative_to(package_dir.parent).as_posix())
        if source.is_file() and _wanted(relative):
            _copy(source, site_dir / relative)


# Lambda's platform for our functions (names.RUNTIME, names.ARCHITECTURE).
_LAMBDA_PLATFORM = ("linux", "x86_64", (3, 11))
_COMPILED_SUFFIXES = {".so"}


def _check_platform(name: str, relative: PurePosixPath) -> None:
    """Compiled extensions are copied as installed, so they must be built for Lambda's platform."""
    here = (sys.platform, platform.machine(), sys.version_info[:2])
    if relative.suffix in _COMPILED_SUFFIXES and here != _LAMBDA_PLATFORM:
        raise RuntimeError(
            f"{name} ships compiled code ({relative}) built for {here}, but the functions run on "
            f"{_LAMBDA_PLATFORM}: synthesize on Linux x86_64 with CPython 3.11"
        )


def _unpack_lambda_wheel(name: str, version: str, site_dir: Path) -> None:
    wheel = wheel_for(name, version)
    if wheel is None:
        raise RuntimeError(
            f"{name} {version} is installed built for a newer glibc than Lambda's; its Lambda build "
            f"is missing from {WHEELS_DIR}: run `make install` (it downloads it)"
        )
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            relative = PurePosixPath(member)
            if not member.endswith("/") and _wanted(relative) and ".data" not in relative.parts[0]:
                target = site_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))


def _copy_distribution(name: str, site_dir: Path) -> None:
    distribution = importlib.metadata.distribution(name)
    if not runs_on_lambda(distribution):
        _unpack_lambda_wheel(name, distribution.version, site_dir)
        return
    files = distribution.files
    if not files:
        raise RuntimeError(f"distribution {name!r} lists no files; reinstall it with pip")
    for file in files:
        relative = PurePosixPath(str(file))
        if _wanted(relative):
            _check_platform(name, relative)
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                _copy(source, site_dir / relative)


def build_layer(
    output_dir: Path = names.LAYER_BUILD_DIR,
    package_dir: Path = names.CORE_PACKAGE_DIR,
    distributions: Iterable[str] = names.LAYER_DISTRIBUTIONS,
) -> Path:
    """Build the layer's `python/` directory and return the build's directory, ready for
    `Code.from_asset` (`staging.stage`: `<output_dir>-<content hash>`)."""

    def fill(staging: Path, previous: Path | None) -> None:
        site_dir = staging / "python"
        _copy_package_tree(package_dir, site_dir)
        for name in distributions:
            _copy_distribution(name, site_dir)
        compile_bytecode(site_dir, LAMBDA_LAYER_SITE, previous=previous / "python" if previous else None)

    return stage(output_dir, fill)
