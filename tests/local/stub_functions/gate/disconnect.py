"""Stub $disconnect: answers 200 (the runtime records its events)."""


def handler(event, context):
    return {"statusCode": 200}
