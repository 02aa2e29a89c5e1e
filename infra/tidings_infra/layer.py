"""The two Lambda layers every function gets: ours (tidings + PynamoDB + PyJWT) and Powertools."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from tidings_infra import names
from tidings_infra.layer_build import build_layer


class LayerConstruct(Construct):
    """`core`: our LayerVersion, staged from the source tree and the installed distributions at
    synth time (no Docker, no network; see `layer_build`).

    `powertools`: the AWS-managed Powertools for AWS Lambda (Python) layer, which also carries
    pydantic. Its ARN is resolved by CloudFormation at deploy time from the public SSM parameter
    named in `names.POWERTOOLS_LAYER_PARAMETER` (an `AWS::SSM::Parameter::Value<String>` stack
    parameter), so synth needs neither credentials nor a context lookup, and the deployed region
    picks its own regional ARN.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.core = lambda_.LayerVersion(
            self,
            "Core",
            code=lambda_.Code.from_asset(str(build_layer())),
            compatible_runtimes=[names.RUNTIME],
            compatible_architectures=[names.ARCHITECTURE],
            description="tidings shared code with PynamoDB and PyJWT",
        )
        powertools_arn = ssm.StringParameter.value_for_string_parameter(self, names.POWERTOOLS_LAYER_PARAMETER)
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_arn)

    @property
    def layers(self) -> list[lambda_.ILayerVersion]:
        return [self.powertools, self.core]
