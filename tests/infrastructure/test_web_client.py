"""The web client on S3 + CloudFront (web_client.py): only with `-c tidings:webClient=true`, a
private encrypted bucket read through Origin Access Control, HTTPS only, the client and the SDK
deployed from the repository with a generated config.json, and its URL as an output. The real
application is synthesized with cdk-nag on, so every finding is handled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.synthesis import Synthesized
from tidings.chats.models import USERS
from tidings.kernel.declaration import Application, Authorizer, Function, Route
from tidings.sessions.models import CONNECTIONS
from tidings_infra import names
from tidings_infra.app import build_app
from tidings_infra.web_client import CONTEXT_WEB_CLIENT, OUTPUT_WEB_CLIENT_URL, web_client_enabled


@pytest.fixture(scope="module")
def with_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path, Any]]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(context={CONTEXT_WEB_CLIENT: "true"}, outdir=str(outdir))
    template = app.synth().get_stack_artifact(stack.artifact_id).template
    yield json.loads(json.dumps(template)), outdir, stack


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def _only(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = _of_type(template, resource_type)
    assert len(found) == 1, f"{resource_type}: {list(found)}"
    return next(iter(found.items()))


def _logical_id(stack: Any, construct: Any) -> str:
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))


def test_off_by_default(synthesized: Synthesized) -> None:
    assert synthesized.stack.web_client is None
    assert not synthesized.of_type("AWS::CloudFront::Distribution")
    # The declared buckets (attachments) and their access log bucket only.
    assert all(bucket.startswith(names.BUCKETS_CONSTRUCT) for bucket in synthesized.of_type("AWS::S3::Bucket"))
    assert not synthesized.of_type("Custom::CDKBucketDeployment")
    assert OUTPUT_WEB_CLIENT_URL not in synthesized.template.to_json().get("Outputs", {})


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (None, False),
        (False, False),
        ("false", False),
        ("0", False),
        (True, True),
        ("true", True),
        ("TRUE", True),
        ("1", True),
    ],
)
def test_the_flag_takes_what_cdk_json_and_dash_c_give(value: Any, enabled: bool) -> None:
    assert web_client_enabled(value) is enabled


def test_a_flag_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(ValueError, match="tidings:webClient must be true or false"):
        web_client_enabled("sometimes")


def test_the_bucket_is_private_encrypted_and_tls_only(with_client) -> None:
    template, _, stack = with_client
    assets = _logical_id(stack, stack.web_client.bucket)
    bucket = template["Resources"][assets]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": _logical_id(stack, stack.web_client.logs)}
    policy = next(
        p["Properties"]["PolicyDocument"]
        for p in _of_type(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": assets}
    )
    statements = policy["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    allows = [s for s in statements if s["Effect"] == "Allow"]
    # Only CloudFront, and only for this distribution (Origin Access Control), may read it.
    assert len(allows) == 1
    assert allows[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allows[0]["Action"] == "s3:GetObject"
    distribution = _logical_id(stack, stack.web_client.distribution)
    source_arn = json.dumps(allows[0]["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert distribution in source_arn


def test_cloudfront_serves_it_over_https_only_through_origin_access_control(with_client) -> None:
    template, _, stack = with_client
    _, distribution = _only(template, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    [origin] = config["Origins"]
    oac_id, oac = _only(template, "AWS::CloudFront::OriginAccessControl")
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert oac["Properties"]["OriginAccessControlConfig"]["OriginAccessControlOriginType"] == "s3"
    assert config["Logging"]["Bucket"] == {
        "Fn::GetAtt": [_logical_id(stack, stack.web_client.logs), "RegionalDomainName"]
    }
    headers_id, headers = _only(template, "AWS::CloudFront::ResponseHeadersPolicy")
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": headers_id}
    security = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"


def test_the_client_and_the_sdk_are_deployed_with_a_generated_config(with_client) -> None:
    template, outdir, stack = with_client
    deployments = _of_type(template, "Custom::CDKBucketDeployment")
    assert len(deployments) == 2
    by_prefix = {d["Properties"].get("DestinationBucketKeyPrefix", ""): d["Properties"] for d in deployments.values()}
    client, sdk = by_prefix[""], by_prefix["sdk/"]
    assets = {"Ref": _logical_id(stack, stack.web_client.bucket)}
    assert client["DestinationBucketName"] == sdk["DestinationBucketName"] == assets
    assert client["Prune"] is True and client["Exclude"] == ["sdk/*"]  # the client's prune spares the SDK
    assert client["SystemMetadata"]["cache-control"] == sdk["SystemMetadata"]["cache-control"] == "no-cache"
    assert client["DistributionPaths"] == ["/*"]

    # config.json: its values are the stack's own API URLs, filled in at deploy time.
    markers = json.dumps(client["SourceMarkers"])
    assert _logical_id(stack, stack.websocket.api) in markers
    assert _logical_id(stack, stack.http_api.api) in markers

    # The zipped folders: the client without its README, package.json and tests; the SDK's src.
    staged = {path.name: path for path in outdir.glob("asset.*") if path.is_dir()}
    client_dir = next(path for path in staged.values() if (path / "index.html").exists())
    sdk_dir = next(path for path in staged.values() if (path / "client.js").exists())
    assert (client_dir / "app" / "main.js").exists()
    assert not (client_dir / "README.md").exists()
    assert not (client_dir / "package.json").exists()
    assert not (client_dir / "test").exists()
    assert (sdk_dir / "index.js").exists()


def test_the_url_is_an_output(with_client) -> None:
    template, _, stack = with_client
    output = template["Outputs"][OUTPUT_WEB_CLIENT_URL]
    distribution = _logical_id(stack, stack.web_client.distribution)
    assert output["Value"] == {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}, "/"]]}


def test_it_needs_the_http_api(tmp_path: Path) -> None:
    gate = Function("Gate", "sessions", "authorizer.handler", "authorizes $connect", tables=((USERS, "read"),))
    hello = Function("Hello", "sessions", "connect.handler", "stores connections", tables=((CONNECTIONS, "write"),))
    no_http = Application(
        name="NoHttp",
        tables=(CONNECTIONS, USERS),
        functions=(gate, hello),
        authorizer=Authorizer(gate),
        routes=(Route("$connect", hello, two_way=False),),
    )
    with pytest.raises(ValueError, match="needs the HTTP API"):
        build_app(
            application=no_http,
            context={CONTEXT_WEB_CLIENT: "true", names.CONTEXT_MANAGE_APIGW_ACCOUNT: "false"},
            nag=False,
            outdir=str(tmp_path),
        )
