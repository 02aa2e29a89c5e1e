"""CDK assertions for attachments: the files bucket (encryption, public access, TLS, lifecycle,
CORS, access logs), the functions' least-privilege grants on its objects, the S3 event wiring
to the scan function and its failure destination, and the bucket's output."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.synthesis import Synthesized
from tests.infrastructure.test_stack import _actions_on, _get_att, _ref, _role_statements
from tidings.admin.declaration import ERASURE_WORKER
from tidings.app import APPLICATION
from tidings.attachments.declaration import (
    ATTACHMENT_FILES,
    ATTACHMENT_SCAN,
    ATTACHMENT_SCAN_FAILURES,
    ATTACHMENTS_API,
)
from tidings.kernel.declaration import Function
from tidings.messaging.declaration import MESSAGE_EVENTS, MESSAGE_SEND, RETENTION_SWEEP
from tidings_infra import names


def _bucket_id(synthesized: Synthesized) -> str:
    return synthesized.logical_id(synthesized.stack.buckets.bucket(ATTACHMENT_FILES))


def _bucket(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.resources[_bucket_id(synthesized)]["Properties"]


def _objects_arn(synthesized: Synthesized) -> dict[str, Any]:
    return {"Fn::Join": ["", [_get_att(_bucket_id(synthesized), "Arn"), "/*"]]}


def test_the_files_bucket_is_encrypted_private_and_owner_enforced(synthesized: Synthesized) -> None:
    bucket = _bucket(synthesized)
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == f"{ATTACHMENT_FILES.id}/"


def test_the_files_bucket_refuses_plain_http(synthesized: Synthesized) -> None:
    policies = [
        resource["Properties"]
        for resource in synthesized.of_type("AWS::S3::BucketPolicy").values()
        if resource["Properties"]["Bucket"] == _ref(_bucket_id(synthesized))
    ]
    (policy,) = policies
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*"


def test_unsent_uploads_expire_and_incomplete_multipart_uploads_are_aborted(synthesized: Synthesized) -> None:
    rules = {rule["Id"]: rule for rule in _bucket(synthesized)["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireUnsentUploads"]["Prefix"] == "uploads/"
    assert rules["ExpireUnsentUploads"]["TagFilters"] == [{"Key": "tidings-unsent", "Value": "true"}]
    assert rules["ExpireUnsentUploads"]["ExpirationInDays"] == 1
    assert rules["ExpireUnsentUploads"]["Status"] == "Enabled"
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_browsers_may_post_uploads_and_fetch_downloads_cross_origin(synthesized: Synthesized) -> None:
    upload, download = _bucket(synthesized)["CorsConfiguration"]["CorsRules"]
    assert upload["AllowedMethods"] == ["POST"]
    assert upload["AllowedOrigins"] == ["*"]
    # A page's fetch that followed the API's 302 may arrive with `Origin: null`: any origin may read.
    assert download["AllowedMethods"] == ["GET", "HEAD"]
    assert download["AllowedOrigins"] == ["*"]


def _object_actions(synthesized: Synthesized, declared: Function) -> set[str]:
    return _actions_on(_role_statements(synthesized, declared), _objects_arn(synthesized))


def test_each_function_has_exactly_its_object_actions(synthesized: Synthesized) -> None:
    assert _object_actions(synthesized, ATTACHMENTS_API) == {"s3:PutObject", "s3:GetObject"}
    assert _object_actions(synthesized, ATTACHMENT_SCAN) == {"s3:GetObject", "s3:GetObjectTagging", "s3:DeleteObject"}
    assert _object_actions(synthesized, MESSAGE_SEND) == {"s3:DeleteObjectTagging"}
    assert _object_actions(synthesized, MESSAGE_EVENTS) == {"s3:DeleteObject"}
    assert _object_actions(synthesized, ERASURE_WORKER) == {"s3:DeleteObject"}
    assert _object_actions(synthesized, RETENTION_SWEEP) == {"s3:DeleteObject"}  # an expired message's files
    granted = (ATTACHMENTS_API, ATTACHMENT_SCAN, MESSAGE_SEND, MESSAGE_EVENTS, ERASURE_WORKER, RETENTION_SWEEP)
    for declared in APPLICATION.functions:
        if declared not in granted:
            assert not _object_actions(synthesized, declared), declared.id
    for statements in (_role_statements(synthesized, ATTACHMENTS_API), _role_statements(synthesized, ATTACHMENT_SCAN)):
        actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        assert not any(a in ("s3:*", "s3:ListBucket", "s3:PutObjectAcl") for a in actions)


def test_uploads_notify_the_scan_function_which_parks_failures(synthesized: Synthesized) -> None:
    scan_id = synthesized.logical_id(synthesized.stack.functions.function(ATTACHMENT_SCAN))
    (notifications,) = synthesized.of_type("Custom::S3BucketNotifications").values()
    assert notifications["Properties"]["BucketName"] == _ref(_bucket_id(synthesized))
    (configuration,) = notifications["Properties"]["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    assert configuration["Events"] == ["s3:ObjectCreated:*"]
    assert configuration["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}}
    assert configuration["LambdaFunctionArn"] == _get_att(scan_id, "Arn")
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com", "FunctionName": _get_att(scan_id, "Arn")},
    )
    failures_id = synthesized.logical_id(synthesized.stack.queues.queue(ATTACHMENT_SCAN_FAILURES))
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": _ref(scan_id),
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": _get_att(failures_id, "Arn")}},
        },
    )


def test_the_bucket_name_is_an_output(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    output = outputs[f"{ATTACHMENT_FILES.id}{names.OUTPUT_BUCKET_NAME_SUFFIX}"]
    assert output["Value"] == _ref(_bucket_id(synthesized))
