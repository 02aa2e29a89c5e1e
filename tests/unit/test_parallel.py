"""`bounded_map`: independent AWS calls made a bounded number at a time."""

from __future__ import annotations

import threading
import time

import pytest

from tidings.kernel.parallel import bounded_map


def test_results_keep_the_items_order_and_at_most_the_bound_run_at_once():
    running, most = 0, 0
    lock = threading.Lock()

    def call(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return item * 2

    assert bounded_map(call, list(range(20)), 4, "test") == [n * 2 for n in range(20)]
    assert 1 < most <= 4


def test_one_item_runs_in_the_callers_thread():
    assert bounded_map(lambda _: threading.current_thread().name, ["x"], 4, "test") == [threading.current_thread().name]


def test_an_exception_is_raised_once_every_call_has_ended():
    ended: list[int] = []

    def call(item: int) -> int:
        if item == 0:
            raise RuntimeError("throttled")
        time.sleep(0.01)
        ended.append(item)
        return item

    with pytest.raises(RuntimeError, match="throttled"):
        bounded_map(call, [0, 1, 2, 3], 4, "test")
    assert sorted(ended) == [1, 2, 3]


def test_a_failure_does_not_cancel_the_calls_still_waiting_for_a_thread():
    started: list[int] = []

    def call(item: int) -> int:
        started.append(item)
        if item == 0:
            raise RuntimeError("throttled")
        time.sleep(0.01)
        return item

    # Two threads, ten calls: eight are still queued when the first one fails.
    with pytest.raises(RuntimeError, match="throttled"):
        bounded_map(call, list(range(10)), 2, "test")
    assert sorted(started) == list(range(10))
