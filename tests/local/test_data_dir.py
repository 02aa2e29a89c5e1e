"""`--data DIR`: what a snapshot takes from moto and what a restore puts back, on the real
declaration: items exactly (binary values included), queue messages with their due times, the
secrets; and what a restart cannot keep (open connections, who was online)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from tidings.app import APPLICATION
from tidings.attachments.declaration import ATTACHMENT_FILES
from tidings.messaging.declaration import TYPING_TIMERS
from tidings.presence.models import PresenceModel
from tidings.sessions.declaration import JWT_SIGNING_KEY
from tidings.sessions.models import ConnectionModel
from tidings_local.aws import ACCOUNT_ID, LocalAws, queue_names
from tidings_local.data_dir import DataDir, DataDirError, State, capture, restore
from tidings_local.demo import load_demo_data
from tidings_local.moto_patches import seconds_until_visible

KEY = "a-local-signing-key-of-at-least-32-bytes"
FILE_KEY = "uploads/a file"
FILE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _snapshot_of_a_busy_runtime() -> State:
    aws = LocalAws(APPLICATION, {JWT_SIGNING_KEY.id: KEY})
    provisioned = aws.start()
    try:
        load_demo_data()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.put_item(
            TableName="tidings-users",
            Item={"userId": {"S": "zed"}, "displayName": {"S": "Zed"}, "blob": {"B": b"\x00\xff"}},
        )
        hour = timedelta(hours=1)
        ConnectionModel("conn-1", user_id="alice", connected_at=1, token_expires_at=2, expires_at=hour).save()
        PresenceModel("alice", status="online", connection_ids={"conn-1"}, last_active_at=time.time()).save()
        boto3.client("sqs", region_name="us-east-1").send_message(
            QueueUrl=provisioned.queue_urls[TYPING_TIMERS.id], MessageBody='{"timer": 1}', DelaySeconds=60
        )
        boto3.client("s3", region_name="us-east-1").put_object(
            Bucket=provisioned.bucket_names[ATTACHMENT_FILES.id], Key=FILE_KEY, Body=FILE, ContentType="image/png"
        )
        return capture(APPLICATION)
    finally:
        aws.stop()


@pytest.fixture(scope="module")
def snapshot() -> State:
    return _snapshot_of_a_busy_runtime()


def test_a_restore_puts_back_every_item_and_queued_message_with_its_due_time(snapshot: State) -> None:
    aws = LocalAws(APPLICATION, snapshot.secrets)
    aws.start()
    try:
        restore(APPLICATION, snapshot)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        zed = dynamodb.get_item(TableName="tidings-users", Key={"userId": {"S": "zed"}})["Item"]
        assert zed["blob"] == {"B": b"\x00\xff"}
        chats = dynamodb.scan(TableName="tidings-chats")["Items"]
        assert {chat["chatId"]["S"] for chat in chats if "type" in chat} == {"dm-alice-bob", "project-x", "general"}
        assert {"dm-pair#alice#bob"} <= {chat["chatId"]["S"] for chat in chats}  # the DM's pair record too
        secret = boto3.client("secretsmanager", region_name="us-east-1").list_secrets()["SecretList"]
        assert len(secret) == len(APPLICATION.secrets)
        name, _ = queue_names(APPLICATION, TYPING_TIMERS)
        # Still a timer: due in about a minute, not now.
        assert 50 < seconds_until_visible(name, ACCOUNT_ID, "us-east-1") <= 61
    finally:
        aws.stop()


def test_uploaded_files_survive_the_directory_and_a_restore(tmp_path: Path, snapshot: State) -> None:
    data = DataDir(tmp_path / "data")
    data.prepare()
    data.save(snapshot)
    loaded = data.load()
    assert loaded is not None
    aws = LocalAws(APPLICATION, loaded.secrets)
    provisioned = aws.start()
    try:
        restore(APPLICATION, loaded)
        got = boto3.client("s3", region_name="us-east-1").get_object(
            Bucket=provisioned.bucket_names[ATTACHMENT_FILES.id], Key=FILE_KEY
        )
        assert got["Body"].read() == FILE
        assert got["ContentType"] == "image/png"
    finally:
        aws.stop()
    data.save(State(loaded.tables, loaded.queues, loaded.secrets, {}))
    assert not list(data.objects_dir.glob("*/*")), "a deleted object's body goes with the next snapshot"


def test_a_restart_has_no_open_connection_and_whoever_was_online_is_offline(snapshot: State) -> None:
    assert "Connections" not in snapshot.tables
    aws = LocalAws(APPLICATION, snapshot.secrets)
    aws.start()
    try:
        before = time.time()
        restore(APPLICATION, snapshot)
        assert list(ConnectionModel.scan()) == []
        alice = PresenceModel.get("alice")
        assert alice.status == "offline" and not alice.connection_ids
        assert alice.last_seen is not None and alice.last_seen >= before
    finally:
        aws.stop()


def test_a_snapshot_survives_the_file_and_keeps_the_secrets(tmp_path: Path, snapshot: State) -> None:
    data = DataDir(tmp_path / "data")
    data.prepare()
    assert data.is_empty()
    data.save(snapshot)
    assert not data.is_empty()
    assert not list(data.path.glob("*.partial"))  # written whole, then renamed
    loaded = data.load()
    assert loaded is not None
    assert loaded.secrets[JWT_SIGNING_KEY.id] == KEY
    assert loaded.tables.keys() == snapshot.tables.keys()


@pytest.mark.parametrize("content", ["not json", '{"version": 99, "tables": {}, "queues": {}, "secrets": {}}', "[]"])
def test_a_file_that_is_not_a_state_file_is_refused_with_what_to_do(tmp_path: Path, content: str) -> None:
    (tmp_path / "state.json").write_text(content)
    with pytest.raises(DataDirError, match="move it away"):
        DataDir(tmp_path).prepare()


def test_a_data_directory_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DataDirError, match="cannot create the data directory"):
        DataDir(tmp_path / "file" / "data").prepare()


def test_the_banner_says_where_the_state_is_kept(tmp_path: Path) -> None:
    from tidings_local.cli import _banner

    assert "lost when tidings dev stops" in _banner("http://127.0.0.1:8080", [], seed=None)
    fresh = _banner("http://127.0.0.1:8080", [], seed=None, data_dir=tmp_path, restored=False)
    assert f"kept in {tmp_path} (empty: a fresh start)" in fresh
    restored = _banner("http://127.0.0.1:8080", [], seed=None, data_dir=tmp_path, restored=True)
    assert f"kept in {tmp_path} (restored from it)" in restored and "lost when" not in restored
