"""The base of every table's model: one botocore session for all of them.

PynamoDB gives each model class a connection of its own, and each connection makes its own
botocore session: every table a function touches loads botocore's endpoint rules and DynamoDB's
service model again at its first call (about 85 ms of CPU each at a Lambda cold start, and as
much for every table `tidings dev` provisions). A known limitation (pynamodb/PynamoDB#876,
#1245). Models deriving from `TableModel` keep PynamoDB's connection per table (its schema, the
table name bound at cold start) but share the sessions: one per thread, as PynamoDB keeps them,
because creating clients from one botocore session is not thread-safe.
"""

from __future__ import annotations

import threading

from pynamodb.connection import TableConnection
from pynamodb.models import Model

_SESSIONS = threading.local()  # what `Connection._local` holds: the thread's botocore session


class TableModel(Model):
    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        # A model with credentials of its own keeps a session of its own (PynamoDB sets them on it).
        if table.connection._local is not _SESSIONS and getattr(cls.Meta, "aws_access_key_id", None) is None:
            table.connection._local = _SESSIONS
        return table
