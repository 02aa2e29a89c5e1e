"""Synthesizes `TidingsStack` once per session (jsii is slow) and shares the template."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from aws_cdk.assertions import Template

from tests.infrastructure.synthesis import Synthesized
from tidings_infra.app import build_app


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
