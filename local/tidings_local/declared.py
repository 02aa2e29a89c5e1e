"""The application declaration, as the local runtime reads it: the one module of this package
that imports the declaration's vocabulary, and the two things the declaration does not say yet.

Everything else in `tidings_local` imports the vocabulary from here, so when the declaration
moves (to `tidings.kernel.declaration`) the import below is the only line to change.

Until the declaration provides them, two equivalents live here, each behind one function and
each a copy of what the CDK app does (`infra/tidings_infra/functions.py`); tests hold them equal
(`tests/infrastructure/test_local_parity.py`):

- `function_environment(function, names)`: the exact environment CDK gives a function
  (`FunctionsConstruct._environment`). Switch: `from tidings.kernel.declaration import
  function_environment`.
- `TABLE_ACTIONS`: the DynamoDB actions each table access level grants (`_TABLE_ACTIONS`).
  Switch: `from tidings.kernel.declaration import TABLE_ACTIONS`.
"""

from __future__ import annotations

from typing import Protocol

from tidings.declaration import (
    Access,
    Application,
    Function,
    HttpRoute,
    Queue,
    QueueSubscription,
    Route,
    Schedule,
    SearchIndex,
    Secret,
    StreamSubscription,
    Table,
)
from tidings_infra.packaging import CALLBACK_URL_ENV, COMMON_ENVIRONMENT, SEARCH_ENGINE_ENV, SEARCH_INDEX_ENV

__all__ = [
    "TABLE_ACTIONS",
    "Access",
    "Application",
    "Function",
    "HttpRoute",
    "PhysicalNames",
    "Queue",
    "QueueSubscription",
    "Route",
    "Schedule",
    "SearchIndex",
    "Secret",
    "StreamSubscription",
    "Table",
    "function_environment",
]


class PhysicalNames(Protocol):
    """Where the declared resources are: what CDK knows after it has created them."""

    def table_name(self, table: Table) -> str: ...
    def secret_arn(self, secret: Secret) -> str: ...
    def queue_url(self, queue: Queue) -> str: ...
    def callback_url(self) -> str: ...
    def search_endpoint(self, index: SearchIndex) -> str: ...


# --- to be replaced by the declaration's own `function_environment` ----------------------------


def function_environment(function: Function, names: PhysicalNames) -> dict[str, str]:
    """The environment CDK sets on `function` (a copy of `FunctionsConstruct._environment`)."""
    environment = dict(COMMON_ENVIRONMENT)

    def put(key: str, value: str) -> None:
        if key in environment:
            raise ValueError(f"function {function.id}: environment variable {key} is set twice")
        environment[key] = value

    for table, _ in function.tables:
        put(table.env_var, names.table_name(table))
    for secret in function.secrets:
        put(secret.env_var, names.secret_arn(secret))
    for queue in function.send_queues:
        put(queue.env_var, names.queue_url(queue))
    if function.manages_connections:
        put(CALLBACK_URL_ENV, names.callback_url())
    for index, _ in function.search:
        put(index.env_var, names.search_endpoint(index))
        put(SEARCH_ENGINE_ENV, "opensearch")
        put(SEARCH_INDEX_ENV, index.index_name)
    return environment


# --- to be replaced by the declaration's own `TABLE_ACTIONS` -----------------------------------

# Explicit lists rather than "read data": those include Scan, and nothing in Tidings may Scan.
_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
TABLE_ACTIONS: dict[Access, tuple[str, ...]] = {
    "read": ("dynamodb:DescribeTable", *_READ_ACTIONS),
    "write": ("dynamodb:DescribeTable", "dynamodb:ConditionCheckItem", *_WRITE_ACTIONS),
    "read_write": ("dynamodb:DescribeTable", *_READ_ACTIONS, *_WRITE_ACTIONS),
}
