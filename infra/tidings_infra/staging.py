"""Build directories swapped in whole: what `Code.from_asset` reads is always one complete build."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def stage(output_dir: Path, fill: Callable[[Path], None]) -> Path:
    """(Re)build `output_dir` with `fill(staging)`, and return it.

    The tree is filled in a sibling temporary directory and swapped in at the end, so files
    deleted from the source never linger and a concurrent synth never sees a half-built tree.
    `output_dir` still holds the previous build while `fill` runs.
    """
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        fill(staging)
        retired = output_dir.with_name(f"{staging.name}-old")
        if output_dir.exists():
            output_dir.rename(retired)
        try:
            staging.rename(output_dir)
        except OSError:
            # A concurrent synth swapped in its own (identical) build first: use that one.
            if not output_dir.exists():
                raise
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir
