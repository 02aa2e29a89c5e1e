"""Stub SQS consumer: reports messages whose body is `fail` as failed."""


def handler(event, context):
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]}
