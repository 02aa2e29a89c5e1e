"""A handler that imports the standard library's typing, and gets the folder's instead."""

from typing import Any


def handler(event: Any, context: Any) -> None:
    return None
