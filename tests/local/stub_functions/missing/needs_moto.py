"""A handler that imports a package the layers do not carry (it is installed for the tests)."""

import moto  # noqa: F401


def handler(event, context):
    return None
