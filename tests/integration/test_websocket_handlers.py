"""Connect, message and disconnect handlers driven by API Gateway WebSocket events."""

import json

import pytest

from tests.support.events import (
    authorizer_event,
    client_frame,
    connect_event,
    disconnect_event,
    message_event,
)
from tests.support.seed import make_chat
from tidings.messaging.models import MessageModel
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.models import ConnectionModel
from tidings.sessions.tokens import issue_token


def reply(response):
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def send_frame(functions, context, user, frame, route="message.send", module="send", connection="conn-a="):
    body = frame if isinstance(frame, str) else json.dumps(frame)
    return reply(functions[module].handler(message_event(connection, user, body, route), context))


def test_authorizer_handler_reads_the_key_from_secrets_manager(functions, context, signing_key):
    token = issue_token("alice", signing_key)
    response = functions["authorizer"].handler(authorizer_event(header=f"Bearer {token}"), context)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        functions["authorizer"].handler(authorizer_event(), context)


def test_connect_stores_the_connection_and_disconnect_removes_it(functions, context, connections):
    assert functions["connect"].handler(connect_event("conn-1=", "alice", expires_at=2_000_000_000), context) == {
        "statusCode": 200
    }
    stored = ConnectionModel.get("conn-1=")
    assert (stored.user_id, stored.token_expires_at) == ("alice", 2_000_000_000)
    assert DynamoConnectionStore().for_user("alice") == ["conn-1="]

    assert functions["disconnect"].handler(disconnect_event("conn-1="), context) == {"statusCode": 200}
    assert DynamoConnectionStore().for_user("alice") == []


def test_message_send_acks_with_the_stored_message(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    frame = client_frame("message.send", {"chatId": "dm-alice-bob", "content": "hi @bob"})
    ack = send_frame(functions, context, "alice", frame)
    assert ack["type"] == "ack"
    payload = ack["payload"]
    assert payload["refId"] == frame["id"]
    assert payload["status"] == "ok"
    message = payload["message"]
    assert (message["chatId"], message["seq"], message["senderId"]) == ("dm-alice-bob", 1, "alice")
    assert message["mentions"] == ["bob"]
    assert MessageModel.get("dm-alice-bob", 1).message_id == message["messageId"]
    assert connections.sent == {}, "the send handler must not fan out"


def test_the_same_frame_id_from_two_senders_is_two_messages_and_a_reuse_conflicts(functions, context, connections):
    make_chat("project-x", ["alice", "bob", "carol"])
    bob_frame = client_frame("message.send", {"chatId": "project-x", "content": "from bob"}, frame_id="1")
    carol_frame = client_frame("message.send", {"chatId": "project-x", "content": "from carol"}, frame_id="1")
    bobs = send_frame(functions, context, "bob", bob_frame)["payload"]["message"]
    carols = send_frame(functions, context, "carol", carol_frame)["payload"]["message"]
    assert (carols["senderId"], carols["content"]) == ("carol", "from carol")
    assert carols["messageId"] != bobs["messageId"]

    assert send_frame(functions, context, "bob", bob_frame)["payload"]["message"] == bobs, "a retry: the same ack"
    reused = client_frame("message.send", {"chatId": "project-x", "content": "something else"}, frame_id="1")
    conflict = send_frame(functions, context, "bob", reused)["payload"]
    assert (conflict["refId"], conflict["status"], conflict["error"]["code"]) == ("1", "error", "CONFLICT")
    assert sorted(item.content for item in MessageModel.query("project-x")) == ["from bob", "from carol"]


def test_a_non_member_gets_forbidden(functions, context, connections):
    make_chat("project-x", ["alice", "bob"])
    frame = client_frame("message.send", {"chatId": "project-x", "content": "let me in"})
    ack = send_frame(functions, context, "mallory", frame)
    assert ack["payload"]["status"] == "error"
    assert ack["payload"]["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"content": "no chat"}, "payload.chatId"),
        ({"chatId": "c", "content": ""}, "payload.content"),
        ({"chatId": "c", "content": "x" * 16_001}, "payload.content"),
        ({"chatId": "c", "content": "hi", "priority": "shouting"}, "payload.priority"),
        ({"chatId": "c", "content": "hi \ud800"}, "payload.content"),
        ({"chatId": "c\u0000", "content": "hi"}, "payload.chatId"),
        ({"chatId": "c", "content": "hi", "replyTo": "m\u001f"}, "payload.replyTo"),
        (
            {"chatId": "c", "content": "hi", "attachments": [{"name": "x", "url": "javascript:alert(1)"}]},
            "payload.attachments.0.attachmentId",
        ),
        ({"chatId": "c", "content": "hi", "attachments": [{"attachmentId": "a"}] * 2}, "payload.attachments"),
        (
            {"chatId": "c", "content": "hi", "attachments": [{"attachmentId": f"a{n}"} for n in range(11)]},
            "payload.attachments",
        ),
    ],
)
def test_an_invalid_payload_gets_a_bad_frame_ack_naming_the_field(functions, context, connections, payload, field):
    frame = client_frame("message.send", payload)
    ack = send_frame(functions, context, "alice", frame)
    assert ack["type"] == "ack"
    assert ack["payload"]["refId"] == frame["id"]
    assert ack["payload"]["error"]["code"] == "BAD_FRAME"
    assert field in ack["payload"]["error"]["message"]


