"""A small application declaration for testing the runtime machinery, independent of the real
handlers: stub functions live in `tests/local/stub_functions/<domain>/<module>.py`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from tidings.kernel.declaration import (
    Application,
    Authorizer,
    Function,
    HttpRoute,
    Queue,
    QueueSubscription,
    Route,
    Schedule,
    SearchIndex,
    Secret,
    StreamSubscription,
    Table,
)

STUB_FUNCTIONS_DIR = Path(__file__).parent / "stub_functions"


class EventModel(Model):
    """A streamed table; `behaviour` tells the stub consumer how to treat the record."""

    class Meta:
        table_name = "local-test-events"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)
    sk = NumberAttribute(range_key=True)
    behaviour = UnicodeAttribute(default="ok")  # ok | fail-once | fail-always | raise | slow (3 s)


class NoteModel(Model):
    class Meta:
        table_name = "local-test-notes"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    note_id = UnicodeAttribute(hash_key=True, attr_name="noteId")
    expires_at = NumberAttribute(attr_name="expiresAt", null=True)


EVENTS = Table("Events", EventModel, stream="NEW_IMAGE")
NOTES = Table("Notes", NoteModel, ttl_attribute="expiresAt")
CONSUMER_FAILURES = Queue("ConsumerFailures")
STUB_KEY = Secret("StubKey", "a secret the runtime generates")

AUTHORIZER = Function("Authorizer", "gate", "authorizer.handler", "allows a token naming the user")
CONNECT = Function("Connect", "gate", "connect.handler", "refuses ?refuse=STATUS", manages_connections=True)
DISCONNECT = Function("Disconnect", "gate", "disconnect.handler", "records the event")
ECHO = Function(
    "Echo",
    "gate",
    "echo.handler",
    "replies with what it was given",
    tables=((NOTES, "write"),),
    manages_connections=True,
)
CONSUMER = Function("Consumer", "stream", "consumer.handler", "fails records as told")
REST = Function("Rest", "gate", "rest.handler", "answers HTTP API requests with what it was given")

# Functions that do what their event asks (`stub_functions/probe/probe.py`), each with its own
# grants, for the tests of what a function sees and may do.
STUB_INDEX = SearchIndex("StubSearch", index_name="stub-messages")
PROBE = Function(
    "Probe",
    "probe",
    "probe.handler",
    "may use Notes and Events, and search; nothing else",
    tables=((NOTES, "read_write"), (EVENTS, "read_write")),
    search=((STUB_INDEX, "read"),),
    timeout_seconds=30,
)
READER = Function(
    "Reader",
    "probe",
    "probe.handler",
    "may read Notes and the stub key",
    tables=((NOTES, "read"),),
    secrets=(STUB_KEY,),
)
NOBODY = Function("Nobody", "probe", "probe.handler", "may use nothing")
NAPPER = Function("Napper", "probe", "probe.handler", "times out after a second", timeout_seconds=1)

SUBSCRIPTION = StreamSubscription(
    EVENTS,
    CONSUMER,
    on_failure=CONSUMER_FAILURES,
    batch_size=10,
    retry_attempts=2,
    bisect_batch_on_error=True,
    event_names=("INSERT",),
)

APP = Application(
    name="Stub",
    tables=(EVENTS, NOTES),
    functions=(AUTHORIZER, CONNECT, DISCONNECT, ECHO, CONSUMER, REST, PROBE, READER, NOBODY, NAPPER),
    authorizer=Authorizer(AUTHORIZER),
    routes=(
        Route("$connect", CONNECT, two_way=False),
        Route("$disconnect", DISCONNECT, two_way=False),
        Route("$default", ECHO),
        Route("echo", ECHO),
        Route("oneway", ECHO, two_way=False),
        Route("slow", ECHO),
        Route("boom", ECHO),
        Route("huge", ECHO),
        Route("call-aws", ECHO),
    ),
    http_routes=(
        HttpRoute("GET", "/api/things/{thingId}", REST),
        HttpRoute("GET", "/api/things/special", REST),
        HttpRoute("POST", "/api/things", REST),
        HttpRoute("GET", "/api/files/{path+}", REST),
        HttpRoute("PUT", "/admin/things/{thingId}", REST, authorization="iam"),
    ),
    stream_subscriptions=(SUBSCRIPTION,),
    queues=(CONSUMER_FAILURES,),
    secrets=(STUB_KEY,),
    search_indexes=(STUB_INDEX,),
)


def with_subscription(**changes: object) -> Application:
    """APP with its stream subscription's settings changed (batch size, retries, bisect...)."""
    return replace(APP, stream_subscriptions=(replace(SUBSCRIPTION, **changes),))  # type: ignore[arg-type]


# --- timers: an SQS event source mapping and a schedule ------------------------------------

JOBS = Queue("Jobs", dead_letter_after=3)
TICK_FAILURES = Queue("TickFailures")
WORKER = Function("Worker", "timers", "worker.handler", "fails messages whose body is 'fail'")
TICK = Function("Tick", "timers", "tick.handler", "records scheduled events")

TIMERS_APP = Application(
    name="Timers",
    tables=(),
    functions=(AUTHORIZER, WORKER, TICK),
    authorizer=Authorizer(AUTHORIZER),
    routes=(),
    queues=(JOBS, TICK_FAILURES),
    queue_subscriptions=(QueueSubscription(JOBS, WORKER, batch_size=5),),
    schedules=(Schedule("Tick", TICK, rate_seconds=1, on_failure=TICK_FAILURES),),
)

FAILING_TICK = Function("FailingTick", "timers", "failing_tick.handler", "fails every scheduled run")
FAILING_SCHEDULE_APP = replace(
    TIMERS_APP,
    functions=(AUTHORIZER, FAILING_TICK),
    queues=(TICK_FAILURES,),
    queue_subscriptions=(),
    schedules=(Schedule("FailingTick", FAILING_TICK, rate_seconds=1, on_failure=TICK_FAILURES),),
)


# --- functions that cannot load ---------------------------------------------------------------

SHADOWED = Function("Shadowed", "shadow", "frames.handler", "its folder has a typing.py")
NEEDS_MOTO = Function("NeedsMoto", "missing", "needs_moto.handler", "imports a package no layer has")


def alone(function: Function) -> Application:
    """An application of the authorizer and `function`."""
    return Application(
        name="Broken", tables=(), functions=(AUTHORIZER, function), authorizer=Authorizer(AUTHORIZER), routes=()
    )
