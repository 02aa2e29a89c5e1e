"""The local SigV4 check of IAM-authorized HTTP routes, against requests botocore signs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SIGV4_TIMESTAMP
from botocore.credentials import Credentials

from tidings_local import sigv4

URL = "http://127.0.0.1:8080/admin/users/alice?view=full"
BODY = b'{"displayName": "Alice"}'


def signed(method: str = "PUT", url: str = URL, body: bytes = BODY, **options: object) -> sigv4.SignedRequest:
    headers = sigv4.sign(method, url, body, {"Content-Type": "application/json"}, **options)  # type: ignore[arg-type]
    # The signer derives `host` from the URL; an HTTP client sends it as the Host header.
    return sigv4.SignedRequest(method, url, {"Host": "127.0.0.1:8080", **headers}, body)


def refusal(request: sigv4.SignedRequest, now: datetime | None = None) -> sigv4.SignatureRefused:
    with pytest.raises(sigv4.SignatureRefused) as refused:
        sigv4.verify(request, now)
    assert refused.value.status == 403
    return refused.value


def test_a_good_signature_passes_with_the_iam_identity() -> None:
    identity = sigv4.verify(signed())
    assert identity["accessKey"] == "tidings-local"
    assert set(identity) >= {"accountId", "callerId", "userArn", "userId", "cognitoIdentity", "principalOrgId"}


def test_headers_are_matched_whatever_their_case() -> None:
    request = signed()
    upper = sigv4.SignedRequest(request.method, request.url, {k.upper(): v for k, v in request.headers.items()}, BODY)
    assert sigv4.verify(upper)["accessKey"] == "tidings-local"


def test_a_wrong_secret_is_refused() -> None:
    refused = refusal(signed(credentials=Credentials(sigv4.DEV_ACCESS_KEY, "guessed")))
    assert refused.error_type == "InvalidSignatureException"
    assert refused.message.startswith("The request signature we calculated does not match")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: sigv4.SignedRequest(r.method, r.url, r.headers, b'{"displayName": "Mallory"}'),
        lambda r: sigv4.SignedRequest(r.method, r.url.replace("/alice", "/mallory"), r.headers, r.body),
        lambda r: sigv4.SignedRequest(r.method, r.url.replace("view=full", "view=none"), r.headers, r.body),
        lambda r: sigv4.SignedRequest("DELETE", r.url, r.headers, r.body),
        lambda r: sigv4.SignedRequest(r.method, r.url, {**r.headers, "Content-Type": "text/plain"}, r.body),
    ],
    ids=["body", "path", "query", "method", "signed-header"],
)
def test_a_tampered_request_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    assert refusal(tamper(signed())).error_type == "InvalidSignatureException"


def test_an_unsigned_request_is_forbidden() -> None:
    refused = refusal(sigv4.SignedRequest("PUT", URL, {"Content-Type": "application/json"}, BODY))
    assert refused.body() == {"message": "Forbidden"}


def test_a_header_missing_its_parts_or_its_date_is_incomplete() -> None:
    request = signed()
    partial = {**request.headers, "Authorization": "AWS4-HMAC-SHA256 Credential=tidings-local/x"}
    refused = refusal(sigv4.SignedRequest("PUT", URL, partial, BODY))
    assert refused.error_type == "IncompleteSignatureException"
    assert "'SignedHeaders'" in refused.message and "'Signature'" in refused.message
    undated = {k: v for k, v in request.headers.items() if k.lower() != "x-amz-date"}
    assert "X-Amz-Date" in refusal(sigv4.SignedRequest("PUT", URL, undated, BODY)).message


def test_a_signed_header_that_was_not_sent_is_a_mismatch() -> None:
    request = signed()
    without_a_signed_one = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
    assert (
        refusal(sigv4.SignedRequest("PUT", URL, without_a_signed_one, BODY)).error_type == "InvalidSignatureException"
    )


def test_an_unknown_access_key_is_unrecognized() -> None:
    refused = refusal(signed(credentials=Credentials("AKIAOTHER", sigv4.DEV_SECRET_KEY)))
    assert refused.error_type == "UnrecognizedClientException"


def test_a_signature_older_or_newer_than_five_minutes_is_refused() -> None:
    request = signed()
    signed_at = datetime.strptime(request.headers["X-Amz-Date"], SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    assert sigv4.verify(request, signed_at + timedelta(minutes=4))
    expired = refusal(request, signed_at + timedelta(minutes=6))
    assert expired.message.startswith("Signature expired:")
    assert refusal(request, signed_at - timedelta(minutes=6)).message.startswith("Signature not yet current:")


def test_a_signature_for_another_region_or_service_is_refused() -> None:
    assert refusal(signed(region="eu-west-1")).error_type == "InvalidSignatureException"
