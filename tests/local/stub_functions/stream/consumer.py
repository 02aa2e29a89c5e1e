"""Stub stream consumer: reports each record as its `behaviour` attribute says."""

INVOCATIONS: list[list[int]] = []  # the `sk` of every record, per invocation
_failed_once: set[str] = set()


def handler(event, context):
    records = event["Records"]
    INVOCATIONS.append([int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in records])
    failures = []
    for record in records:
        behaviour = record["dynamodb"]["NewImage"]["behaviour"]["S"]
        sequence = record["dynamodb"]["SequenceNumber"]
        if behaviour == "raise":
            raise RuntimeError("the consumer broke")
        if behaviour == "fail-always" or (behaviour == "fail-once" and sequence not in _failed_once):
            _failed_once.add(sequence)
            failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}
