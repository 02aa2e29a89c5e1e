"""`tidings dev --data DIR`: the local state, kept across restarts.

Without `--data` everything lives in moto's memory and a temporary search database, and is gone
when the runtime stops. With it, DIR holds:

- `state.json`: every table's items (DynamoDB JSON, as Scan returns them), the messages waiting
  in every queue (their bodies, and when each is due: a timer keeps its time), and the secrets' values (the JWT signing
  key and the VAPID key pair, so refresh tokens and Web Push subscriptions stay valid);
- `search.db`: the embedded search index (SQLite, written in place by the functions);
- `objects/<bucket>/<sha256 of the key>`: every object of the declared buckets (the uploaded
  files), their keys and content types listed in `state.json`.

A snapshot is taken under the moto lock, so it is one moment (never half of a transaction),
within `SNAPSHOT_SECONDS` of a write and once more when the runtime stops; it is written to a
temporary file and renamed, so a crash leaves the previous snapshot whole.

A restart is what a deployment's sockets see when API Gateway drops them all: the connections
are gone. So the connection tables are not restored, and whoever was online is offline, seen
last when the snapshot was taken.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tidings.kernel.declaration import Application, Table
from tidings.presence.models import PRESENCE, PresenceModel
from tidings.sessions.models import CONNECTIONS, USER_CONNECTIONS
from tidings_local.aws import ACCOUNT_ID, queue_name_of, region, resource_name, secret_name
from tidings_local.moto_patches import moto_lock, peek_queue

FORMAT_VERSION = 1
SNAPSHOT_SECONDS = 2.0  # how long a write may wait to be on disk
SQS_MAX_DELAY_SECONDS = 900
_BATCH_WRITE_MAX = 25  # BatchWriteItem takes at most 25 requests
# Items that describe open WebSocket connections: none survives a restart.
_CONNECTION_TABLES = frozenset({CONNECTIONS.id, USER_CONNECTIONS.id})


class DataDirError(Exception):
    """The data directory cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class State:
    tables: dict[str, list[dict[str, Any]]]  # table id -> items
    queues: dict[str, list[dict[str, Any]]]  # queue name -> messages
    secrets: dict[str, str]  # secret id -> value
    objects: dict[str, list[StoredObject]] = field(default_factory=dict)  # bucket id -> its objects


@dataclass(frozen=True)
class StoredObject:
    key: str
    content_type: str
    body: bytes


class DataDir:
    """The files of one `--data DIR`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state_file = path / "state.json"
        self.search_db = path / "search.db"
        self.objects_dir = path / "objects"

    def prepare(self) -> None:
        """Creates DIR if needed, and fails early with a clear message if it cannot be used."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"cannot create the data directory {self.path}: {exc.strerror}") from exc
        if not os.access(self.path, os.W_OK):
            raise DataDirError(f"the data directory {self.path} is not writable")
        self.load()  # a corrupt or foreign state.json fails now, not after the runtime started

    def is_empty(self) -> bool:
        return not self.state_file.exists()

    def load(self) -> State | None:
        if not self.state_file.exists():
            return None
        try:
            document = json.loads(self.state_file.read_text(encoding="utf-8"))
            if document.get("version") != FORMAT_VERSION:
                raise ValueError(f"format version {document.get('version')!r}, expected {FORMAT_VERSION}")
            objects = {
                bucket_id: [
                    StoredObject(
                        entry["key"], entry["contentType"], self._body_path(bucket_id, entry["key"]).read_bytes()
                    )
                    for entry in entries
                ]
                for bucket_id, entries in document.get("objects", {}).items()
            }
            return State(document["tables"], document["queues"], document["secrets"], objects)
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            raise DataDirError(
                f"{self.state_file} is not a Tidings state file ({exc}); move it away to start empty"
            ) from exc

    def _body_path(self, bucket_id: str, key: str) -> Path:
        return self.objects_dir / bucket_id / hashlib.sha256(key.encode()).hexdigest()

    def save(self, state: State) -> None:
        """The bodies first, then `state.json` that lists them (a crash between the two leaves
        the previous listing, whose bodies are all still there); then the bodies no one lists."""
        listed: set[Path] = set()
        for bucket_id, stored in state.objects.items():
            for item in stored:
                path = self._body_path(bucket_id, item.key)
                listed.add(path)
                if not path.exists() or path.read_bytes() != item.body:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.with_suffix(".partial").write_bytes(item.body)
                    path.with_suffix(".partial").replace(path)
        objects = {
            bucket_id: [{"key": item.key, "contentType": item.content_type} for item in stored]
            for bucket_id, stored in state.objects.items()
        }
        document = {
            "version": FORMAT_VERSION,
            "tables": state.tables,
            "queues": state.queues,
            "secrets": state.secrets,
            "objects": objects,
        }
        partial = self.state_file.with_suffix(".json.partial")
        with partial.open("w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        partial.replace(self.state_file)
        if self.objects_dir.exists():
            for path in self.objects_dir.glob("*/*"):
                if path not in listed:
                    path.unlink()


# --- reading the state out of moto, and writing it back ----------------------------------------


def capture(application: Application) -> State:
    """Everything there is now, under the moto lock (the in-process calls below re-enter it)."""
    dynamodb = boto3.client("dynamodb", region_name=region())
    sqs = boto3.client("sqs", region_name=region())
    secretsmanager = boto3.client("secretsmanager", region_name=region())
    s3 = boto3.client("s3", region_name=region())
    with moto_lock():
        tables = {
            table.id: [_portable(item) for item in _scan(dynamodb, table.default_name)]
            for table in application.tables
            if table.id not in _CONNECTION_TABLES
        }
        queues = {
            name: [{"body": m["body"], "dueAt": m["dueAt"]} for m in peek_queue(name, ACCOUNT_ID, region())]
            for name in map(queue_name_of, sqs.list_queues().get("QueueUrls", []))
        }
        secrets = {
            secret.id: secretsmanager.get_secret_value(SecretId=secret_name(application, secret))["SecretString"]
            for secret in application.secrets
        }
        objects = {
            bucket.id: list(_objects(s3, resource_name(application, bucket.id))) for bucket in application.buckets
        }
    return State(tables, {name: messages for name, messages in queues.items() if messages}, secrets, objects)


def _objects(s3: Any, bucket: str) -> Iterator[StoredObject]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=entry["Key"])
            yield StoredObject(entry["Key"], got.get("ContentType", "binary/octet-stream"), got["Body"].read())


