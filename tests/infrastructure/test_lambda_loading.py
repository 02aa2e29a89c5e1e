"""Every synthesized function loads the way the Lambda Python runtime loads it.

Each function runs in a fresh interpreter with only its asset, our layer's `python/`, and what
the Lambda runtime and the public Powertools layer provide on `sys.path`
(`tidings_local.lambda_loader`), then `importlib.import_module` + `getattr` as Lambda's bootstrap
does. This catches what the in-process tests cannot: a handler module whose name shadows another
module (the asset comes first on `sys.path`), and a dependency missing from our layer.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tidings.app import APPLICATION
from tidings_local import lambda_loader, lambda_paths
from tidings_local.lambda_loader import LoadResult, SynthesizedFunction

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


def test_every_declared_function_is_found_with_its_code_and_our_layer(functions: list[SynthesizedFunction]) -> None:
    assert sorted(f.handler for f in functions) == sorted(f.handler for f in APPLICATION.functions)
    for function in functions:
        assert (function.asset_dir / f"{function.module}.py").is_file(), function
        assert [d.name for d in function.layer_dirs] == ["python"], function
        assert (function.layer_dirs[0] / "tidings" / "app.py").is_file()


def test_every_module_we_ship_has_its_bytecode(functions: list[SynthesizedFunction]) -> None:
    """Lambda's code directories are read-only: a module shipped without bytecode is compiled at
    every cold start. The asset's and our layer's modules each carry theirs, which Python uses
    without comparing timestamps (unchecked-hash), the zip having kept none."""
    for root in {functions[0].layer_dirs[0], *(f.asset_dir for f in functions)}:
        sources = sorted(root.rglob("*.py"))
        assert sources, root
        for source in sources:
            cached = Path(importlib.util.cache_from_source(str(source)))
            header = cached.read_bytes()[:16] if cached.is_file() else b""
            assert header[:8] == importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little"), source
            assert header[8:] == importlib.util.source_hash(source.read_bytes()), f"{source}: stale bytecode"


# 26 fresh interpreters, each importing ~950 modules: minutes on a busy 2-core machine.
@pytest.mark.timeout(900)
def test_every_function_loads_as_lambda_loads_it(deployed_loads: list[LoadResult]) -> None:
    results = deployed_loads
    report = "\n".join(
        f"{r.function.logical_id} ({r.function.handler}): "
        + ("ok" if r.ok else f"FAILED: {r.error}")
        + (f", {r.modules} modules" if r.ok else "")
        for r in results
    )
    print(report)
    assert all(r.ok for r in results), report


def test_the_runtime_stand_in_holds_only_the_runtime_and_powertools_closure(runtime_dir: Path) -> None:
    names = {d.metadata["Name"].lower().replace("_", "-") for d in lambda_paths.provided_distributions()}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "aws-lambda-powertools", "pydantic"} <= names
    assert {"aws-xray-sdk", "typing-extensions", "python-dateutil", "six", "urllib3"} <= names
    # Our layer's own dependencies must come from our layer, not from this stand-in.
    assert not {"pynamodb", "pyjwt", "pywebpush", "opensearch-py", "httpx", "moto", "aiohttp"} & names
    top_level = lambda_loader.top_level_names(runtime_dir)
    assert {"boto3", "botocore", "aws_lambda_powertools", "pydantic"} <= top_level
    assert not {"pynamodb", "jwt", "moto", "tidings"} & top_level


def test_a_missing_layer_dependency_fails_to_load(functions: list[SynthesizedFunction], runtime_dir: Path) -> None:
    """The check is not vacuous: the same function without our layer cannot import `tidings`."""
    without_layer = SynthesizedFunction(**{**vars(functions[0]), "layer_dirs": ()})
    result = lambda_loader.load(without_layer, runtime_dir)
    assert not result.ok
    assert "No module named 'tidings'" in (result.error or "")


def test_a_handler_module_named_like_a_stdlib_module_fails_to_load(
    functions: list[SynthesizedFunction], runtime_dir: Path, tmp_path: Path
) -> None:
    """What `functions/message/typing.py` did: the asset comes first on sys.path."""
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "typing.py").write_text("from typing import Any\n\n\ndef handler(event: Any, context: Any) -> None: ...\n")
    shadowing = SynthesizedFunction(**{**vars(functions[0]), "asset_dir": asset, "handler": "typing.handler"})
    assert not lambda_loader.load(shadowing, runtime_dir).ok


def test_no_handler_module_shadows_a_stdlib_or_layer_module(
    functions: list[SynthesizedFunction], runtime_dir: Path
) -> None:
    """A handler file's stem is a top-level module name on Lambda (its asset is first on
    sys.path), so it must not be one the standard library, our layer, the Powertools layer or
    the runtime already uses: `import <that>` anywhere would get the handler file instead."""
    taken = set(sys.stdlib_module_names) | lambda_loader.top_level_names(runtime_dir)
    for layer_dir in {d for f in functions for d in f.layer_dirs}:
        taken |= lambda_loader.top_level_names(layer_dir)
    clashes = sorted(str(p.relative_to(FUNCTIONS_DIR)) for p in FUNCTIONS_DIR.glob("*/*.py") if p.stem in taken)
    assert clashes == []
