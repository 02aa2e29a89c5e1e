"""SigV4 for the IAM-authorized routes of the HTTP API, locally: signing (`tidings admin`, the
tests) and the check API Gateway makes before it invokes the route's function.

On AWS an HTTP API route with IAM authorization answers a request that is not signed by an
allowed principal itself, with 403 and a JSON `{"message": …}` (and the error type in
`x-amzn-ErrorType`), and the function never runs:

- no `Authorization` header: `{"message": "Forbidden"}`;
- a header without its `Credential`, `SignedHeaders` or `Signature`, or no `X-Amz-Date`:
  `IncompleteSignatureException`, naming what is missing;
- an access key IAM does not know: `UnrecognizedClientException`, "The security token included
  in the request is invalid.";
- a date more than 5 minutes from the gateway's clock: "Signature expired: … is now earlier
  than … (… - 5 min.)" or "Signature not yet current: … is still later than … (… + 5 min.)";
- anything else that changes the canonical request (the method, path, query, a signed header,
  the body) or a wrong secret: `InvalidSignatureException`, "The request signature we
  calculated does not match the signature you provided. …".

`tidings dev` knows one principal, the development credentials below, allowed to invoke every
IAM route (the stack's `AdminInvokePolicy` is what allows a real principal). The signature is
recomputed with botocore's own signer over the request as received (only the headers it names
as signed), never with a hand-written SigV4. Presigned URLs (`X-Amz-Signature` in the query)
are not accepted here: `tidings admin` and the SDKs sign the header.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

from tidings_local.aws import ACCOUNT_ID

DEV_ACCESS_KEY = "tidings-local"
DEV_SECRET_KEY = "tidings-local-secret"  # published: it guards nothing but a laptop's emulator
DEV_REGION = "us-east-1"
SERVICE = "execute-api"
# What the gateway tolerates between the signature's date and its own clock, either way.
CLOCK_SKEW = timedelta(minutes=5)

_ALGORITHM = "AWS4-HMAC-SHA256"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
# The IAM user the development credentials stand for (`requestContext.authorizer.iam.userArn`).
_DEV_USER_ID = "AIDATIDINGSLOCALDEV00"


class SignatureRefused(Exception):
    """The gateway's answer to a request it does not let through: always 403."""

    status = 403

    def __init__(self, message: str, error_type: str = "ForbiddenException") -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type

    def body(self) -> dict[str, str]:
        return {"message": self.message}


@dataclass(frozen=True)
class SignedRequest:
    """A request as the gateway received it."""

    method: str
    url: str  # scheme://host[:port]/raw/path[?raw query], as the client addressed it
    headers: Mapping[str, str]  # any case
    body: bytes


def iam_identity(access_key: str = DEV_ACCESS_KEY) -> dict[str, Any]:
    """`requestContext.authorizer.iam` of an event API Gateway lets through IAM authorization."""
    return {
        "accessKey": access_key,
        "accountId": ACCOUNT_ID,
        "callerId": _DEV_USER_ID,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/{access_key}",
        "userId": _DEV_USER_ID,
    }


def verify(request: SignedRequest, now: datetime | None = None) -> dict[str, Any]:
    """The caller's `authorizer.iam` block; raises `SignatureRefused` as API Gateway refuses."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureRefused("Forbidden")
    credential, signed_headers, signature = _parse_authorization(authorization)
    access_key, scope = _parse_credential(credential)
    amz_date = headers.get("x-amz-date")
    if amz_date is None:
        raise SignatureRefused(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            "IncompleteSignatureException",
        )
    if access_key != DEV_ACCESS_KEY:
        raise SignatureRefused("The security token included in the request is invalid.", "UnrecognizedClientException")
    signed_at = _parse_date(amz_date)
    _check_clock(signed_at, now or datetime.now(UTC))
    if scope != [amz_date[:8], DEV_REGION, SERVICE, "aws4_request"]:
        raise SignatureRefused(
            f"Credential should be scoped to a valid region and to service '{SERVICE}', dated {amz_date[:8]}: "
            f"{'/'.join(scope)}",
            "InvalidSignatureException",
        )
    names = signed_headers.split(";")
    if "host" not in names or any(name not in headers for name in names):
        raise SignatureRefused(_MISMATCH, "InvalidSignatureException")
    expected = _signature(request, {name: headers[name] for name in names}, amz_date)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureRefused(_MISMATCH, "InvalidSignatureException")
    return iam_identity(access_key)


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    credentials: Credentials | ReadOnlyCredentials | None = None,
    region: str = DEV_REGION,
) -> dict[str, str]:
    """The headers of `method url` signed for `execute-api` (the development credentials by
    default): what `tidings admin` and a platform's backend send."""
    if credentials is None:
        credentials = Credentials(DEV_ACCESS_KEY, DEV_SECRET_KEY)
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())


def _signature(request: SignedRequest, signed: dict[str, str], amz_date: str) -> str:
    """botocore's signature over the canonical request made of exactly the signed headers."""
    received = AWSRequest(method=request.method, url=request.url, data=request.body, headers=signed)
    received.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(DEV_ACCESS_KEY, DEV_SECRET_KEY), SERVICE, DEV_REGION)
    canonical = signer.canonical_request(received)
    return str(signer.signature(signer.string_to_sign(received, canonical), received))


def _parse_authorization(header: str) -> tuple[str, str, str]:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != _ALGORITHM:
        raise SignatureRefused(
            f"Authorization header requires the {_ALGORITHM} algorithm.", "IncompleteSignatureException"
        )
    parts = dict(
        (key.strip(), value.strip())
        for key, _, value in (part.partition("=") for part in rest.split(","))
        if key.strip()
    )
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise SignatureRefused(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing),
            "IncompleteSignatureException",
        )
    return parts["Credential"], parts["SignedHeaders"], parts["Signature"]


def _parse_credential(credential: str) -> tuple[str, list[str]]:
    access_key, _, scope = credential.partition("/")
    return access_key, scope.split("/")


def _parse_date(amz_date: str) -> datetime:
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
        raise SignatureRefused(f"Date must be in ISO-8601 'basic format': {amz_date}", "IncompleteSignatureException")
    return datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)


def _check_clock(signed_at: datetime, now: datetime) -> None:
    stamp, clock = signed_at.strftime(SIGV4_TIMESTAMP), now.strftime(SIGV4_TIMESTAMP)
    if signed_at < now - CLOCK_SKEW:
        earliest = (now - CLOCK_SKEW).strftime(SIGV4_TIMESTAMP)
        raise SignatureRefused(
            f"Signature expired: {stamp} is now earlier than {earliest} ({clock} - 5 min.)",
            "InvalidSignatureException",
        )
    if signed_at > now + CLOCK_SKEW:
        latest = (now + CLOCK_SKEW).strftime(SIGV4_TIMESTAMP)
        raise SignatureRefused(
            f"Signature not yet current: {stamp} is still later than {latest} ({clock} + 5 min.)",
            "InvalidSignatureException",
        )
