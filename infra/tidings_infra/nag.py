"""cdk-nag wiring and the one way this app acknowledges (suppresses) a finding.

cdk-nag 3 runs as a CDK policy-validation plugin: any unacknowledged finding, warning or
error, fails the synth. Acknowledgments are CDK's own `Validations.of(x).acknowledge`, which
replaced cdk-nag 2's `NagSuppressions`; each one names one rule (or one `Rule[finding]`) and
carries the written reason. They are made next to the resource they concern.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_nag_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True), ServerlessChecks(app, verbose=True))


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge each of `rule_ids` on `scope` and everything below it, for `reason`."""
    if not reason.strip():
        raise ValueError("every acknowledged cdk-nag finding needs a written reason")
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids))


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge the AwsSolutions-IAM5 finding for one wildcard resource (a string that may
    hold CDK tokens, such as `f"{table.table_arn}/index/*"`) on `scope`'s IAM policies.

    cdk-nag 3 names each finding `AwsSolutions-IAM5[Resource::<flattened resource>]`; this
    resolves and flattens the resource the way cdk-nag does, so the acknowledgment covers exactly
    that resource and nothing broader.
    """
    flattened = flatten_cfn_reference(Stack.of(scope).resolve(resource))
    acknowledge(scope, reason, f"AwsSolutions-IAM5[Resource::{flattened}]")


def flatten_cfn_reference(reference: Any) -> str:
    """cdk-nag's `flattenCfnReference`: `{"Fn::GetAtt": ["T", "Arn"]}` -> `<T.Arn>`,
    `{"Ref": "X"}` -> `<X>`, `Fn::Join` joined, `${X}` in strings -> `<X>`."""
    if reference is None:
        return ""
    if isinstance(reference, str):
        return reference.replace("${", "<").replace("}", ">")
    if isinstance(reference, dict):
        if "Fn::Join" in reference:
            delimiter, items = reference["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in reference:
            return flatten_cfn_reference(reference["Fn::Sub"])
        if "Fn::GetAtt" in reference:
            resource, attribute = reference["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in reference:
            return flatten_cfn_reference(reference["Fn::ImportValue"])
        if "Ref" in reference:
            return f"<{flatten_cfn_reference(reference['Ref'])}>"
    return json.dumps(reference, separators=(",", ":"))
