"""Stub scheduled function: records its events."""

EVENTS: list[dict] = []


def handler(event, context):
    EVENTS.append(event)
