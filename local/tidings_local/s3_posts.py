"""S3 browser-form uploads (POST Object), checked as S3 checks them; moto stores the object
without evaluating the form's policy, so `tidings dev` does it in front of moto.

What S3 checks, and answers as it does:

- the policy's signature (SigV4: the HMAC of the base64 policy with the signer's key derived
  for the form's `x-amz-date`, region and service), recomputed with botocore's signer;
- the policy's `expiration`;
- every condition: `{"field": value}` and `["eq", "$field", value]` exact, `["starts-with",
  "$field", prefix]`, `["content-length-range", min, max]` on the file's size (`EntityTooSmall`,
  `EntityTooLarge`), and `bucket` against the bucket posted to;
- every form field but `file`, `policy`, `x-amz-signature` and `x-ignore-*` is named by a
  condition ("Invalid according to Policy: Extra input fields: …").
"""

from __future__ import annotations

import base64
import hmac
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.formparser import parse_form_data

_UNCHECKED_FIELDS = {"file", "policy", "x-amz-signature"}


@dataclass(frozen=True)
class PostForm:
    bucket: str
    fields: dict[str, str]  # lower-cased names, as S3 compares them
    file_size: int

    @property
    def key(self) -> str:
        return self.fields.get("key", "")

    @property
    def access_key(self) -> str | None:
        credential = self.fields.get("x-amz-credential")
        return credential.split("/", 1)[0] if credential else None


class PolicyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message></Error>"
        )
        return self.status, {"Content-Type": "application/xml"}, body.encode()


def is_form_upload(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and str(environ.get("CONTENT_TYPE", "")).startswith(
        "multipart/form-data"
    )


def parse_form(environ: dict[str, Any], body: bytes) -> PostForm:
    """The form of a POST to `/<bucket>` (path-style)."""
    scratch = dict(environ)
    scratch["wsgi.input"] = io.BytesIO(body)
    scratch["CONTENT_LENGTH"] = str(len(body))
    _, form, files = parse_form_data(scratch)
    upload = files.get("file")
    size = len(upload.read()) if upload is not None else 0
    bucket = str(environ.get("PATH_INFO", "")).strip("/").split("/", 1)[0]
    return PostForm(bucket, {name.lower(): value for name, value in form.items()}, size)


def check_form(form: PostForm, secret_key: str | None, now: datetime | None = None) -> None:
    """Raises PolicyRefused unless S3 would take the form. `secret_key`: the signer's, when
    known (a function's role), to check the signature."""
    policy_b64 = form.fields.get("policy")
    if not policy_b64:
        raise PolicyRefused(403, "AccessDenied", "Bucket POST must contain a field named 'policy'")
    try:
        policy = json.loads(base64.b64decode(policy_b64))
        expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PolicyRefused(400, "InvalidPolicyDocument", f"Invalid Policy: {exc}") from None
    if secret_key is not None and not _signed(form, policy_b64, secret_key):
        raise PolicyRefused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided",
        )
    if (now or datetime.now(UTC)) >= expiration:
        raise PolicyRefused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    named = {"bucket"}
    for condition in conditions:
        named |= _check(condition, form)
    extra = sorted(name for name in form.fields if name not in named and name not in _UNCHECKED_FIELDS)
    extra = [name for name in extra if not name.startswith("x-ignore-")]
    if extra:
        raise PolicyRefused(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")


def _field(form: PostForm, name: str) -> str:
    return form.bucket if name == "bucket" else form.fields.get(name, "")


def _check(condition: Any, form: PostForm) -> set[str]:
    """The field names `condition` covers; raises PolicyRefused when the form fails it."""
    if isinstance(condition, dict):
        for name, value in condition.items():
            if _field(form, name.lower()) != value:
                raise PolicyRefused(
                    403,
                    "AccessDenied",
                    f'Invalid according to Policy: Policy Condition failed: ["eq", "${name}", "{value}"]',
                )
        return {name.lower() for name in condition}
    operator, *arguments = condition
    if operator == "content-length-range":
        low, high = (int(v) for v in arguments)
        if form.file_size < low:
            raise PolicyRefused(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
        if form.file_size > high:
            raise PolicyRefused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        return set()
    name, value = str(arguments[0]).lstrip("$").lower(), str(arguments[1])
    actual = _field(form, name)
    failed = actual != value if operator == "eq" else not actual.startswith(value)
    if failed:
        raise PolicyRefused(
            403,
            "AccessDenied",
            f'Invalid according to Policy: Policy Condition failed: ["{operator}", "${name}", "{value}"]',
        )
    return {name}


def _signed(form: PostForm, policy_b64: str, secret_key: str) -> bool:
    credential = form.fields.get("x-amz-credential", "")
    parts = credential.split("/")
    if len(parts) != 5 or form.fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        return False
    access_key, _, region, service, _ = parts
    request = AWSRequest(method="POST", url="http://localhost/")
    request.context["timestamp"] = form.fields.get("x-amz-date", "")
    expected = SigV4Auth(Credentials(access_key, secret_key), service, region).signature(policy_b64, request)
    return hmac.compare_digest(expected, form.fields.get("x-amz-signature", ""))
