"""Wheels of compiled layer dependencies, built for Lambda's platform.

Our layer is staged offline from the installed environment (`layer_build`). That is right for
pure-Python distributions, and for compiled ones whose installed wheel also runs on Lambda. The
python3.11 runtime runs on Amazon Linux 2, whose glibc is 2.26: a wheel installed here may be
built for a newer glibc (cryptography's `manylinux_2_34`) and would fail to import on Lambda.

For those, `make install` (which has the network) downloads the same version's wheel for
`manylinux2014_x86_64` (glibc 2.17) into `build/lambda-wheels/`, and the layer build unpacks
that one instead. Run as `python -m tidings_infra.lambda_wheels DIR`.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

from tidings_infra import names

# Amazon Linux 2 (the python3.11 runtime): glibc 2.26, x86_64, CPython 3.11.
LAMBDA_GLIBC = (2, 26)
LAMBDA_PLATFORM_TAG = "manylinux2014_x86_64"
LAMBDA_PYTHON = "3.11"
WHEELS_DIR = names.REPO_ROOT / "build" / "lambda-wheels"

_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _tag_glibc(platform_tag: str) -> tuple[int, int] | None:
    """The glibc a manylinux x86_64 platform tag needs; None if it is not one."""
    if not platform_tag.endswith("_x86_64"):
        return None
    if match := re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform_tag):
        return int(match[1]), int(match[2])
    return _LEGACY_MANYLINUX.get(platform_tag.removesuffix("_x86_64"))


def runs_on_lambda(distribution: importlib.metadata.Distribution) -> bool:
    """Whether the installed wheel is pure Python, or built for a glibc Lambda has."""
    wheel = distribution.read_text("WHEEL") or ""
    platforms = [
        line.split(":", 1)[1].strip().rsplit("-", 1)[-1] for line in wheel.splitlines() if line.startswith("Tag:")
    ]
    for platform_tag in platforms:
        if platform_tag == "any":
            return True
        glibc = _tag_glibc(platform_tag)
        if glibc is not None and glibc <= LAMBDA_GLIBC:
            return True
    return False


def needing_lambda_wheels(distributions: tuple[str, ...] = names.LAYER_DISTRIBUTIONS) -> list[tuple[str, str]]:
    """(name, installed version) of each layer distribution whose installed build won't run on Lambda."""
    found = []
    for name in distributions:
        distribution = importlib.metadata.distribution(name)
        if not runs_on_lambda(distribution):
            found.append((name, distribution.version))
    return found


def wheel_for(name: str, version: str, wheels_dir: Path = WHEELS_DIR) -> Path | None:
    normalized = re.sub(r"[-_.]+", "_", name).lower()
    for wheel in sorted(wheels_dir.glob("*.whl")):
        wheel_name, wheel_version = wheel.name.split("-")[:2]
        if wheel_name.lower() == normalized and wheel_version == version:
            return wheel
    return None


def download(wheels_dir: Path) -> None:
    wheels_dir.mkdir(parents=True, exist_ok=True)
    for name, version in needing_lambda_wheels():
        if wheel_for(name, version, wheels_dir):
            continue
        subprocess.run(  # noqa: S603  (our own interpreter's pip, fixed arguments)
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                LAMBDA_PLATFORM_TAG,
                "--python-version",
                LAMBDA_PYTHON,
                "--implementation",
                "cp",
                "--dest",
                str(wheels_dir),
                f"{name}=={version}",
            ],
            check=True,
        )


if __name__ == "__main__":
    download(Path(sys.argv[1]) if len(sys.argv) > 1 else WHEELS_DIR)