@pytest.mark.parametrize("emoji", ["\x1f", "👍\x1fmallory", "<script>", "a", "👍" * 1000, "", "\ud800"])
def test_a_reaction_that_is_not_an_emoji_is_refused_naming_the_field(functions, context, connections, emoji):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    sent = send_frame(
        functions, context, "alice", client_frame("message.send", {"chatId": "dm-alice-bob", "content": "hi"})
    )
    payload = {"messageId": sent["payload"]["message"]["messageId"], "emoji": emoji, "action": "add"}
    react = client_frame("message.react", payload)  # sent JSON-escaped, as a client would send it
    ack = send_frame(functions, context, "bob", react, route="message.react", module="events")
    assert ack["payload"]["refId"] == react["id"]
    assert ack["payload"]["error"]["code"] == "BAD_FRAME"
    assert "payload.emoji" in ack["payload"]["error"]["message"]
    assert MessageModel.get("dm-alice-bob", 1).reactions.as_dict() == {}, "no reactor was forged"


def test_a_reply_must_name_a_message_of_the_same_chat(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    make_chat("project-x", ["alice", "bob"])
    elsewhere = send_frame(
        functions, context, "alice", client_frame("message.send", {"chatId": "project-x", "content": "x"})
    )
    here = send_frame(
        functions, context, "alice", client_frame("message.send", {"chatId": "dm-alice-bob", "content": "q"})
    )
    for reply_to in (elsewhere["payload"]["message"]["messageId"], "no-such-message"):
        frame = client_frame("message.send", {"chatId": "dm-alice-bob", "content": "re", "replyTo": reply_to})
        refused = send_frame(functions, context, "bob", frame)["payload"]
        assert refused["error"]["code"] == "NOT_FOUND"
        assert refused["error"]["message"].startswith("payload.replyTo:")
    assert len(list(MessageModel.query("dm-alice-bob"))) == 1, "nothing stored for a refused reply"

    target = here["payload"]["message"]["messageId"]
    reply = client_frame("message.send", {"chatId": "dm-alice-bob", "content": "a", "replyTo": target})
    assert send_frame(functions, context, "bob", reply)["payload"]["message"]["replyTo"] == target


def test_a_frame_over_64_kib_is_refused_unprocessed(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    frame = client_frame("message.send", {"chatId": "dm-alice-bob", "content": "x" * 70_000})
    error = send_frame(functions, context, "alice", frame)
    assert error["type"] == "error"
    assert error["payload"]["code"] == "FRAME_TOO_LARGE"
    assert error["payload"]["refId"] == frame["id"]
    assert list(MessageModel.query("dm-alice-bob")) == []


def test_unparseable_input_gets_bad_frame(functions, context, connections):
    error = send_frame(functions, context, "alice", "{not json", route="$default", module="default")
    assert error["type"] == "error"
    assert error["payload"]["code"] == "BAD_FRAME"


def test_a_frame_without_id_gets_bad_frame_error(functions, context, connections):
    error = send_frame(functions, context, "alice", {"type": "ping"}, route="ping", module="default")
    assert error["type"] == "error"
    assert error["payload"]["code"] == "BAD_FRAME"
    assert "id" in error["payload"]["message"]


def test_an_unknown_type_gets_unknown_type(functions, context, connections):
    frame = client_frame("teleport", {})
    ack = send_frame(functions, context, "alice", frame, route="$default", module="default")
    assert ack["payload"]["refId"] == frame["id"]
    assert ack["payload"]["error"]["code"] == "UNKNOWN_TYPE"


def test_ping_gets_pong(functions, context, connections):
    frame = client_frame("ping", {})
    pong = send_frame(functions, context, "alice", frame, route="ping", module="default")
    assert pong["type"] == "pong"
    assert pong["payload"] == {"refId": frame["id"]}


def test_edit_react_delete_handlers_ack_with_the_event_seq(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    sent = send_frame(
        functions, context, "alice", client_frame("message.send", {"chatId": "dm-alice-bob", "content": "v1"})
    )
    message_id = sent["payload"]["message"]["messageId"]

    edit = client_frame("message.edit", {"messageId": message_id, "content": "v2"})
    edited = send_frame(functions, context, "alice", edit, route="message.edit", module="events")
    assert edited["payload"]["status"] == "ok"
    assert (edited["payload"]["seq"], edited["payload"]["message"]["content"]) == (2, "v2")

    not_mine = client_frame("message.edit", {"messageId": message_id, "content": "hijack"})
    refused = send_frame(functions, context, "bob", not_mine, route="message.edit", module="events")
    assert refused["payload"]["error"]["code"] == "FORBIDDEN"

    react = client_frame("message.react", {"messageId": message_id, "emoji": "👍", "action": "add"})
    reacted = send_frame(functions, context, "bob", react, route="message.react", module="events")
    assert (reacted["payload"]["seq"], reacted["payload"]["reactions"]) == (3, {"👍": ["bob"]})

    bad_action = client_frame("message.react", {"messageId": message_id, "emoji": "👍", "action": "toggle"})
    invalid = send_frame(functions, context, "bob", bad_action, route="message.react", module="events")
    assert invalid["payload"]["error"]["code"] == "BAD_FRAME"

    delete = client_frame("message.delete", {"messageId": message_id})
    deleted = send_frame(functions, context, "alice", delete, route="message.delete", module="events")
    assert (deleted["payload"]["seq"], deleted["payload"]["messageId"]) == (4, message_id)


def test_a_send_throttled_past_botocores_retries_is_unavailable_with_a_retry_hint(
    functions, context, connections, monkeypatch
):
    """Capacity is the server's problem, not a fault in the request: the client is told to retry
    the same frame shortly (UNAVAILABLE + retryAfterMs), not INTERNAL."""
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import TransactWriteError

    from tidings.messaging.message_store import DynamoMessageStore

    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")

    def throttled(self, message, claim):
        error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
        raise TransactWriteError("Failed to write transaction items", cause=ClientError(error, "TransactWriteItems"))

    monkeypatch.setattr(DynamoMessageStore, "append", throttled)
    frame = client_frame("message.send", {"chatId": "dm-alice-bob", "content": "hi"})
    payload = send_frame(functions, context, "alice", frame)["payload"]
    assert (payload["refId"], payload["status"], payload["error"]["code"]) == (frame["id"], "error", "UNAVAILABLE")
    assert payload["error"]["retryAfterMs"] == 1000


def test_a_burst_of_25_sends_from_five_connections_of_one_user_lets_10_through(
    functions, context, connections, frozen_rate_limits
):
    """The message limit is per user (10 at once, 10 a second), not per connection: 25 sends from
    five connections of erin in one instant get 10 acks and 15 RATE_LIMITED that say when to try
    again. (The clock does not move, so this holds however slow the machine.)"""
    make_chat("general", ["alice", "erin"], chat_type="channel")
    acks = [
        send_frame(
            functions,
            context,
            "erin",
            client_frame("message.send", {"chatId": "general", "content": f"burst {n}"}),
            connection=f"conn-{n % 5}=",
        )["payload"]
        for n in range(25)
    ]
    assert [ack["status"] for ack in acks].count("ok") == 10
    limited = [ack["error"] for ack in acks if ack["status"] == "error"]
    assert len(limited) == 15
    assert all(error["code"] == "RATE_LIMITED" and 0 < error["retryAfterMs"] <= 1000 for error in limited), limited
