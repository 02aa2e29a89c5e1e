"""Stub stream consumer: reports each record as its `behaviour` attribute says."""

import time

_failed_once: set[str] = set()  # per execution environment: the retry runs in the same warm one


def handler(event, context):
    records = event["Records"]
    failures = []
    for record in records:
        behaviour = record["dynamodb"]["NewImage"]["behaviour"]["S"]
        sequence = record["dynamodb"]["SequenceNumber"]
        if behaviour == "slow":
            time.sleep(3)
        if behaviour == "raise":
            raise RuntimeError("the consumer broke")
        if behaviour == "fail-always" or (behaviour == "fail-once" and sequence not in _failed_once):
            _failed_once.add(sequence)
            failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}
