"""Deterministic interleavings of concurrent tasks, for race tests.

Each task runs in its own thread, but only one runs at a time: a task gives the turn back at
each `step()`, and a scheduler picks which task runs next: `random_scheduler` at random at
every step, `pct_scheduler` by random priorities that change at a few random steps (PCT,
Burckhardt et al. 2010), which reaches deeper interleavings more often, and
`scripted_scheduler` in an order a test spells out. `steps_on_dynamodb` makes every DynamoDB
request a step, the unit at which DynamoDB itself serializes, so a test can explore the orders
in which concurrent Lambdas' requests land; `steps_on_methods` makes chosen calls steps.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class _Task:
    run: Callable[[], Any]
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    done: bool = False
    pending: str | None = None  # the label of the step it waits at
    result: Any = None
    error: BaseException | None = None


# Picks the next task, given the indexes of the unfinished tasks, the turn number, and what
# each task is about to do (the label of its pending step, if it gave one).
Scheduler = Callable[[list[int], int, list[str | None]], int]


def random_scheduler(rnd: random.Random) -> Scheduler:
    return lambda unfinished, _turn, _pending: rnd.choice(unfinished)


def scripted_scheduler(*script: tuple[int, str | None]) -> Scheduler:
    """Runs each `(task, label)` of the script in turn: `task` until its pending step has that
    label (None: until it finishes); then the unfinished tasks in order."""
    steps = list(script)

    def choose(unfinished: list[int], _turn: int, pending: list[str | None]) -> int:
        while steps:
            task, label = steps[0]
            if task in unfinished and (label is None or pending[task] != label):
                return task
            steps.pop(0)
        return unfinished[0]

    return choose


def pct_scheduler(rnd: random.Random, tasks: int, depth: int = 3, horizon: int = 80) -> Scheduler:
    """The highest-priority unfinished task runs; at `depth - 1` random steps within `horizon`
    the running task drops below every other."""
    priorities = rnd.sample(range(depth, depth + tasks), tasks)
    change_points = {rnd.randrange(horizon): -n for n in range(1, depth)}

    def choose(unfinished: list[int], turn: int, _pending: list[str | None]) -> int:
        running = max(unfinished, key=lambda index: priorities[index])
        if turn in change_points:
            priorities[running] = change_points.pop(turn)
            running = max(unfinished, key=lambda index: priorities[index])
        return running

    return choose


class Interleaving:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._back = threading.Semaphore(0)
        self._local = threading.local()

    def step(self, label: str | None = None) -> None:
        """Gives the turn back to the scheduler, saying what the task does next; a no-op
        outside a task (the test's own thread)."""
        task: _Task | None = getattr(self._local, "task", None)
        if task is None:
            return
        task.pending = label
        self._back.release()
        task.go.acquire()

    def run(self, *tasks: Callable[[], Any]) -> list[_Task]:
        """Runs the tasks to completion in the scheduled order; returns them with their result
        or error."""
        runs = [_Task(task) for task in tasks]
        threads = [threading.Thread(target=self._body, args=(run,), daemon=True) for run in runs]
        for thread in threads:
            thread.start()
        turn = 0
        while unfinished := [index for index, run in enumerate(runs) if not run.done]:
            runs[self._scheduler(unfinished, turn, [run.pending for run in runs])].go.release()
            turn += 1
            if not self._back.acquire(timeout=30):
                raise AssertionError("a task neither finished nor stepped within 30 s")
        for thread in threads:
            thread.join(timeout=5)
        return runs

    def _body(self, task: _Task) -> None:
        task.go.acquire()
        self._local.task = task
        try:
            task.result = task.run()
        except BaseException as exc:  # reported to the test, which decides
            task.error = exc
        finally:
            task.done = True
            self._local.task = None
            self._back.release()


@contextmanager
def steps_on_dynamodb(interleaving: Interleaving) -> Iterator[None]:
    """Every DynamoDB request PynamoDB makes becomes a step of the interleaving."""
    from pynamodb.connection.base import Connection

    original = Connection._make_api_call

    def stepping(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        interleaving.step()
        return original(self, operation_name, operation_kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Connection, "_make_api_call", stepping)
        yield


@contextmanager
def steps_on_methods(interleaving: Interleaving, cls: type, *names: str) -> Iterator[None]:
    """Each call of these methods becomes a step labelled with the method's name."""
    with pytest.MonkeyPatch.context() as patch:
        for name in names:
            original = getattr(cls, name)

            def stepping(self: Any, *args: Any, __original: Any = original, __name: str = name, **kwargs: Any) -> Any:
                interleaving.step(__name)
                return __original(self, *args, **kwargs)

            patch.setattr(cls, name, stepping)
        yield
