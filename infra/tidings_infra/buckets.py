"""S3 buckets: one per declared `Bucket`, private and reached only through presigned URLs and
the declared functions' grants."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from tidings.kernel.declaration import Bucket
from tidings_infra import names
from tidings_infra.cors import cors_allowed_origins
from tidings_infra.nag import acknowledge

S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
# A presigned POST is a browser form: its fields, the file, and S3's answer (an ETag header).
_UPLOAD_CORS_HEADERS = ["*"]
_UPLOAD_CORS_MAX_AGE_SECONDS = 3600
# A download is a page's fetch of `GET /api/attachments/{id}` followed through its 302 to a
# presigned GET (the web client shows images as blob URLs). A page served from another origin
# than the API's (a deployment) reaches S3 with `Origin: null` after that redirect, so no list
# of origins could match; the presigned URL is the credential, and any origin may read it.
_DOWNLOAD_CORS_ORIGINS = ["*"]


class BucketsConstruct(Construct):
    """Each declared bucket: encrypted (SSE-S3), every public access blocked, TLS only, ACLs
    disabled (the bucket owner owns every object), a lifecycle rule that expires objects under
    the bucket's `expiring_prefix` and aborts incomplete multipart uploads, CORS for browser
    POSTs and downloads where declared, and server access logs into a bucket of their own."""

    def __init__(
        self, scope: Construct, construct_id: str, *, buckets: Sequence[Bucket], removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        # Log delivery is allowed by the log bucket's policy, not the legacy LogDeliveryWrite ACL
        # (cfn-lint W3045; ACLs stay disabled). Set here, before any child reads the flag.
        self.node.set_context(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, True)
        self.buckets: dict[str, s3.Bucket] = {}
        self._logs: s3.Bucket | None = None
        for declared in buckets:
            self.buckets[declared.id] = self._bucket(declared, removal_policy)

    def bucket(self, declared: Bucket) -> s3.Bucket:
        return self.buckets[declared.id]

    def _access_logs(self, removal_policy: RemovalPolicy) -> s3.Bucket:
        if self._logs is None:
            self._logs = s3.Bucket(
                self,
                "AccessLogs",
                encryption=s3.BucketEncryption.S3_MANAGED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
                removal_policy=removal_policy,
            )
            acknowledge(
                self._logs,
                "This is the server access log bucket of the files buckets; logging its own access "
                "would log the log writes.",
                "AwsSolutions-S1",
            )
        return self._logs

    def _bucket(self, declared: Bucket, removal_policy: RemovalPolicy) -> s3.Bucket:
        rules = [
            s3.LifecycleRule(id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=Duration.days(1))
        ]
        if declared.expiring_prefix is not None:
            rules.append(
                s3.LifecycleRule(
                    id="ExpireUnsentUploads",
                    prefix=declared.expiring_prefix,
                    tag_filters=dict([declared.expiring_tag]) if declared.expiring_tag else None,
                    expiration=Duration.days(declared.expire_after_days),
                )
            )
        cors = None
        if declared.browser_uploads:
            cors = [
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=cors_allowed_origins(self.node.try_get_context(names.CONTEXT_CORS_ALLOWED_ORIGINS)),
                    allowed_headers=_UPLOAD_CORS_HEADERS,
                    exposed_headers=["ETag"],
                    max_age=_UPLOAD_CORS_MAX_AGE_SECONDS,
                ),
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                    allowed_origins=_DOWNLOAD_CORS_ORIGINS,
                    max_age=_UPLOAD_CORS_MAX_AGE_SECONDS,
                ),
            ]
        return s3.Bucket(
            self,
            declared.id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=rules,
            cors=cors,
            server_access_logs_bucket=self._access_logs(removal_policy),
            server_access_logs_prefix=f"{declared.id}/",
            removal_policy=removal_policy,
        )