def restore(application: Application, state: State) -> None:
    """Writes `state` into freshly provisioned tables, queues and buckets (secrets are given to the
    runtime before it creates them). Runs before the stream pollers open, which start at the
    streams' LATEST position: restoring is state, not events, and delivers nothing."""
    dynamodb = boto3.client("dynamodb", region_name=region())
    sqs = boto3.client("sqs", region_name=region())
    by_id = {table.id: table for table in application.tables}
    now = time.time()
    for table_id, items in state.tables.items():
        table = by_id.get(table_id)
        if table is None or table_id in _CONNECTION_TABLES:
            continue  # a table this version no longer declares
        for start in range(0, len(items), _BATCH_WRITE_MAX):
            requests = [
                {"PutRequest": {"Item": _restored(table, _native(item), now)}}
                for item in items[start : start + _BATCH_WRITE_MAX]
            ]
            _batch_write(dynamodb, table.default_name, requests)
    for name, messages in state.queues.items():
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            continue
        for message in messages:
            sqs.send_message(
                QueueUrl=url,
                MessageBody=message["body"],
                DelaySeconds=min(SQS_MAX_DELAY_SECONDS, max(0, round(message["dueAt"] - now))),
            )
    s3 = boto3.client("s3", region_name=region())
    buckets = {bucket.id: resource_name(application, bucket.id) for bucket in application.buckets}
    for bucket_id, stored in state.objects.items():
        if bucket_id in buckets:  # a bucket this version still declares
            for item in stored:
                s3.put_object(Bucket=buckets[bucket_id], Key=item.key, Body=item.body, ContentType=item.content_type)


def _scan(dynamodb: Any, table_name: str) -> Iterator[dict[str, Any]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name):
        yield from page["Items"]


def _batch_write(dynamodb: Any, table_name: str, requests: list[dict[str, Any]]) -> None:
    pending = {table_name: requests}
    while pending:
        pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _restored(table: Table, item: dict[str, Any], now: float) -> dict[str, Any]:
    """A presence item as the restart left it: no open connection, so offline since `now`."""
    if table.id != PRESENCE.id:
        return item
    connections = PresenceModel.connection_ids.attr_name
    if not item.get(connections):
        return item
    restored = {
        key: value
        for key, value in item.items()
        if key not in (connections, PresenceModel.idle_chain.attr_name, PresenceModel.pending_status.attr_name)
    }
    restored[PresenceModel.status.attr_name] = {"S": "offline"}
    restored[PresenceModel.idle.attr_name] = {"BOOL": False}
    restored[PresenceModel.last_seen.attr_name] = {"N": repr(now)}
    return restored


# Binary values are bytes in boto3's DynamoDB JSON; in the file they are base64, as on the wire.
def _portable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: _portable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_portable(item) for item in value]
    return value


def _native(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {key: _native(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_native(item) for item in value]
    return value
