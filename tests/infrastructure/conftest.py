"""Synthesizes `TidingsStack` once per session (jsii is slow) and shares the template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.infrastructure.synthesis import Synthesized
from tidings_infra.app import build_app
from tidings_local import lambda_loader
from tidings_local.lambda_loader import LoadResult, SynthesizedFunction


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The whole app, synthesized the way `cdk synth` does it: cdk-nag runs as a validation
    plugin, so this fixture fails if any finding is left unacknowledged."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(outdir=str(outdir))
    assembly = app.synth()
    template_json = assembly.get_stack_artifact(stack.artifact_id).template
    yield Synthesized(
        app=app,
        stack=stack,
        template=Template.from_json(template_json),
        resources=json.loads(json.dumps(template_json))["Resources"],
        outdir=outdir,
    )


@pytest.fixture(scope="session")
def runtime_dir() -> Iterator[Path]:
    """What the Lambda runtime and the Powertools layer provide (`lambda_loader.runtime_packages`)."""
    with lambda_loader.runtime_packages() as directory:
        yield directory


@pytest.fixture(scope="session")
def functions(synthesized: Synthesized) -> list[SynthesizedFunction]:
    """Every synthesized function, with its asset and our layer on disk."""
    return lambda_loader.synthesized_functions({"Resources": synthesized.resources}, synthesized.outdir)


@pytest.fixture(scope="session")
def deployed_loads(functions: list[SynthesizedFunction], runtime_dir: Path) -> list[LoadResult]:
    """Every function loaded once as deployed (a fresh interpreter each, `-B` on read-only code
    with the bytecode the asset and our layer ship, tracing on), with the modules it loaded:
    26 interpreters shared by the loading and the import checks."""
    return lambda_loader.load_all(functions, runtime_dir, list_modules=True)
