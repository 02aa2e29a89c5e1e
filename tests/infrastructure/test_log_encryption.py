"""Every log group is encrypted with the stack's logs key, which CloudWatch Logs may use only
for this account's log groups."""

from __future__ import annotations

import json

from tests.infrastructure.synthesis import Synthesized


def test_every_log_group_is_encrypted_with_the_logs_key(synthesized: Synthesized) -> None:
    key_id = synthesized.logical_id(synthesized.stack.logs_key)
    log_groups = synthesized.of_type("AWS::Logs::LogGroup")
    assert log_groups
    for logical_id, log_group in log_groups.items():
        assert log_group["Properties"].get("KmsKeyId") == {"Fn::GetAtt": [key_id, "Arn"]}, logical_id


def test_cloudwatch_logs_may_use_the_key_for_this_accounts_log_groups_only(synthesized: Synthesized) -> None:
    key = synthesized.resources[synthesized.logical_id(synthesized.stack.logs_key)]["Properties"]
    assert key["EnableKeyRotation"] is True
    (for_logs,) = [s for s in key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert "logs." in json.dumps(for_logs["Principal"]["Service"])
    context = json.dumps(for_logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert ":log-group:*" in context and "AWS::AccountId" in context
