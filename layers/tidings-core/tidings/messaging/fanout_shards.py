"""Sharded fan-out of big chats (docs/architecture.md "Fan-out", "Big chats").

A chat event whose audience is more than `SHARD_ABOVE_CONNECTIONS` connections is not posted by
the Delivery consumer: one invocation posting 10,000 frames would outlast its timeout and hold
up every chat behind it on the stream shard. Its connections are cut into shards of
`SHARD_CONNECTIONS`, each a `Redelivery` at attempt 1 on the `FanoutShards` queue, and the
fan-out workers post them in parallel through `Deliveries`, so each connection's failures are
retried alone (the delivery retry queue) and a gone connection is forgotten, as for any other
delivery.

A new message to a big chat (more than `SHARD_ABOVE_MEMBERS` members, or more than
`SHARD_ABOVE_CONNECTIONS` connections) goes out as `MessageShard`s instead: up to
`SHARD_MEMBERS` members each, offline ones too, with their connections and the message's stream
record. Each worker does its members' notification work (badges, toasts, push jobs) and posts
each of their connections once, the recipient's badge and toast inside `message.new` on protocol
version 2, as the consumer does for a small chat. So a big chat's notification work runs in
parallel across the workers, and no connection gets a frame per notice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from tidings.kernel.connections_api import Redelivery
from tidings.kernel.delay_queue import SQS_MAX_BODY_BYTES, json_codec

# Above this many connections a chat event is sharded; each shard holds at most SHARD_CONNECTIONS:
# 250 posts at 16 at a time are 16 rounds of one PostToConnection (~20 ms each), about 0.3 s.
SHARD_ABOVE_CONNECTIONS = 500
SHARD_CONNECTIONS = 250

# A new message is sharded above this many members, and each message shard holds at most
# SHARD_MEMBERS of them: a member's notification work is about four writes one after another
# (~30 ms), ten members at a time (NOTIFY_CONCURRENCY), so 100 members are ~0.3 s of a worker,
# before its posts; 1,000 members then reach their last connection in well under a second.
SHARD_ABOVE_MEMBERS = 500
SHARD_MEMBERS = 100

SHARD_JOBS = json_codec(Redelivery.to_body, lambda body: Redelivery.from_body(body, first_attempt=1))


def message_is_sharded(audience: Mapping[str, Sequence[str]]) -> bool:
    """Whether a new message to `audience` (members and their connections) goes out in
    `MessageShard`s: its members' notification work or its posts are too many for one invocation."""
    connections = sum(len(connection_ids) for connection_ids in audience.values())
    return len(audience) > SHARD_ABOVE_MEMBERS or connections > SHARD_ABOVE_CONNECTIONS


@dataclass(frozen=True)
class MessageShard:
    """One shard of a new message to a big chat: the message's Messages stream record as Lambda
    delivered it (the worker reads the message from it, as the notification retry does), up to
    SHARD_MEMBERS members with their connections (none for an offline member, who is still
    notified), and the frames those connections are owed before the message, each
    `(data, except_user)` (the sender's typing that the message ended)."""

    record: dict[str, Any]
    audience: dict[str, list[str]]
    before: tuple[tuple[str, str | None], ...] = ()
    trace_id: str | None = None
    # Summary mode: the members' notification work only, nothing posted (their `chat.summary`
    # stands for the message, and the sync it prompts brings their badges).
    quiet: bool = False

    def to_body(self) -> dict[str, Any]:
        body = {
            "record": self.record,
            "audience": self.audience,
            "before": [[data, except_user] for data, except_user in self.before],
            "traceId": self.trace_id,
        }
        return {**body, "quiet": True} if self.quiet else body

    @classmethod
    def from_body(cls, body: Any) -> MessageShard:
        """Raises ValueError for a body that is not a message shard."""
        if not isinstance(body, dict):
            raise ValueError("a message shard is a JSON object")
        record, audience, before = body.get("record"), body.get("audience"), body.get("before", [])
        image = record.get("dynamodb", {}).get("NewImage") if isinstance(record, dict) else None
        if not isinstance(image, dict):
            raise ValueError("a message shard carries a stream record with its new image")
        if not (
            isinstance(audience, dict)
            and audience
            and all(isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in audience.values())
        ):
            raise ValueError("audience must map members to lists of connection ids")
        if not (
            isinstance(before, list)
            and all(
                isinstance(pair, list)
                and len(pair) == 2
                and isinstance(pair[0], str)
                and (pair[1] is None or isinstance(pair[1], str))
                for pair in before
            )
        ):
            raise ValueError("before must be a list of [frame, exceptUser] pairs")
        trace_id, quiet = body.get("traceId"), body.get("quiet", False)
        if not isinstance(quiet, bool):
            raise ValueError("quiet must be true or false")
        return cls(
            record,  # type: ignore[arg-type]  # checked: a dict
            audience,
            tuple((data, except_user) for data, except_user in before),
            trace_id if isinstance(trace_id, str) else None,
            quiet,
        )


