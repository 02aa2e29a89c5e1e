"""Stub $connect: refuses with the status in `?refuse=STATUS`."""

EVENTS: list[dict] = []


def handler(event, context):
    EVENTS.append(event)
    refuse = (event.get("queryStringParameters") or {}).get("refuse")
    return {"statusCode": int(refuse) if refuse else 200}
