"""The local S3 endpoint's checks, as S3 makes them: a browser form's policy (`s3_posts`, which
moto does not evaluate) and the object action each request is authorized as (`iam`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tidings_local.iam import s3_requested
from tidings_local.s3_posts import PolicyRefused, PostForm, check_form

SECRET = "local-secret-key"
KEY = "uploads/a-1"


def _form(*, size: int = 5, content_type: str = "text/plain", **overrides: str) -> tuple[PostForm, dict[str, str]]:
    """A form signed as a function signs it (boto3's generate_presigned_post), as posted."""
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="ASIAEXAMPLE",
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),
    )
    signed = client.generate_presigned_post(
        "files",
        KEY,
        Fields={"Content-Type": "text/plain"},
        Conditions=[{"Content-Type": "text/plain"}, ["content-length-range", 5, 5]],
        ExpiresIn=900,
    )
    fields = {name.lower(): value for name, value in signed["fields"].items()}
    fields["content-type"] = content_type
    fields.update({name.lower(): value for name, value in overrides.items()})
    return PostForm("files", fields, size), signed["fields"]


def test_a_form_as_signed_is_accepted() -> None:
    form, _ = _form()
    check_form(form, SECRET)
    assert form.key == KEY
    assert form.access_key == "ASIAEXAMPLE"


# The forms are signed in the test, not at collection: a form expires 15 minutes after it is
# signed, and the suite can take longer than that to reach this module.
@pytest.mark.parametrize(
    ("changes", "status", "code", "says"),
    [
        ({"size": 6}, 400, "EntityTooLarge", "exceeds the maximum allowed size"),
        ({"size": 4}, 400, "EntityTooSmall", "smaller than the minimum"),
        ({"content_type": "text/html"}, 403, "AccessDenied", '"$Content-Type", "text/plain"'),
        ({"key": "uploads/someone-else"}, 403, "AccessDenied", '"$key"'),
        ({"x-amz-signature": "0" * 64}, 403, "SignatureDoesNotMatch", "signature"),
        ({"acl": "public-read"}, 403, "AccessDenied", "Extra input fields: acl"),
    ],
    ids=["too large", "too small", "other type", "other key", "forged", "extra field"],
)
def test_s3_refuses_what_the_policy_does_not_allow(changes: dict[str, Any], status: int, code: str, says: str) -> None:
    form, _ = _form(**changes)
    with pytest.raises(PolicyRefused) as refused:
        check_form(form, SECRET)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert says in refused.value.message
    assert f"<Code>{code}</Code>".encode() in refused.value.answer()[2]


def test_an_expired_form_is_refused() -> None:
    form, _ = _form()
    with pytest.raises(PolicyRefused, match="Policy expired"):
        check_form(form, SECRET, now=datetime.now(UTC) + timedelta(minutes=16))


def test_a_form_for_another_bucket_is_refused() -> None:
    form, _ = _form()
    with pytest.raises(PolicyRefused, match='"\\$bucket"'):
        check_form(PostForm("other-bucket", form.fields, form.file_size), SECRET)


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/files/uploads/a-1", "", [("s3:GetObject", "arn:aws:s3:::files/uploads/a-1")]),
        ("HEAD", "/files/uploads/a-1", "", [("s3:GetObject", "arn:aws:s3:::files/uploads/a-1")]),
        ("PUT", "/files/uploads/a-1", "", [("s3:PutObject", "arn:aws:s3:::files/uploads/a-1")]),
        ("DELETE", "/files/uploads/a-1", "", [("s3:DeleteObject", "arn:aws:s3:::files/uploads/a-1")]),
        ("GET", "/files/uploads/a-1", "tagging", [("s3:GetObjectTagging", "arn:aws:s3:::files/uploads/a-1")]),
        ("DELETE", "/files/uploads/a-1", "tagging", [("s3:DeleteObjectTagging", "arn:aws:s3:::files/uploads/a-1")]),
        ("GET", "/files", "list-type=2", [("s3:GetBucket", "arn:aws:s3:::files")]),
    ],
)
def test_each_s3_request_is_authorized_as_its_object_action(method, path, query, expected) -> None:
    assert s3_requested(method, path, query, None) == expected


def test_a_copy_also_reads_its_source() -> None:
    assert s3_requested("PUT", "/files/b", "", "/files/uploads/a%2D1") == [
        ("s3:PutObject", "arn:aws:s3:::files/b"),
        ("s3:GetObject", "arn:aws:s3:::files/uploads/a-1"),
    ]