MESSAGE_SHARDS = json_codec(MessageShard.to_body, MessageShard.from_body)


def _fanout_job(body: Any) -> Redelivery | MessageShard:
    """A FanoutShards job: a `MessageShard` carries a stream record, a `Redelivery` does not."""
    if isinstance(body, dict) and "record" in body:
        return MessageShard.from_body(body)
    return Redelivery.from_body(body, first_attempt=1)


# What the fan-out workers read off the queue: either kind of job.
FANOUT_JOBS = json_codec(lambda job: job.to_body(), _fanout_job)


def message_shards(
    record: dict[str, Any],
    audience: Mapping[str, Sequence[str]],
    before: Sequence[tuple[str, str | None]],
    trace_id: str | None,
    *,
    quiet: bool = False,
) -> list[MessageShard]:
    """A new message's `audience` cut into shards, in member order: at most SHARD_MEMBERS members
    and SHARD_CONNECTIONS connections a shard (a member's connections never split); `quiet`
    shards (summary mode) are notified and posted nothing."""
    shards: list[MessageShard] = []
    members: dict[str, list[str]] = {}
    connections = 0
    for user_id, connection_ids in audience.items():
        if members and (len(members) == SHARD_MEMBERS or connections + len(connection_ids) > SHARD_CONNECTIONS):
            shards.append(MessageShard(record, members, tuple(before), trace_id, quiet))
            members, connections = {}, 0
        members[user_id] = list(connection_ids)
        connections += len(connection_ids)
    if members:
        shards.append(MessageShard(record, members, tuple(before), trace_id, quiet))
    return shards


def halved_to_fit(shard: MessageShard) -> list[MessageShard]:
    """`shard` cut in halves by members until each fits one SQS message (a message of 16,000
    characters and 250 members' connections fit one; this is the bound, not the usual case)."""
    if len(MESSAGE_SHARDS.encode(shard)) <= SQS_MAX_BODY_BYTES or len(shard.audience) == 1:
        return [shard]
    members = list(shard.audience.items())
    half = len(members) // 2
    return [
        part
        for audience in (dict(members[:half]), dict(members[half:]))
        for part in halved_to_fit(replace(shard, audience=audience))
    ]


class ShardQueue(Protocol):
    def schedule_all(self, jobs: Iterable[Redelivery], delay_seconds: int = 0) -> None:
        """Puts every shard on the queue. Raises if the queue cannot take them all (the
        caller's record is then retried whole)."""


def shard_jobs(targets: Sequence[tuple[str, Sequence[str]]], trace_id: str | None) -> list[Redelivery]:
    """`targets` (connection, its frames in order) as shard jobs: the connections owed the same
    frames together, in order, at most SHARD_CONNECTIONS a job."""
    by_frames: dict[tuple[str, ...], list[str]] = {}
    for connection_id, frames in targets:
        by_frames.setdefault(tuple(frames), []).append(connection_id)
    return [
        Redelivery(tuple(ids[start : start + SHARD_CONNECTIONS]), frames, attempt=1, trace_id=trace_id)
        for frames, ids in by_frames.items()
        for start in range(0, len(ids), SHARD_CONNECTIONS)
    ]
