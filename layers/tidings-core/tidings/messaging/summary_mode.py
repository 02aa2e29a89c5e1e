"""Summary mode: a flooded big chat's messages as `chat.summary` frames (docs/architecture.md
"Backpressure").

A big chat (an audience of more than `BIG_CHAT_CONNECTIONS` connections, the sharded fan-out's
threshold) that has had more than `MESSAGES_PER_SECOND` messages in the second a message was
accepted in does not post that message's `message.new` to its audience. Its sender and the
users it mentions by name still get it; everyone in the audience gets one `chat.summary
{chatId, newMessages, lastSeq}` for the chat at the end of the Delivery consumer's batch, and
catches up with `sync.request`. The messages are stored (the sender had its ack), so nothing is
lost, only announced in a number. Small chats (DMs, groups) are never counted or summarised.

The rate is one counter item per chat and second in the Ephemeral table (`ADD`, TTL'd): one
write per message of a big chat, nothing for any other chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tidings.kernel.ephemeral import EphemeralModel
from tidings.kernel.wire import encode, server_frame
from tidings.messaging.fanout_shards import SHARD_ABOVE_CONNECTIONS
from tidings.messaging.wire import ChatSummaryPayload

# Messages a big chat may have in one second before the rest of that second is summarised.
MESSAGES_PER_SECOND = 100
BIG_CHAT_CONNECTIONS = SHARD_ABOVE_CONNECTIONS
# A counter is read only during its own second (and a late record's retry); then it expires.
_COUNTER_TTL = timedelta(minutes=5)


class MessageRates(Protocol):
    def count(self, chat_id: str, second: int) -> int:
        """Counts one more message of the chat in `second` (epoch seconds); the count so far."""


class DynamoMessageRates:
    """`rate#<chatId>#<second>` -> messages accepted in that second (the Ephemeral table)."""

    def count(self, chat_id: str, second: int) -> int:
        item = EphemeralModel(f"rate#{chat_id}#{second}")
        item.update(
            actions=[
                EphemeralModel.message_count.add(1),
                EphemeralModel.expires_at.set(datetime.now(UTC) + _COUNTER_TTL),
            ]
        )
        return int(item.message_count or 0)


def is_big(audience: Mapping[str, list[str]]) -> bool:
    return sum(len(connection_ids) for connection_ids in audience.values()) > BIG_CHAT_CONNECTIONS


def still_told(message: Mapping[str, Any]) -> set[str]:
    """Who gets a summarised message's `message.new` anyway: its sender (their other devices)
    and the users it mentions by name (`@channel` and `@here` are not names: a flood of them
    would otherwise be a flood for everyone)."""
    named = {user_id for user_id in message.get("mentions") or [] if not user_id.startswith("@")}
    return {message["senderId"], *named}


@dataclass
class _Pending:
    new_messages: int
    last_seq: int
    audience: dict[str, list[str]]


class SummaryWindow:
    """The summarised messages of one Delivery batch, per chat; `frames` at the batch's end."""

    def __init__(self) -> None:
        self._chats: dict[str, _Pending] = {}

    def summarises(
        self, rates: MessageRates, chat_id: str, accepted_at: datetime, audience: dict[str, list[str]]
    ) -> bool:
        """Whether the message of the chat accepted at `accepted_at` is to be summarised (and
        counted in `rates`, when the chat is big)."""
        if not is_big(audience):
            return False
        return rates.count(chat_id, int(accepted_at.timestamp())) > MESSAGES_PER_SECOND

    def add(self, chat_id: str, seq: int, audience: dict[str, list[str]]) -> None:
        """A summarised message; the chat's latest audience gets the summary."""
        pending = self._chats.get(chat_id)
        if pending is None:
            self._chats[chat_id] = _Pending(1, seq, audience)
        else:
            pending.new_messages += 1
            pending.last_seq = max(pending.last_seq, seq)
            pending.audience = audience

    def __bool__(self) -> bool:
        return bool(self._chats)

    def frames(self) -> list[tuple[str, dict[str, list[str]], int]]:
        """Each chat's `chat.summary` (encoded), its audience, and how many messages it stands for."""
        return [
            (
                encode(
                    server_frame(
                        "chat.summary",
                        ChatSummaryPayload(chatId=chat_id, newMessages=pending.new_messages, lastSeq=pending.last_seq),
                    )
                ),
                pending.audience,
                pending.new_messages,
            )
            for chat_id, pending in self._chats.items()
        ]
