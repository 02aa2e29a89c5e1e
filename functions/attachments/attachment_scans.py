"""The scan of each upload, driven by the files bucket's S3 `ObjectCreated` events (asynchronous
invocations): each object's verdict, the infected deleted, the uploader told. A scan without a
verdict fails the invocation, and Lambda retries it (twice, then the on-failure queue)."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.attachments import compose as attachments
from tidings.attachments.declaration import ATTACHMENT_SCAN
from tidings.attachments.scanning import ScanService, Uploader
from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry
from tidings.kernel.observability import logger, metrics
from tidings.sessions import compose as sessions


@cold_start(ATTACHMENT_SCAN)
def _scans(environment: Environment) -> ScanService:
    uploader = Uploader(
        connections_api.poster(environment),
        sessions.connection_store(environment),
        connections_api.delivery_retries(environment),
    )
    return attachments.scanning(environment, uploader=uploader)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    failed: list[str] = []
    for record in S3Event(event).records:
        key = record.s3.get_object.key
        try:
            verdict = _scans().object_created(key)
        except Exception:
            logger.exception("attachment scan failed", extra={"key": key})
            failed.append(key)
            continue
        if verdict is not None:
            metrics.add_metric(name=f"AttachmentsScanned.{verdict}", unit="Count", value=1)
    if failed:
        metrics.add_metric(name="AttachmentScansFailed", unit="Count", value=len(failed))
        raise RuntimeError(f"no verdict for {len(failed)} upload(s): {', '.join(failed)}")
