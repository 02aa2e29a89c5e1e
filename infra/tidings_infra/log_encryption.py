"""Every log group of the stack encrypted with one customer-managed KMS key.

CloudWatch Logs encrypts log data at rest in any case; its own key gives the stack a key policy
of its own for what the logs hold (user ids, connection ids and, in the API access logs, client
IP addresses), and a CloudTrail record of every use. An aspect applies it, so a log group added
anywhere later is covered without an edit.
"""

from __future__ import annotations

import jsii
from aws_cdk import Aspects, Aws, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import IConstruct


@jsii.implements(IAspect)
class _EncryptLogGroups:
    def __init__(self, key: kms.IKey) -> None:
        self._key = key

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = self._key.key_arn


def encrypt_log_groups(stack: Stack, construct_id: str, removal_policy: RemovalPolicy) -> kms.Key:
    """Create the logs key in `stack` and encrypt every log group of `stack` with it."""
    key = kms.Key(
        stack,
        construct_id,
        description="Encrypts the Tidings log groups",
        enable_key_rotation=True,
        removal_policy=removal_policy,
    )
    # CloudWatch Logs uses the key on behalf of this account's log groups only (the encryption
    # context it passes names the log group).
    our_log_groups = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": our_log_groups}},
        )
    )
    Aspects.of(stack).add(_EncryptLogGroups(key))
    return key
