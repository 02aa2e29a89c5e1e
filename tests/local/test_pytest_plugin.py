"""The pytest plugin a project tests its integration with (`tidings_local.pytest_plugin`): the
README's example, run by pytest as an outside project runs it; a runtime started from a seed
file with faults; an in-process runtime that shares the test's `mock_aws()`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tidings.chats.models import USERS
from tidings_local.pytest_plugin import Tidings, start_in_process, start_tidings

pytest_plugins = ["pytester"]

README = Path(__file__).parents[2] / "README.md"

SEED = {
    "users": [{"userId": "zed", "displayName": "Zed", "email": "zed@example.com"}],
    "chats": [{"chatId": "zed-notes", "type": "group", "name": "Notes", "members": ["zed"]}],
}
FAULT = "connections:429:user=zed:count=1"


def readme_example() -> str:
    """The first Python block of the README's "Test your integration" section."""
    section = README.read_text().split("## Test your integration", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's 'Test your integration' section has no Python block"
    return match.group(1)


@pytest.mark.timeout(600)  # a pytest process that starts tidings dev; the bound of a failure on a loaded machine
def test_the_readmes_example_passes_in_a_project_of_its_own(pytester: pytest.Pytester) -> None:
    # A new process in an empty directory: the fixtures come from the installed entry point
    # alone, with pytest-asyncio's default (strict) mode, as in a developer's project.
    pytester.makepyfile(test_tidings_integration=readme_example())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", timeout=600)
    result.assert_outcomes(passed=1)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tidings]:
    seed = tmp_path_factory.mktemp("seed") / "seed.json"
    seed.write_text(json.dumps(SEED))
    running = start_tidings(seed=seed, faults=[FAULT], log_name="tidings-dev-plugin")
    yield running
    assert running.stop() == 0


@pytest.mark.timeout(300)  # the module's tidings dev starts in this test's setup
def test_a_runtime_from_a_seed_file_has_its_users_and_not_the_demo(seeded: Tidings) -> None:
    assert seeded.admin.get_user("zed")["user"] == {"userId": "zed", "displayName": "Zed", "email": "zed@example.com"}
    assert seeded.token("zed")
    with pytest.raises(Exception, match="404"):
        seeded.admin.get_user("alice")  # no --demo unless asked for


async def test_the_fault_specs_it_started_with_fire_and_more_can_be_added_and_cleared(seeded: Tidings) -> None:
    assert seeded.faults.active() == [{"rule": FAULT, "fired": 0, "remaining": 1}]
    zed = seeded.client("zed")
    try:
        await zed.connect()
        sent = await zed.send("zed-notes", "to self")
        # The post of this frame to zed's connection was refused once (429); boto3 retried it.
        await zed.wait_for("message.new", lambda frame: frame["payload"]["message"]["messageId"] == sent["messageId"])
    finally:
        await zed.close()
    assert seeded.faults.active() == [{"rule": FAULT, "fired": 1, "remaining": 0}]

    assert [rule["rule"] for rule in seeded.faults.add("search:down")] == ["search:down"]
    assert len(seeded.faults.active()) == 2
    with pytest.raises(ValueError, match="nosuch"):
        seeded.faults.add("nosuch:down")
    seeded.faults.clear()
    assert seeded.faults.active() == []


@pytest.mark.timeout(300)  # starts the whole runtime in this process
def test_an_in_process_runtime_writes_into_the_tests_own_mock_aws() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="my-app-orders",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="my-app-orders", Item={"id": {"S": "o-1"}})

        with start_in_process(seed=SEED) as running:
            # Written by the administration API's function, in its own worker process.
            running.admin.put_user("zed", "Zed Updated")
            item = dynamodb.get_item(TableName=USERS.default_name, Key={"userId": {"S": "zed"}})["Item"]
            assert item["displayName"] == {"S": "Zed Updated"}

        assert dynamodb.get_item(TableName="my-app-orders", Key={"id": {"S": "o-1"}})["Item"]  # ours survived
