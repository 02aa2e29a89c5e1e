"""Every table's model shares the thread's botocore session (`tidings.kernel.table_model`)."""

from __future__ import annotations

import threading

import pytest
from pynamodb.attributes import UnicodeAttribute

from tidings.app import APPLICATION
from tidings.kernel.declaration import TableMeta
from tidings.kernel.table_model import TableModel


@pytest.mark.parametrize("table", APPLICATION.tables, ids=lambda table: table.id)
def test_every_tables_model_derives_from_the_shared_session_base(table):
    assert issubclass(table.model, TableModel), f"{table.model.__name__} would load botocore's models again"


def _session_of(model: type[TableModel]):
    return model._get_connection().connection.session


def test_two_tables_models_use_one_botocore_session_per_thread(aws):
    users, messages = (table.model for table in APPLICATION.tables if table.id in ("Users", "Messages"))
    assert _session_of(users) is _session_of(messages)

    other_thread: list[object] = []
    worker = threading.Thread(target=lambda: other_thread.append(_session_of(users)))
    worker.start()
    worker.join()
    assert other_thread[0] is not _session_of(users), "botocore sessions are not thread-safe: one per thread"


def test_a_model_with_credentials_of_its_own_keeps_its_own_session(aws):
    class Keyed(TableModel):
        class Meta(TableMeta):
            table_name = "keyed"
            aws_access_key_id = "AKIDKEYED"
            aws_secret_access_key = "secret"

        key = UnicodeAttribute(hash_key=True)

    users = next(table.model for table in APPLICATION.tables if table.id == "Users")
    keyed = _session_of(Keyed)
    assert keyed is not _session_of(users)
    assert keyed.get_credentials().access_key == "AKIDKEYED"
