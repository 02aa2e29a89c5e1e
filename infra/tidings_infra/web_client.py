"""The web client (`clients/web/`) as static assets: S3 behind CloudFront, behind a context flag.

    npx cdk deploy -c tidings:webClient=true

- a private bucket (S3-managed encryption, every public access blocked, TLS-only policy) that
  only this distribution may read, through Origin Access Control;
- a CloudFront distribution that serves it over HTTPS only (plain HTTP is refused), with
  security headers, and `index.html` at `/`;
- two `BucketDeployment`s from the repository's folders (`Source.asset`: a zip made at synth,
  no Docker): the client at the root, the JavaScript SDK it imports under `sdk/` (the same
  layout `tidings dev` serves), plus a generated `config.json` naming this stack's WebSocket
  and HTTP API URLs (resolved at deploy time);
- a log bucket for CloudFront's and S3's access logs;
- the `WebClientUrl` output.

Files are served with `Cache-Control: no-cache` (the client's modules are not renamed per
build, so browsers revalidate them) and every deployment invalidates the distribution.

The HTTP API must accept the distribution's origin (`tidings:corsAllowedOrigins`, `*` by
default) since the client calls it from that origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from tidings_infra.nag import acknowledge, acknowledge_wildcard_resource

CONTEXT_WEB_CLIENT = "tidings:webClient"
OUTPUT_WEB_CLIENT_URL = "WebClientUrl"

REPOSITORY = Path(__file__).resolve().parents[2]
WEB_CLIENT_DIR = REPOSITORY / "clients" / "web"
SDK_DIR = REPOSITORY / "clients" / "js" / "src"
SDK_PREFIX = "sdk/"
# What clients/web holds besides the client itself: never uploaded.
NOT_DEPLOYED = ["README.md", "package.json", "test", "node_modules", ".*"]
LOG_RETENTION_DAYS = 90
HSTS_SECONDS = 2 * 365 * 24 * 3600


def web_client_enabled(value: Any) -> bool:
    """The `tidings:webClient` context value: true/false (a bool, or the string `-c` gives)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{CONTEXT_WEB_CLIENT} must be true or false, not {value!r}")


def add_web_client(
    stack: Stack, *, websocket_url: str, http_api_url: str | None, removal_policy: RemovalPolicy
) -> WebClientConstruct | None:
    """The web client, if the `tidings:webClient` context flag asks for it (off by default)."""
    if not web_client_enabled(stack.node.try_get_context(CONTEXT_WEB_CLIENT)):
        return None
    if http_api_url is None:
        raise ValueError(f"{CONTEXT_WEB_CLIENT} needs the HTTP API, and the application declares no HTTP routes")
    return WebClientConstruct(
        stack, "WebClient", websocket_url=websocket_url, http_api_url=http_api_url, removal_policy=removal_policy
    )


class WebClientConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        websocket_url: str,
        http_api_url: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.logs = self._private_bucket(
            "AccessLogs",
            # CloudFront's standard logs are written with an ACL, so this bucket takes them.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(LOG_RETENTION_DAYS))],
            removal_policy=removal_policy,
        )
        self.bucket = self._private_bucket(
            "Assets",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.logs,
            server_access_logs_prefix="s3/",
            removal_policy=removal_policy,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Tidings web client",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self._security_headers(),
                compress=True,
            ),
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.logs,
            log_file_prefix="cloudfront/",
        )
        acknowledge(
            self.distribution,
            "The web client is public static files (the same for everyone; every API call it makes is "
            "authenticated by the APIs themselves): no geographic restriction and no WAF in front of it. "
            "Add either to the distribution if your users or policy need them.",
            "AwsSolutions-CFR1",
            "AwsSolutions-CFR2",
        )
        acknowledge(
            self.distribution,
            "The distribution uses CloudFront's default *.cloudfront.net certificate, whose viewer "
            "security policy CloudFront fixes (TLSv1); TLSv1.2_2021 is set and applies as soon as a "
            "custom domain and ACM certificate are added.",
            "AwsSolutions-CFR4",
        )

        config = {"webSocketUrl": websocket_url, "apiUrl": http_api_url}
        no_cache = [s3deploy.CacheControl.no_cache()]
        # The folders as zip assets (made at synth, no Docker), uploaded to CDK's asset bucket.
        client_files = s3_assets.Asset(self, "ClientFiles", path=str(WEB_CLIENT_DIR), exclude=NOT_DEPLOYED)
        sdk_files = s3_assets.Asset(self, "SdkFiles", path=str(SDK_DIR))
        s3deploy.BucketDeployment(
            self,
            "DeployClient",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.bucket(client_files.bucket, client_files.s3_object_key),
                s3deploy.Source.json_data("config.json", config),
            ],
            exclude=[f"{SDK_PREFIX}*"],  # pruning leaves the SDK (the other deployment's) alone
            cache_control=no_cache,
            distribution=self.distribution,
            distribution_paths=["/*"],
        )
        sdk = s3deploy.BucketDeployment(
            self,
            "DeploySdk",
            destination_bucket=self.bucket,
            destination_key_prefix=SDK_PREFIX,
            sources=[s3deploy.Source.bucket(sdk_files.bucket, sdk_files.s3_object_key)],
            cache_control=no_cache,
            distribution=self.distribution,
            distribution_paths=[f"/{SDK_PREFIX}*"],
        )
        self._acknowledge_deployment_handler(sdk, client_files.bucket)

        self.url = f"https://{self.distribution.distribution_domain_name}/"
        CfnOutput(
            Stack.of(self),
            OUTPUT_WEB_CLIENT_URL,
            value=self.url,
            description="The web client (open it with ?token=<JWT>)",
        )

    def _private_bucket(self, construct_id: str, **props: Any) -> s3.Bucket:
        """S3-managed encryption, every public access blocked, TLS only."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            **props,
        )

    def _acknowledge_deployment_handler(self, deployment: s3deploy.BucketDeployment, assets: s3.IBucket) -> None:
        """The findings on CDK's own upload function (one per stack, shared by both deployments):
        its code, runtime, role and policy are aws-cdk-lib's, and it runs only while deploying."""
        handler = deployment.handler_role.node.scope
        assert handler is not None
        role = deployment.handler_role
        acknowledge(
            handler,
            "CDK's BucketDeployment function (aws-cdk-lib's code, runtime and basic execution role) runs "
            "only during a deployment, synchronously, as a CloudFormation custom resource that reports "
            "its own failures: no newer runtime to choose, nothing to trace, no asynchronous event to "
            "lose to a dead-letter queue.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "AwsSolutions-L1",
            "Serverless-LambdaLatestVersion",
            "Serverless-LambdaTracing",
            "Serverless-LambdaDLQ",
        )
        acknowledge(
            role,
            "CDK's grants for copying files: read (s3:GetObject*, GetBucket*, List*) on the asset bucket, "
            "read and write (with DeleteObject* and Abort* for pruning and multipart uploads) on the web "
            "client's bucket only.",
            *(
                f"AwsSolutions-IAM5[Action::{action}]"
                for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*")
            ),
        )
        acknowledge_wildcard_resource(
            role,
            f"{self.bucket.bucket_arn}/*",
            "The objects of the web client's own bucket, which the deployment replaces.",
        )
        acknowledge_wildcard_resource(
            role, f"{assets.bucket_arn}/*", "The zipped web client in CDK's asset bucket, which the deployment reads."
        )
        acknowledge_wildcard_resource(
            role, "*", "CloudFront's CreateInvalidation and GetInvalidation, granted by CDK on every distribution."
        )

    def _security_headers(self) -> cloudfront.ResponseHeadersPolicy:
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Tidings web client: HSTS, nosniff, no framing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_SECONDS), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
        )
