"""A user's erasure: `DELETE /admin/users/{userId}` (an IAM-authorized HTTP API event) and the
erasure worker driven by the SQS events of its queue, on moto. Everything the user left is
checked gone, and the worker is made to die mid-way and to get its jobs twice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.test_admin_api import call, get_user, put_user
from tests.support.aws import stream_records
from tests.support.events import authorizer_event, http_event, sqs_event
from tests.support.lambdas import LambdaContext, load_function
from tests.support.seed import make_chat
from tests.support.services import chat_event_service, message_service, search_service
from tidings.admin import erasure
from tidings.admin.declaration import ERASURE_JOBS
from tidings.admin.wire import ErasureResponse, UserResponse
from tidings.attachments.models import AttachmentModel
from tidings.attachments.scanning import EICAR
from tidings.chats.membership import PLATFORM, dm_chat_id
from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.kernel.environment import ColdStart
from tidings.messaging.chat_events import MessageErasure
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage
from tidings.notifications.models import PushSubscriptionModel
from tidings.presence.models import PresenceModel, PresenceSubscriptionModel
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.models import RefreshTokenModel
from tidings.sessions.tokens import issue_token

DM = dm_chat_id("alice", "bob")
# project-x: alice's two messages, bob's, then the three reactions: seq 6 is the last before.
REACTIONS_SEQ = 6


@pytest.fixture(scope="module")
def functions():
    return {
        "api": load_function("admin/admin_api.py"),
        "worker": load_function("admin/erasure_worker.py"),
        "indexer": load_function("search/index_consumer.py"),
        "authorizer": load_function("sessions/authorizer.py"),
        "auth_api": load_function("sessions/auth_api.py"),
    }


class World:
    """Alice (to be erased) and Bob share a group and a DM; alice has a connection, a session,
    a push subscription, presence and presence subscriptions both ways."""

    def __init__(self, functions, context) -> None:
        self.functions, self.context = functions, context
        self.api = functions["api"]
        self.sent: list[str] = []  # alice's messages
        self.keys: dict[str, tuple[str, int]] = {}  # each message's chat and seq
        self.bobs = ""  # bob's message, which alice reacted to

    def send(self, sender: str, chat_id: str, content: str) -> str:
        message = message_service().send(sender, SendMessage(request_id=content, chat_id=chat_id, content=content))
        self.keys[message.message_id] = (chat_id, message.seq)
        return message.message_id

    def delete(self, user_id: str) -> tuple[int, Any]:
        return call(
            self.api, self.context, "DELETE", "/admin/users/{userId}", f"/admin/users/{user_id}", userId=user_id
        )

    def session(self, user_id: str) -> tuple[int, Any]:
        return call(self.api, self.context, "POST", "/admin/sessions", "/admin/sessions", body={"userId": user_id})

    def export(self, user_id: str) -> tuple[int, Any]:
        path = f"/admin/users/{user_id}/export"
        return call(self.api, self.context, "GET", "/admin/users/{userId}/export", path, userId=user_id)

    def authorize(self, token: str) -> str:
        response = self.functions["authorizer"].handler(authorizer_event(header=f"Bearer {token}"), self.context)
        return str(response["policyDocument"]["Statement"][0]["Effect"])

    def index(self) -> None:
        response = self.functions["indexer"].handler(
            {"Records": stream_records(MessageModel.Meta.table_name)}, self.context
        )
        assert response == {"batchItemFailures": []}

    def run_erasure(self, *, deliveries: int = 1, on_job: Callable[[dict[str, Any]], None] = lambda body: None) -> int:
        """Feeds the queue's jobs to the worker until none is left, each `deliveries` times (as
        SQS may deliver a job more than once); a job the worker reports failed is left on the
        queue and comes again. Returns how many jobs it ran."""
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName="erasure-jobs")["QueueUrl"]
        ran = 0
        for _ in range(1000):  # delivered twice, each stage doubles the jobs: 2^8 by the last
            received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0)
            messages = received.get("Messages", [])
            if not messages:
                return ran
            [message] = messages
            on_job(json.loads(message["Body"]))
            for _ in range(deliveries):
                ran += 1
                response = self.functions["worker"].handler(sqs_event([message["Body"]]), self.context)
                if response["batchItemFailures"]:
                    break
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError("the erasure did not finish")


@pytest.fixture
def world(functions, context, connections, frozen_rate_limits, tmp_path: Path, monkeypatch) -> World:
    monkeypatch.setenv("SEARCH_DB_PATH", str(tmp_path / "search.db"))
    ColdStart.forget_all()
    make_chat("project-x", ["alice", "bob"], admins=("alice",))
    make_chat(DM, ["alice", "bob"], chat_type="dm")
    world = World(functions, context)
    assert put_user(world.api, context, "alice", {"displayName": "Alice", "email": "alice@example.com"})[0] == 200
    world.sent = [
        world.send("alice", "project-x", "budget draft from alice"),
        world.send("alice", "project-x", "budget final from alice"),
        world.send("alice", DM, "budget secret from alice"),
    ]
    world.bobs = world.send("bob", "project-x", "budget reply from bob")
    for emoji in ("👍", "🎉"):
        chat_event_service().react("alice", f"react-{emoji}", world.bobs, emoji, "add")
    chat_event_service().react("bob", "react-bob", world.bobs, "👍", "add")
    world.index()
    PushSubscriptionModel(
        "alice", "sub-1", platform="webpush", endpoint="https://push.example/1", created_at="2026-11-25T00:00:00.000Z"
    ).save()
    PresenceModel("alice", status="online").save()
    PresenceSubscriptionModel("bob", "alice", expires_at=timedelta(minutes=10)).save()  # alice watches bob
    PresenceSubscriptionModel("alice", "bob", expires_at=timedelta(minutes=10)).save()  # bob watches alice
    DynamoConnectionStore().add("conn-alice=", "alice", int(time.time() * 1000) - 60_000, int(time.time()) + 900)
    return world


def delete_events(chat_id: str) -> list[MessageModel]:
    return [item for item in MessageModel.query(chat_id) if item.kind == "delete"]


def reaction_removals() -> list[MessageModel]:
    """Reaction events made after the erasure began (the erasure's removals)."""
    return [i for i in MessageModel.query("project-x") if i.kind == "reaction" and int(i.seq) > REACTIONS_SEQ]


def leave_events(chat_id: str) -> list[MessageModel]:
    return [item for item in MessageModel.query(chat_id) if item.kind == "member_left"]


def searched(user_id: str, query: str) -> list[str]:
    results = search_service().search(user_id, query, scope="messages").results
    return [result["message"]["messageId"] for result in results if result["type"] == "message"]


def test_delete_is_202_at_once_and_the_erasure_leaves_nothing_of_the_user(world, connections, signing_key):
    session = world.session("alice")[1]
    assert set(world.sent) < set(searched("bob", "budget"))
    status, answer = world.delete("alice")
    assert (status, answer) == (202, {"userId": "alice", "erasure": "started"})
    ErasureResponse.model_validate(answer)

    # While it runs: the user is there, marked; no session, no export, no new profile.
    status, running = get_user(world.api, world.context, "alice")
    assert (status, running["erasure"]) == (200, "running")
    UserResponse.model_validate(running)
    assert world.session("alice")[0] == 409
    assert world.export("alice")[0] == 409
    assert put_user(world.api, world.context, "alice", {"displayName": "Alice"})[0] == 409

    assert world.run_erasure() >= len(erasure.STAGES)

    # Every message she sent: erased through the delete path, one `delete` event each.
    for message_id in world.sent:
        message = MessageModel.get(*world.keys[message_id])
        assert message.deleted and message.content is None
        assert (message.sender_id, message.sender_name) == ("alice", "alice")  # her name is gone too
    deletes = delete_events("project-x") + delete_events(DM)
    assert sorted(event.message_id for event in deletes) == sorted(world.sent)
    assert {event.sender_id for event in deletes} == {PLATFORM.actor_id}
    bobs = MessageModel.get(*world.keys[world.bobs])
    assert (bobs.content, bobs.deleted) == ("budget reply from bob", False)
    # Her reactions on bob's message are removed, each a reaction event; bob's stays.
    assert bobs.reactions.as_dict().keys() == {"👍\x1fbob"}
    assert len(reaction_removals()) == 2
    # She left every chat, the DM too, each with a `member_left` event; bob is still in both.
    assert [event.subject_id for event in leave_events("project-x") + leave_events(DM)] == ["alice", "alice"]
    assert MemberModel.count("project-x", MemberModel.user_id == "alice") == 0
    assert MemberModel.count(DM, MemberModel.user_id == "alice") == 0
    assert MemberModel.count(DM, MemberModel.user_id == "bob") == 1
    # Her connection was closed with its reason first; sessions, push and presence are gone.
    assert connections.closed == ["conn-alice="]
    assert json.loads(connections.sent["conn-alice="][-1])["payload"]["code"] == "UNAUTHORIZED"
    assert list(RefreshTokenModel.by_user.query("alice")) == []
    refresh = world.functions["auth_api"].handler(
        http_event("POST", "/api/auth/refresh", body={"refreshToken": session["refreshToken"]}), world.context
    )
    assert refresh["statusCode"] == 401
    assert PushSubscriptionModel.count("alice") == 0
    assert PresenceModel.count("alice") == 0
    assert PresenceSubscriptionModel.count("alice") == 0 and PresenceSubscriptionModel.count("bob") == 0
    # Search finds bob's message and none of hers.
    hits = searched("bob", "budget")
    assert len(hits) == 1 and not set(hits) & set(world.sent)

    # The profile: a tombstone, answered 404 everywhere; a DELETE again is harmless.
    tombstone = UserModel.get("alice")
    assert (tombstone.erasure, tombstone.display_name, tombstone.email) == ("erased", "alice", None)
    status, missing = get_user(world.api, world.context, "alice")
    assert (status, missing["error"]["code"]) == (404, "NOT_FOUND")
    assert world.export("alice")[0] == 404
    assert world.session("alice")[0] == 404
    assert world.delete("alice") == (202, {"userId": "alice", "erasure": "completed"})
    assert world.run_erasure() == 0


def test_an_unknown_user_is_404_naming_it(world):
    status, answer = world.delete("nobody")
    assert status == 404
    assert answer["error"]["code"] == "NOT_FOUND" and "'nobody'" in answer["error"]["message"]
    assert world.run_erasure() == 0


def test_a_delete_while_the_erasure_runs_is_202_and_queues_it_again_harmlessly(world):
    assert world.delete("alice")[1]["erasure"] == "started"
    assert world.delete("alice") == (202, {"userId": "alice", "erasure": "running"})
    world.run_erasure()  # two chains, from the start each
    assert sorted(event.message_id for event in delete_events("project-x") + delete_events(DM)) == sorted(world.sent)
    assert len(leave_events("project-x")) == len(leave_events(DM)) == 1


def test_every_token_of_an_erasing_user_is_refused_however_new(world, signing_key):
    world.delete("alice")
    time.sleep(1.1)  # tokens count in whole seconds
    # Issued after the erasure began (after `revokedBefore`): refused for the erasure itself,
    # while bob's, issued at the same moment, is let through.
    token, bobs = issue_token("alice", signing_key), issue_token("bob", signing_key)
    assert world.authorize(bobs) == "Allow"
    assert world.authorize(token) == "Deny"
    world.run_erasure()
    assert world.authorize(token) == "Deny"


def test_an_erased_id_may_be_provisioned_again_and_the_old_tokens_stay_refused(world, signing_key):
    old = issue_token("alice", signing_key, now=time.time() - 5)
    world.delete("alice")
    world.run_erasure()
    assert put_user(world.api, world.context, "alice", {"displayName": "Alice II"}) == (
        201,
        {"user": {"userId": "alice", "displayName": "Alice II"}},
    )
    assert get_user(world.api, world.context, "alice")[0] == 200
    assert UserModel.get("alice").total_unread == 0
    assert world.authorize(old) == "Deny"
    time.sleep(1.1)  # tokens count in whole seconds
    assert world.authorize(issue_token("alice", signing_key)) == "Allow"
    # A job of the old erasure arriving late erases nothing of the new user.
    boto3.client("sqs").send_message(
        QueueUrl=boto3.client("sqs").get_queue_url(QueueName="erasure-jobs")["QueueUrl"],
        MessageBody=json.dumps({"userId": "alice", "stage": "profile", "cursor": None}),
    )
    world.run_erasure()
    assert get_user(world.api, world.context, "alice")[1]["user"]["displayName"] == "Alice II"


def test_a_job_that_dies_mid_way_resumes_from_its_cursor_and_does_nothing_twice(world, monkeypatch):
    monkeypatch.setattr(erasure, "MESSAGE_PAGE", 1)  # a page per message: three pages
    erase = MessageErasure.erase
    calls: list[tuple[str, int]] = []

    def dies_on_the_second_page(self, chat_id: str, seq: int) -> int | None:
        calls.append((chat_id, seq))
        if len(calls) == 2:
            raise ConnectionError("DynamoDB went away")
        return erase(self, chat_id, seq)

    monkeypatch.setattr(MessageErasure, "erase", dies_on_the_second_page)
    cursors: list[Any] = []
    world.delete("alice")
    world.run_erasure(on_job=lambda body: cursors.append((body["stage"], body["cursor"])))

    # The failed job came again with the cursor it had: after the first page, not the start.
    messages_jobs = [cursor for stage, cursor in cursors if stage == "messages"]
    assert messages_jobs[0] is None and messages_jobs[1] is not None and messages_jobs[1] == messages_jobs[2]
    assert len(calls) == 4  # pages 1, 2 (died), 2 again, 3
    deletes = delete_events("project-x") + delete_events(DM)
    assert sorted(event.message_id for event in deletes) == sorted(world.sent)  # one each
    assert get_user(world.api, world.context, "alice")[0] == 404


def test_jobs_delivered_twice_do_nothing_twice(world):
    heads = {chat_id: int(ChatModel.get(chat_id).head_seq) for chat_id in ("project-x", DM)}
    world.delete("alice")
    world.run_erasure(deliveries=2)
    deletes = delete_events("project-x") + delete_events(DM)
    assert sorted(event.message_id for event in deletes) == sorted(world.sent)
    assert len(leave_events("project-x")) == len(leave_events(DM)) == 1
    # Each chat's log grew by exactly its deletes, the reaction removals and the one leave.
    assert int(ChatModel.get("project-x").head_seq) == heads["project-x"] + 2 + 2 + 1  # with two reactions removed
    assert len(reaction_removals()) == 2
    assert int(ChatModel.get(DM).head_seq) == heads[DM] + 1 + 1
    assert get_user(world.api, world.context, "alice")[0] == 404


def test_a_malformed_job_is_reported_failed_for_the_dead_letter_queue(functions, context, connections):
    response = functions["worker"].handler(sqs_event(['{"userId": "alice", "stage": "nope"}']), context)
    assert len(response["batchItemFailures"]) == 1
    assert ERASURE_JOBS.dead_letter_after is not None


def test_the_erasure_answers_in_the_lambda_context_time(world, monkeypatch):
    """A worker with time left runs several stages in one job; with none, one step per job."""
    world.delete("alice")
    roomy = LambdaContext(remaining_ms=600_000)
    world.context = roomy
    assert world.run_erasure() == 1
    assert get_user(world.api, world.context, "alice")[0] == 404


def test_the_erasure_deletes_every_upload_of_the_user_sent_or_never_sent(world, signing_key, monkeypatch):
    from tests.integration import test_attachments as uploads

    monkeypatch.setenv("ATTACHMENTS_SCANNER", "eicar")
    api, scans = load_function("attachments/attachments_api.py"), load_function("attachments/attachment_scans.py")
    sender = load_function("messaging/message_send.py")
    alice, bob = issue_token("alice", signing_key), issue_token("bob", signing_key)
    sent = uploads.clean_upload(api, scans, world.context, alice)
    assert uploads.send(sender, world.context, "alice", [sent])["status"] == "ok"
    unsent = uploads.clean_upload(api, scans, world.context, alice)
    infected = uploads.clean_upload(api, scans, world.context, alice, data=EICAR)
    never_uploaded = uploads.request_upload(api, world.context, alice, uploads.BODY)[1]["attachmentId"]
    bobs = uploads.clean_upload(api, scans, world.context, bob)
    s3, bucket = boto3.client("s3"), uploads.bucket()
    s3.head_object(Bucket=bucket, Key=f"uploads/{unsent}")  # there before the erasure

    assert world.delete("alice")[0] == 202
    world.run_erasure()

    for attachment_id in (sent, unsent, infected, never_uploaded):
        with pytest.raises(AttachmentModel.DoesNotExist):
            AttachmentModel.get(attachment_id)
        with pytest.raises(s3.exceptions.ClientError, match="404"):
            s3.head_object(Bucket=bucket, Key=f"uploads/{attachment_id}")
    assert list(AttachmentModel.by_uploader.query("alice")) == []
    assert AttachmentModel.get(bobs).status == "clean", "bob's upload is his"
    s3.head_object(Bucket=bucket, Key=f"uploads/{bobs}")
