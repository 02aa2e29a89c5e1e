"""Resources are created from the real declaration: tables from the PynamoDB models, plus the
declared streams, TTL, queues and secrets; and the demo data is the documented one (docs/protocol.md)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tidings.app import APPLICATION
from tidings.chats.models import ChatModel, DmPairModel, MemberModel, UserModel, dm_pair_key
from tidings.messaging.declaration import DELIVERY_FAILURES
from tidings.messaging.models import MESSAGES
from tidings.sessions.declaration import JWT_SIGNING_KEY
from tidings.sessions.models import CONNECTIONS
from tidings_local.aws import LocalAws, Provisioned
from tidings_local.demo import load_demo_data


@pytest.fixture
def provisioned() -> Iterator[Provisioned]:
    aws = LocalAws(APPLICATION, {JWT_SIGNING_KEY.id: "a-local-signing-key-of-at-least-32-bytes"})
    try:
        yield aws.start()
    finally:
        aws.stop()


def test_every_declared_table_queue_and_secret_exists(provisioned: Provisioned) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(t.default_name for t in APPLICATION.tables)
    for table in APPLICATION.tables:
        assert provisioned.environment[table.env_var] == table.default_name

    for table in APPLICATION.tables:
        described = dynamodb.describe_table(TableName=table.default_name)["Table"]
        if table.stream:
            assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": table.stream}
            assert provisioned.stream_arns[table.id] == described["LatestStreamArn"]
        else:
            assert table.id not in provisioned.stream_arns
    assert MESSAGES.stream == "NEW_AND_OLD_IMAGES"
    connections = dynamodb.describe_table(TableName=CONNECTIONS.default_name)["Table"]
    assert [i["IndexName"] for i in connections["GlobalSecondaryIndexes"]] == ["byUser"]
    ttl = dynamodb.describe_time_to_live(TableName=CONNECTIONS.default_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}

    assert provisioned.environment[DELIVERY_FAILURES.env_var] == provisioned.queue_urls[DELIVERY_FAILURES.id]
    secret = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(
        SecretId=provisioned.environment[JWT_SIGNING_KEY.env_var]
    )
    assert secret["Name"] == "tidings/jwt-signing-key"
    assert secret["SecretString"] == "a-local-signing-key-of-at-least-32-bytes"


def test_demo_data_is_protocol_section_12(provisioned: Provisioned) -> None:
    load_demo_data()
    assert {u.user_id: u.display_name for u in UserModel.scan()} == {
        "alice": "Alice",
        "bob": "Bob",
        "carol": "Carol",
        "dave": "Dave",
        "erin": "Erin",
    }
    # The Chats table also holds the DM's pair record (no `type`), so `POST /api/chats` finds it.
    chats = {c.chat_id: (c.chat_type, c.name, c.head_seq) for c in ChatModel.scan() if c.chat_type}
    assert chats == {
        "dm-alice-bob": ("dm", None, 0),
        "project-x": ("group", "Project X", 0),
        "general": ("channel", "general", 0),
    }
    assert DmPairModel.get(dm_pair_key("bob", "alice")).dm_chat_id == "dm-alice-bob"
    roles = {m.user_id: m.role for m in MemberModel.query("project-x")}
    assert roles == {"alice": "admin", "bob": "member", "carol": "member"}
    assert {m.user_id: m.role for m in MemberModel.query("dm-alice-bob")} == {"alice": "member", "bob": "member"}
    assert len(list(MemberModel.query("general"))) == 5


def test_the_runtime_generates_a_vapid_key_pair_per_run_and_leaves_fcm_and_apns_unconfigured() -> None:
    from tidings.notifications.declaration import PUSH_APNS, PUSH_FCM, PUSH_VAPID
    from tidings.notifications.vapid import VapidConfig
    from tidings_local.runtime import _default_secret_values

    first, second = _default_secret_values(), _default_secret_values()
    assert VapidConfig.from_secret(first[PUSH_VAPID.id]) is not None
    assert first[PUSH_VAPID.id] != second[PUSH_VAPID.id], "a fresh key pair each run"
    aws = LocalAws(APPLICATION, first)
    try:
        provisioned = aws.start()
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        for declared in (PUSH_FCM, PUSH_APNS):
            value = secrets.get_secret_value(SecretId=provisioned.environment[declared.env_var])["SecretString"]
            assert value == "{}", "the placeholder: not configured locally"
        vapid = secrets.get_secret_value(SecretId=provisioned.environment[PUSH_VAPID.env_var])["SecretString"]
        assert vapid == first[PUSH_VAPID.id]
    finally:
        aws.stop()
