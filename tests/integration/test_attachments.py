"""Attachments on moto: upload forms (`POST /api/chats/{chatId}/attachments`), downloads
(`GET /api/attachments/{attachmentId}`) and the scan of each upload (S3 ObjectCreated events)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from tests.support.events import http_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.attachments.declaration import ATTACHMENT_FILES
from tidings.attachments.models import AttachmentModel
from tidings.attachments.scanning import EICAR
from tidings.sessions.models import UserConnectionsModel
from tidings.sessions.tokens import issue_token

UPLOAD_ROUTE = "POST /api/chats/{chatId}/attachments"
DOWNLOAD_ROUTE = "GET /api/attachments/{attachmentId}"


@pytest.fixture(scope="module")
def api():
    return load_function("attachments/attachments_api.py")


@pytest.fixture(scope="module")
def scans():
    return load_function("attachments/attachment_scans.py")


@pytest.fixture
def tokens(connections, signing_key, monkeypatch):
    monkeypatch.setenv("ATTACHMENTS_SCANNER", "eicar")
    make_chat("project-x", ["alice", "bob"])
    make_chat("elsewhere", ["carol"])
    return {user: issue_token(user, signing_key) for user in ("alice", "bob", "carol")}


def request_upload(api, context, token, body, chat_id="project-x"):
    event = http_event(
        "POST",
        f"/api/chats/{chat_id}/attachments",
        route_key=UPLOAD_ROUTE,
        token=token,
        path_parameters={"chatId": chat_id},
        body=body,
    )
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def download(api, context, token, attachment_id):
    event = http_event(
        "GET",
        f"/api/attachments/{attachment_id}",
        route_key=DOWNLOAD_ROUTE,
        token=token,
        path_parameters={"attachmentId": attachment_id},
    )
    return api.handler(event, context)


def bucket() -> str:
    return os.environ[ATTACHMENT_FILES.env_var]


def upload(ticket: dict, data: bytes) -> str:
    """The object as S3 stores a POSTed form (moto does not evaluate POST policies)."""
    key = ticket["upload"]["fields"]["key"]
    content_type = ticket["upload"]["fields"]["Content-Type"]
    boto3.client("s3").put_object(Bucket=bucket(), Key=key, Body=data, ContentType=content_type)
    return key


def s3_event(key: str) -> dict:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-12-02T07:00:00.000Z",
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket(), "arn": f"arn:aws:s3:::{bucket()}"},
                    "object": {"key": key, "size": 1, "eTag": "0", "sequencer": "0"},
                },
            }
        ]
    }


def policy_of(ticket: dict) -> dict:
    return json.loads(base64.b64decode(ticket["upload"]["fields"]["policy"]))


BODY = {"name": "plan.pdf", "size": 11, "contentType": "application/pdf"}


def test_the_upload_form_pins_the_key_the_content_type_and_the_exact_size(api, context, tokens):
    status, ticket = request_upload(api, context, tokens["alice"], BODY)
    assert status == 201
    fields = ticket["upload"]["fields"]
    assert fields["key"] == f"uploads/{ticket['attachmentId']}"
    assert fields["Content-Type"] == "application/pdf"
    conditions = policy_of(ticket)["conditions"]
    assert {"key": fields["key"]} in conditions
    assert {"bucket": bucket()} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert ["content-length-range", 11, 11] in conditions
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    stored = AttachmentModel.get(ticket["attachmentId"])
    assert (stored.chat_id, stored.uploader_id, stored.status, stored.size) == ("project-x", "alice", "pending", 11)


def test_only_members_get_an_upload_form(api, context, tokens):
    status, answer = request_upload(api, context, tokens["carol"], BODY)
    assert status == 403
    assert answer["error"]["code"] == "FORBIDDEN"
    status, _ = request_upload(api, context, tokens["alice"], BODY, chat_id="no-such-chat")
    assert status == 403
    assert request_upload(api, context, None, BODY)[0] == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "name": "../etc/passwd"}, "name"),
        ({**BODY, "name": "a\\b.txt"}, "name"),
        ({**BODY, "name": ".."}, "name"),
        ({**BODY, "name": "x" * 256}, "name"),
        ({**BODY, "name": "evil\u202etxt.exe"}, "name"),
        ({**BODY, "size": 0}, "size"),
        ({**BODY, "size": "11"}, "size"),
        ({**BODY, "size": 100 * 1024 * 1024 + 1}, "size"),
        ({**BODY, "contentType": "pdf"}, "contentType"),
        ({**BODY, "contentType": "text/plain; charset=utf-8"}, "contentType"),
        ({**BODY, "contentType": "nonsense/thing"}, "contentType"),
        ({"name": "a.txt", "size": 1}, "contentType"),
    ],
)
def test_a_bad_upload_request_is_a_400_naming_the_field(api, context, tokens, body, field):
    status, answer = request_upload(api, context, tokens["alice"], body)
    assert status == 400
    assert answer["error"]["code"] == "BAD_FRAME"
    assert field in answer["error"]["message"]


def test_upload_forms_are_limited_to_ten_a_minute(api, context, tokens, frozen_rate_limits):
    for _ in range(10):
        assert request_upload(api, context, tokens["alice"], BODY)[0] == 201
    status, answer = request_upload(api, context, tokens["alice"], BODY)
    assert status == 429
    assert answer["error"]["code"] == "RATE_LIMITED"
    assert request_upload(api, context, tokens["bob"], BODY)[0] == 201, "the limit is per user"


def test_a_clean_upload_is_scanned_and_members_are_redirected_to_it(api, scans, context, tokens, connections):
    UserConnectionsModel(
        "alice", connections={"conn-alice": 1}, expires_at=datetime.now(UTC) + timedelta(hours=1)
    ).save()
    _, ticket = request_upload(api, context, tokens["alice"], BODY)
    attachment_id = ticket["attachmentId"]
    assert download(api, context, tokens["alice"], attachment_id)["statusCode"] == 409, "not scanned yet"
    key = upload(ticket, b"hello world")
    scans.handler(s3_event(key), context)

    assert AttachmentModel.get(attachment_id).status == "clean"
    (frame,) = [json.loads(data) for data in connections.sent["conn-alice"]]
    assert frame["type"] == "attachment.scanned"
    assert frame["payload"] == {"attachmentId": attachment_id, "chatId": "project-x", "status": "clean"}

    response = download(api, context, tokens["alice"], attachment_id)
    assert response["statusCode"] == 302
    location = urlsplit(response["headers"]["Location"])
    query = parse_qs(location.query)
    assert location.path.endswith(key)
    assert query["X-Amz-Expires"] == ["300"]
    assert "plan.pdf" in query["response-content-disposition"][0]


def test_an_unsent_upload_is_its_uploaders_alone_and_non_members_are_refused(api, scans, context, tokens):
    _, ticket = request_upload(api, context, tokens["alice"], BODY)
    scans.handler(s3_event(upload(ticket, b"hello world")), context)
    assert download(api, context, tokens["bob"], ticket["attachmentId"])["statusCode"] == 404
    assert download(api, context, tokens["carol"], ticket["attachmentId"])["statusCode"] == 403
    assert download(api, context, tokens["alice"], "no-such-attachment")["statusCode"] == 404


def test_the_eicar_test_file_is_infected_deleted_and_never_downloadable(api, scans, context, tokens):
    body = {"name": "eicar.com", "size": len(EICAR) + 6, "contentType": "application/octet-stream"}
    _, ticket = request_upload(api, context, tokens["alice"], body)
    key = upload(ticket, b"abc" + EICAR + b"xyz")
    scans.handler(s3_event(key), context)

    assert AttachmentModel.get(ticket["attachmentId"]).status == "infected"
    with pytest.raises(boto3.client("s3").exceptions.NoSuchKey):
        boto3.client("s3").get_object(Bucket=bucket(), Key=key)
    assert download(api, context, tokens["alice"], ticket["attachmentId"])["statusCode"] == 404


def test_eicar_is_found_across_read_chunks():
    from tidings.attachments.scanning import EicarScanner

    class Chunks:
        def chunks(self, key):
            yield b"x" * 10 + EICAR[:20]
            yield EICAR[20:] + b"y"

    assert EicarScanner(Chunks()).verdict("k") == "infected"


def test_a_repeated_event_scans_once(api, scans, context, tokens, connections):
    UserConnectionsModel(
        "alice", connections={"conn-alice": 1}, expires_at=datetime.now(UTC) + timedelta(hours=1)
    ).save()
    _, ticket = request_upload(api, context, tokens["alice"], BODY)
    key = upload(ticket, b"hello world")
    scans.handler(s3_event(key), context)
    scans.handler(s3_event(key), context)
    assert len(connections.sent["conn-alice"]) == 1


def test_guardduty_verdicts_come_from_its_object_tag(tokens):
    from tidings.attachments.scanning import GuardDutyScanner, NotScannedYet, ScanFailed

    class Tags:
        value: dict[str, str] = {}

        def tags(self, key):
            return self.value

    tags = Tags()
    scanner = GuardDutyScanner(tags)
    with pytest.raises(NotScannedYet):
        scanner.verdict("k")
    for status, verdict in (("NO_THREATS_FOUND", "clean"), ("THREATS_FOUND", "infected"), ("UNSUPPORTED", "infected")):
        tags.value = {"GuardDutyMalwareScanStatus": status}
        assert scanner.verdict("k") == verdict
    tags.value = {"GuardDutyMalwareScanStatus": "ACCESS_DENIED"}
    with pytest.raises(ScanFailed):
        scanner.verdict("k")


def test_a_scan_without_a_verdict_in_time_fails_the_invocation_and_stays_pending(
    api, scans, context, tokens, monkeypatch
):
    monkeypatch.setenv("ATTACHMENTS_SCANNER", "guardduty")
    monkeypatch.setenv("ATTACHMENTS_SCAN_WAIT_SECONDS", "0.01")
    from tidings.kernel.environment import ColdStart

    ColdStart.forget_all()
    _, ticket = request_upload(api, context, tokens["alice"], BODY)
    key = upload(ticket, b"hello world")
    with pytest.raises(RuntimeError, match="no verdict"):
        scans.handler(s3_event(key), context)
    assert AttachmentModel.get(ticket["attachmentId"]).status == "pending"


# --- message.send ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sender():
    return load_function("messaging/message_send.py")


def clean_upload(api, scans, context, token, chat_id="project-x", data=b"hello world") -> str:
    body = {"name": "plan.pdf", "size": len(data), "contentType": "application/pdf"}
    _, ticket = request_upload(api, context, token, body, chat_id=chat_id)
    scans.handler(s3_event(upload(ticket, data)), context)
    return ticket["attachmentId"]


def send(sender, context, user, attachment_ids, chat_id="project-x", frame_id=None) -> dict:
    from tests.support.events import client_frame, message_event

    payload = {
        "chatId": chat_id,
        "content": "see attached",
        "attachments": [{"attachmentId": a} for a in attachment_ids],
    }
    frame = client_frame("message.send", payload, frame_id)
    response = sender.handler(message_event("conn-a=", user, frame, "message.send"), context)
    return json.loads(response["body"])["payload"]


def test_a_clean_upload_is_sent_once_with_its_message_and_other_members_may_fetch_it(
    api, scans, sender, context, tokens
):
    attachment_id = clean_upload(api, scans, context, tokens["alice"])
    ack = send(sender, context, "alice", [attachment_id], frame_id="f-1")
    assert ack["message"]["attachments"] == [
        {
            "attachmentId": attachment_id,
            "name": "plan.pdf",
            "size": 11,
            "contentType": "application/pdf",
            "status": "clean",
        }
    ]
    assert AttachmentModel.get(attachment_id).message_id == ack["message"]["messageId"]
    assert download(api, context, tokens["bob"], attachment_id)["statusCode"] == 302, "sent: every member's"

    retry = send(sender, context, "alice", [attachment_id], frame_id="f-1")
    assert retry["message"]["messageId"] == ack["message"]["messageId"], "a retry is answered, not refused"
    again = send(sender, context, "alice", [attachment_id], frame_id="f-2")
    assert again["error"]["code"] == "CONFLICT"
    assert "payload.attachments.0.attachmentId" in again["error"]["message"]


def test_sending_takes_the_file_out_of_the_unsent_uploads_expiry(api, scans, sender, context, tokens):
    s3 = boto3.client("s3")
    attachment_id = clean_upload(api, scans, context, tokens["alice"])
    key = f"uploads/{attachment_id}"
    s3.put_object_tagging(
        Bucket=bucket(), Key=key, Tagging={"TagSet": [{"Key": "tidings-unsent", "Value": "true"}]}
    )  # what the form's tagging field does on S3 (moto does not apply it)
    send(sender, context, "alice", [attachment_id])
    assert s3.get_object_tagging(Bucket=bucket(), Key=key)["TagSet"] == []


def test_only_the_senders_clean_uploads_to_the_chat_may_be_sent(api, scans, sender, context, tokens):
    make_chat("other-chat", ["alice", "bob"])
    bobs = clean_upload(api, scans, context, tokens["bob"])
    elsewhere = clean_upload(api, scans, context, tokens["alice"], chat_id="other-chat")
    _, pending = request_upload(api, context, tokens["alice"], BODY)
    infected = clean_upload(api, scans, context, tokens["alice"], data=EICAR)
    for attachment_ids, code in (
        (["no-such-upload"], "NOT_FOUND"),
        ([bobs], "NOT_FOUND"),
        ([elsewhere], "FORBIDDEN"),
        ([pending["attachmentId"]], "CONFLICT"),
        ([infected], "CONFLICT"),
    ):
        ack = send(sender, context, "alice", attachment_ids)
        assert ack["error"]["code"] == code, (attachment_ids, ack)
        assert "payload.attachments.0.attachmentId" in ack["error"]["message"]
    assert AttachmentModel.get(bobs).message_id is None, "a refused send marks nothing"


def test_deleting_the_message_deletes_its_attachments(api, scans, sender, context, tokens):
    from tests.support.events import client_frame, message_event

    events = load_function("messaging/chat_event_frames.py")
    attachment_id = clean_upload(api, scans, context, tokens["alice"])
    ack = send(sender, context, "alice", [attachment_id])
    frame = client_frame("message.delete", {"messageId": ack["message"]["messageId"]})
    response = events.handler(message_event("conn-a=", "alice", frame, "message.delete"), context)
    assert json.loads(response["body"])["payload"]["status"] == "ok"
    with pytest.raises(boto3.client("s3").exceptions.NoSuchKey):
        boto3.client("s3").get_object(Bucket=bucket(), Key=f"uploads/{attachment_id}")
    with pytest.raises(AttachmentModel.DoesNotExist):
        AttachmentModel.get(attachment_id)
    assert download(api, context, tokens["bob"], attachment_id)["statusCode"] == 404
