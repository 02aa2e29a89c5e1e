"""Bytecode for what we ship to Lambda: our layer and the functions' assets.

Lambda's code directories (`/var/task`, `/opt`) are read-only, so a module without a `.pyc`
beside it is compiled from source at every cold start (for our layer, most of the import time
of our own code). Each module gets `__pycache__/<module>.cpython-311.pyc` as unchecked-hash
bytecode (PEP 552): Python loads it without comparing timestamps, which a zip extracted on
Lambda does not keep, and the bytes depend only on the source, so an unchanged build keeps its
asset hash.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

# Where Lambda puts a function's code and a layer's `python/` directory: the file name compiled
# into the bytecode (Python replaces it with the real path when it loads a module). A build's
# own (random) staging path there would make every build's bytes differ.
LAMBDA_TASK_ROOT = PurePosixPath("/var/task")
LAMBDA_LAYER_SITE = PurePosixPath("/opt/python")

_PYC_HEADER_BYTES = 16  # magic, flags, then the source's hash
_UNCHECKED_HASH_FLAGS = (1).to_bytes(4, "little")  # hash-based, never checked against the source

# Runs in a fresh interpreter with a fixed hash seed: frozenset constants are marshalled in hash
# order, so a random seed would change the bytes from one build to the next.
_COMPILE_SCRIPT = """
import json, py_compile, sys
for source, cached, shown in json.load(sys.stdin):
    py_compile.compile(source, cached, shown, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


def _is_current(source: Path, cached: Path) -> bool:
    """Whether `cached` is this interpreter's unchecked-hash bytecode of `source` as it is now."""
    if not cached.is_file():
        return False
    with cached.open("rb") as file:
        header = file.read(_PYC_HEADER_BYTES)
    return header == importlib.util.MAGIC_NUMBER + _UNCHECKED_HASH_FLAGS + importlib.util.source_hash(
        source.read_bytes()
    )


def compile_bytecode(root: Path, shown_root: PurePosixPath, previous: Path | None = None) -> None:
    """Writes the bytecode of every module under `root`, compiled as if `root` were `shown_root`.
    `previous` is the last build of the same tree: the bytecode of a module that has not
    changed since (its header carries the source's hash) is copied instead of compiled again,
    so a synth compiles only what changed."""
    to_compile = []
    for source in sorted(root.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        earlier = previous / cached.relative_to(root) if previous is not None else None
        if earlier is not None and _is_current(source, earlier):
            cached.parent.mkdir(exist_ok=True)
            cached.write_bytes(earlier.read_bytes())
        else:
            to_compile.append((str(source), str(cached), str(shown_root / source.relative_to(root).as_posix())))
    if to_compile:
        subprocess.run(  # noqa: S603 - our own interpreter, our own script
            [sys.executable, "-P", "-c", _COMPILE_SCRIPT],
            input=json.dumps(to_compile),
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
