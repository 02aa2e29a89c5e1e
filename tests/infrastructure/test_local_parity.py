"""`tidings dev` gives each function what CDK gives it: the same environment and, per table
access level, the same DynamoDB actions. The local runtime keeps its own copy of both (it must
not import CDK: `tidings_local.declared`), so these tests hold the copies equal."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.infrastructure.synthesis import Synthesized
from tidings.app import APPLICATION
from tidings.declaration import Function, Queue, SearchIndex, Secret, Table
from tidings_infra.functions import _TABLE_ACTIONS
from tidings_local.declared import TABLE_ACTIONS, function_environment


@dataclass(frozen=True)
class _CdkNames:
    """Where CDK puts each resource, as the tokens it synthesizes."""

    synthesized: Synthesized

    def table_name(self, table: Table) -> str:
        return self.synthesized.stack.tables.table(table).table_name

    def secret_arn(self, secret: Secret) -> str:
        return self.synthesized.stack.secrets.secret(secret).secret_arn

    def queue_url(self, queue: Queue) -> str:
        return self.synthesized.stack.queues.queue(queue).queue_url

    def callback_url(self) -> str:
        return self.synthesized.stack.websocket.stage.callback_url

    def search_endpoint(self, index: SearchIndex) -> str:
        return self.synthesized.stack.search.endpoint(index)


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_the_local_environment_of_a_function_is_the_one_cdk_synthesizes(
    synthesized: Synthesized, function: Function
) -> None:
    stack = synthesized.stack
    resource = synthesized.resources[synthesized.logical_id(stack.functions.function(function))]
    local = stack.resolve(function_environment(function, _CdkNames(synthesized)))
    assert local == resource["Properties"]["Environment"]["Variables"]


def test_the_local_iam_roles_grant_the_table_actions_cdk_grants() -> None:
    assert TABLE_ACTIONS == _TABLE_ACTIONS
