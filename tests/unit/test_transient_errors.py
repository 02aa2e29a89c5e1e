"""Which AWS errors count as transient (the client may retry the same request shortly)."""

from __future__ import annotations

from botocore.exceptions import ClientError
from pynamodb.exceptions import CancellationReason, PutError, TransactWriteError, VerboseClientError

from tidings.kernel.errors import transient_aws_error


def client_error(code: str, operation: str = "PutItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "…"}}, operation)


def test_throttling_and_service_faults_are_transient_through_every_wrapper():
    assert transient_aws_error(client_error("ProvisionedThroughputExceededException"))
    assert transient_aws_error(client_error("ThrottlingException"))
    assert transient_aws_error(PutError("Failed to put item", cause=client_error("InternalServerError")))
    try:
        try:
            raise client_error("RequestLimitExceeded")
        except ClientError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert transient_aws_error(outer)


def test_a_cancelled_transaction_is_transient_only_when_a_reason_is():
    def cancelled(*codes: str | None) -> TransactWriteError:
        error = VerboseClientError(
            {"Error": {"Code": "TransactionCanceledException", "Message": "…"}},
            "TransactWriteItems",
            cancellation_reasons=[CancellationReason(code=code) if code else None for code in codes],
        )
        return TransactWriteError("Failed to write transaction items", cause=error)

    assert transient_aws_error(cancelled(None, "TransactionConflict"))
    assert not transient_aws_error(cancelled("ConditionalCheckFailed", None))


def test_mistakes_are_not_transient():
    assert not transient_aws_error(client_error("ValidationException"))
    assert not transient_aws_error(client_error("ResourceNotFoundException"))
    assert not transient_aws_error(ValueError("bad"))
