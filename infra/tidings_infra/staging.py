"""Build directories that never change once built: what `Code.from_asset` reads stays in place.

Several synths may run at once (the test suite runs them in parallel). A build swapped in over
the last one would pull the files from under a synth that is still fingerprinting or copying
it, so each build lands in a directory named by its content and is never rewritten.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

# Builds kept beside the newest: a concurrent synth may still be reading an older one.
_KEPT_BUILDS = 3


def _digest(tree: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(tree).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _builds(output_dir: Path) -> list[Path]:
    """The finished builds of `output_dir`, newest first."""
    found = [p for p in output_dir.parent.glob(f"{output_dir.name}-*") if p.is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def stage(output_dir: Path, fill: Callable[[Path, Path | None], None]) -> Path:
    """Build the tree with `fill(staging, previous)` and return where it landed:
    `<output_dir>-<content hash>`. `previous` is the newest earlier build (or None), for
    reusing what has not changed. The tree is filled in a temporary directory and renamed into
    place whole, so nobody sees a half-built tree and files deleted from the source never linger."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    earlier = _builds(output_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        fill(staging, earlier[0] if earlier else None)
        built = output_dir.with_name(f"{output_dir.name}-{_digest(staging)}")
        try:
            staging.rename(built)
        except OSError:
            if not built.is_dir():  # else an identical build landed first: use that one
                raise
        built.touch()  # the newest, for the next build's `previous` and for pruning
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in _builds(output_dir)[_KEPT_BUILDS:]:
        shutil.rmtree(old, ignore_errors=True)
    return built
