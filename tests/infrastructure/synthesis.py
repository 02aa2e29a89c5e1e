"""What the infrastructure tests share: a synthesized app and lookups into its template."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from constructs import IConstruct

from tidings_infra.stack import TidingsStack


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: TidingsStack
    template: Template
    resources: dict[str, dict[str, Any]]
    outdir: Path

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of a construct's CloudFormation resource (or of a Cfn construct)."""
        child = construct.node.default_child or construct
        return str(Stack.of(construct).resolve(Stack.of(construct).get_logical_id(child)))  # type: ignore[arg-type]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}
