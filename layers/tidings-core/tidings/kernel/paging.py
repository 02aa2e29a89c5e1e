"""Reading a DynamoDB Query a page at a time, across invocations."""

from typing import Any

# Where a page ended (the Query's LastEvaluatedKey, as PynamoDB returns it): the next page
# starts after it. A job that pages through a user's items carries it to its continuation.
Cursor = dict[str, Any]
