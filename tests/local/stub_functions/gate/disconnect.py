"""Stub $disconnect: records the event."""

EVENTS: list[dict] = []


def handler(event, context):
    EVENTS.append(event)
    return {"statusCode": 200}
