"""Stub SQS consumer: reports messages whose body is `fail` as failed."""

EVENTS: list[dict] = []


def handler(event, context):
    EVENTS.append(event)
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]}
