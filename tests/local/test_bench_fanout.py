"""`make bench-fanout` (`tidings_local.bench_fanout`): it counts what the Delivery consumer does."""

from __future__ import annotations

import pytest

from tidings_local import bench_fanout


def test_one_message_to_a_small_channel_is_counted_post_by_post_and_call_by_call():
    result = bench_fanout.measure(12, online_fraction=0.5, progress=lambda line: None, protocol=1)

    timeline = result.timeline
    assert result.online == 6 and result.protocol == 1
    assert timeline.posts["message.new"] == 6, "every online member's connection, the sender's too"
    assert timeline.posts["notification.badge"] == 5, "the others' badges"
    assert timeline.calls["dynamodb Query"] >= 1, "the members were read"
    assert timeline.read_units >= 12 and timeline.write_units >= 11, "a badge for each recipient, online or not"
    assert any(kind == "parallel" for kind, _ in timeline.steps), "the recipients' notification work overlaps"
    to_message, whole = timeline.modelled_ms(until_message=True), timeline.modelled_ms(until_message=False)
    # A new message is decided first and posted once (its notices with it), so the last
    # message.new goes out in the record's last batch of posts.
    assert 0 < to_message == whole
    assert timeline.consumer_ms() == whole, "an unsharded chat's record is all the consumer's"


def test_the_connections_speak_protocol_version_2_unless_told_otherwise():
    result = bench_fanout.measure(12, online_fraction=0.5, progress=lambda line: None)

    assert result.protocol == 2
    assert result.timeline.posts == {"message.new": 6}, "each recipient's badge and toast ride in its message.new"
    assert result.posts_per_connection() == 1.0
    assert result.dollars_per_million() < bench_fanout.measure(12, 0.5, lambda line: None, 1).dollars_per_million()


def test_the_report_is_written_with_a_row_per_size(tmp_path, capsys):
    output = tmp_path / "fanout.md"

    assert bench_fanout.main(["--sizes", "3,5", "--output", str(output)]) == 0

    text = output.read_text()
    assert "| 3 | 3 |" in text and "| 5 | 5 |" in text
    assert "message.new 5" in text
    assert "every connection speaks version 2" in text
    assert "| 5 (5) |" in text, "on version 2, one API Gateway message per connection"
    assert "| 3 | — | 7 (2.33) | 3 (1.00) |" in text, "side by side, version 1 posts a recipient three frames"
    assert "3 members: delivering" in capsys.readouterr().out, "progress while it runs"


def test_protocol_1_is_measured_when_asked_for(tmp_path):
    output = tmp_path / "fanout.md"

    assert bench_fanout.main(["--sizes", "3", "--protocol", "1", "--compare", "", "--output", str(output)]) == 0

    text = output.read_text()
    assert "every connection speaks version 1" in text
    assert "| 7 (3) |" in text and "notification.toast 2" in text
    assert "side by side" not in text, "nothing compared"


def test_bad_sizes_are_refused_with_the_option_named(capsys):
    with pytest.raises(SystemExit) as refused:
        bench_fanout.main(["--sizes", "ten"])
    assert refused.value.code == 2
    assert "--sizes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        bench_fanout.main(["--sizes", "3", "--protocol", "3"])
    assert refused.value.code == 2
    assert "--protocol" in capsys.readouterr().err


def test_a_chat_over_the_shard_threshold_is_counted_with_its_shards_in_parallel(monkeypatch):
    from tidings.messaging import fanout, fanout_shards

    monkeypatch.setattr(fanout, "SHARD_ABOVE_CONNECTIONS", 4)  # a small chat stands for a big one
    monkeypatch.setattr(fanout_shards, "SHARD_ABOVE_CONNECTIONS", 4)
    monkeypatch.setattr(fanout_shards, "SHARD_ABOVE_MEMBERS", 4)
    monkeypatch.setattr(fanout_shards, "SHARD_CONNECTIONS", 3)
    monkeypatch.setattr(fanout_shards, "SHARD_MEMBERS", 3)
    result = bench_fanout.measure(10, progress=lambda line: None)

    timeline = result.timeline
    assert len(timeline.shards) == 4, "10 members, 3 a shard"
    assert sum(timeline.posts.values()) == 0, "the consumer posted nothing itself, not even a badge"
    assert sum(shard.posts["message.new"] for shard in timeline.shards) == 10
    assert timeline.totals().posts["message.new"] == 10
    assert timeline.totals().calls["sqs SendMessageBatch"] == 1, "the four shards in one call"
    assert "sqs ReceiveMessage" not in timeline.totals().calls, "the mapping's receives are not our code's"
    assert timeline.handoff_step is not None
    slowest = max(shard.modelled_ms(until_message=True) for shard in timeline.shards)
    handed_off = timeline.modelled_ms(until_message=True) - slowest - bench_fanout.HANDOFF_MS
    assert 0 < handed_off < timeline.modelled_ms(until_message=True) == timeline.modelled_ms(until_message=False), (
        "the shards do the notification work: the whole record ends with the slowest shard"
    )
    assert timeline.consumer_ms() == pytest.approx(handed_off), "the consumer holds its batch until the hand-off only"
