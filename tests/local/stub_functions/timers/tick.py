"""Stub scheduled function (the runtime records its events)."""


def handler(event, context):
    return None
