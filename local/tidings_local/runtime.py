"""`LocalRuntime`: the whole local emulation wired together, for the CLI and for tests.

Start order, so that `/healthz` is truthful: the HTTP port opens first (answering 503), then
moto is provisioned from the declaration, the demo data is loaded, moto's server starts for the
workers, every function's first worker loads (its cold start, all in parallel), the event
sources start (stream and queue pollers, schedules), and only then `/healthz` answers 200.

    async with LocalRuntime(port=0, demo=True) as runtime:
        ...  # runtime.ws_url, runtime.url, runtime.stats.snapshot()

Each function's workers get exactly the environment CDK gives it
(`tidings_infra.packaging.lambda_environment`) plus what Lambda sets, their own credentials and
the endpoint of moto's server; see `function_environment` below for what the local runtime
changes. The runtime's own process keeps the tables' and queues' variables too
(`/_local/sessions` and `/_local/reindex` run the shared code here), and restores its
environment on `stop()`. moto is process-global, so only one runtime may run per process at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tidings.kernel.declaration import (
    Application,
    Bucket,
    Function,
    Queue,
    SearchIndex,
    Secret,
    Table,
)
from tidings_infra.cors import CorsPolicy
from tidings_infra.packaging import lambda_environment
from tidings_local import faults as fault_injection
from tidings_local import schedules as scheduling
from tidings_local.apigw import API_ID, STAGE
from tidings_local.aws import ACCOUNT_ID, LocalAws, Provisioned, queue_names, region
from tidings_local.bucket_events import BucketNotifications
from tidings_local.data_dir import SNAPSHOT_SECONDS, DataDir, State, capture, restore
from tidings_local.faults import Faults
from tidings_local.gateway import Gateway
from tidings_local.iam import Policies
from tidings_local.keys import dev_signing_key
from tidings_local.lambdas import MAX_WORKERS_PER_FUNCTION, Lambdas, shared_template
from tidings_local.log import logger
from tidings_local.moto_patches import STATE_CHANGES, on_request, peek_queue, queue_depth, wake
from tidings_local.moto_server import MotoServer
from tidings_local.queues import QueuePoller
from tidings_local.schedules import Scheduler
from tidings_local.stats import Stats
from tidings_local.streams import PollerSettings, StreamPoller

if TYPE_CHECKING:
    from tidings_local.seed import Seed  # pydantic models: loaded only with a seed

SHUTDOWN_SECONDS = 2.0

# Set for every function unless the developer set them: no X-Ray daemon locally, and no EMF
# metric blobs flooding stdout.
HANDLER_ENV_DEFAULTS = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    # Lets a local push service on 127.0.0.1 (the e2e test's receiver) take Web Push over http.
    "PUSH_ALLOW_LOOPBACK_HTTP": "true",
    # No GuardDuty here: the local scanner flags the EICAR test file (docs/local-runtime.md).
    "ATTACHMENTS_SCANNER": "eicar",
}
# The developer's own value of these reaches every function (LOG_LEVEL=DEBUG make dev).
DEVELOPER_SETTINGS = ("LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_DEV", "POWERTOOLS_DEBUG")
LOCAL_VAPID_SUBJECT = "mailto:tidings-dev@localhost"


def _default_application() -> Application:
    from tidings.app import APPLICATION

    return APPLICATION


def _default_secret_values() -> dict[str, str]:
    """The JWT key, and a VAPID key pair generated for this run (Web Push works locally; a
    browser subscribed during one run must subscribe again in the next). FCM and APNs keep
    their placeholders: they are not configured locally."""
    from tidings.notifications.declaration import PUSH_VAPID
    from tidings.notifications.vapid import VapidConfig
    from tidings.sessions.declaration import JWT_SIGNING_KEY

    return {
        JWT_SIGNING_KEY.id: dev_signing_key(),
        PUSH_VAPID.id: VapidConfig.generate(LOCAL_VAPID_SUBJECT).to_secret(),
    }


@dataclass(frozen=True)
class _LocalNames:
    """Where the declared resources are locally (`tidings.kernel.declaration.PhysicalNames`)."""

    provisioned: Provisioned
    url: str
    search_db_path: str

    def table_name(self, table: Table) -> str:
        return self.provisioned.environment[table.env_var]

    def secret_arn(self, secret: Secret) -> str:
        return self.provisioned.secret_arns[secret.id]

    def queue_url(self, queue: Queue) -> str:
        return self.provisioned.queue_urls[queue.id]

    def callback_url(self) -> str:
        return self.url

    def search_endpoint(self, index: SearchIndex) -> str:
        return self.search_db_path

    def bucket_name(self, bucket: Bucket) -> str:
        return self.provisioned.bucket_names[bucket.id]


class LocalRuntime:
    """API Gateway, Lambda, DynamoDB (+ Streams), SQS and Secrets Manager on one machine."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        demo: bool = False,
        seed: Seed | None = None,
        idle_timeout: float = 600,
        max_duration: float = 7200,
        application: Application | None = None,
        functions_dir: Path | None = None,
        secret_values: Mapping[str, str] | None = None,
        poller_settings: PollerSettings | None = None,
        max_workers: int = MAX_WORKERS_PER_FUNCTION,
        search_db_path: str | None = None,
        environment: Mapping[str, str] | None = None,
        faults: Sequence[str] = (),
        record_invocations: bool = False,
        allow_remote_local_endpoints: bool = False,
        cors: CorsPolicy | None = None,
        data_dir: Path | None = None,
    ) -> None:
        """`application` defaults to `tidings.app.APPLICATION`; `functions_dir` to the repo's
        `functions/` (or `$TIDINGS_FUNCTIONS_DIR`); `secret_values` (by secret id) to the local
        JWT signing key and a fresh VAPID key pair, other declared secrets get their placeholder
        or a random value; `port=0` picks a free port; `max_workers` caps each function's
        concurrent workers; `environment` is added to every function's environment (the
        presence durations that `tidings dev` flags shorten, for example); `faults` are
        fault-injection specs (`faults.py`), active from the start (a bad one raises
        `FaultSpecError` here); `record_invocations` keeps every invocation's event and result
        (`runtime.lambdas.invocations`, for tests);
        `allow_remote_local_endpoints` lets other hosts use the unauthenticated local-only
        endpoints (`local_only.py`); `cors` is the HTTP API's CORS policy (default: the stack's,
        every origin); `data_dir` keeps the state across restarts (`data_dir.py`; a directory
        that cannot be used raises `DataDirError` here), and the seed (or the demo) is loaded
        into it only while it is empty."""
        self.host = host
        self.port = port
        self.demo = demo
        self.seed = seed  # loaded at start; `demo` alone loads the built-in demo seed
        self.application = application or _default_application()
        self.ready = False
        self.stats = Stats()
        self.faults = Faults(
            self.stats,
            frozenset(function.id for function in self.application.functions),
            {table.id: table.default_name for table in self.application.tables},
        )
        for spec in faults:
            self.faults.add(spec)
        self._platform = ThreadPoolExecutor(max_workers=4, thread_name_prefix="platform")
        self.lambdas = Lambdas(
            self.application, self.stats, functions_dir, max_workers=max_workers, record_invocations=record_invocations
        )
        self._data = DataDir(data_dir) if data_dir is not None else None
        self._restored_state: State | None = None
        if self._data is not None:
            self._data.prepare()
            self._restored_state = self._data.load()
            search_db_path = search_db_path or str(self._data.search_db)
        values = dict(_default_secret_values() if secret_values is None else secret_values)
        if self._restored_state is not None:
            values |= self._restored_state.secrets  # tokens and push subscriptions stay valid
        self.aws = LocalAws(self.application, values)
        self.moto_server: MotoServer | None = None
        self.bucket_notifications: BucketNotifications | None = None
        self.policies: Policies | None = None
        self.gateway = Gateway(
            self.application,
            self.lambdas,
            self.stats,
            self.faults,
            idle_timeout=idle_timeout,
            max_duration=max_duration,
            is_ready=lambda: self.ready,
            activity=self.activity,
            local_routes=[
                *fault_injection.routes(self.faults, self._queue_names(), self._peek_queue),
                *scheduling.routes(self.application, self.lambdas),
            ],
            allow_remote_local_endpoints=allow_remote_local_endpoints,
            cors=cors or CorsPolicy(),
        )
        self._poller_settings = poller_settings or PollerSettings()
        self._tasks: list[asyncio.Task[None]] = []
        self._stream_pollers: list[StreamPoller] = []
        self._runner: web.AppRunner | None = None
        self._saved_env: dict[str, str] | None = None
        self._search_dir: tempfile.TemporaryDirectory[str] | None = None
        self.search_db_path = search_db_path
        self._environment = dict(environment or {})

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    @property
    def restored_state(self) -> bool:
        """True when the state was loaded from the data directory (`data_dir`)."""
        return self._restored_state is not None

    @property
    def provisioned(self) -> Provisioned:
        return self.aws.provisioned

    def _queue_names(self) -> dict[str, tuple[str, str | None]]:
        """Declared queue id -> (its name, its dead-letter queue's name or None), as provisioned."""
        return {queue.id: queue_names(self.application, queue) for queue in self.application.queues}

    def _peek_queue(self, name: str) -> list[dict[str, Any]]:
        if not self.ready:
            raise RuntimeError("the runtime is not ready")
        return peek_queue(name, ACCOUNT_ID, region())

    async def start(self) -> None:
        try:
            self._runner = web.AppRunner(self.gateway.web_app(), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port).start()
            self.port = self._runner.addresses[0][1]
            self._saved_env = dict(os.environ)
            for name, value in HANDLER_ENV_DEFAULTS.items():
                os.environ.setdefault(name, value)
            os.environ["WEBSOCKET_CALLBACK_URL"] = self.url
            os.environ.update(self._environment)
            os.environ.update({table.env_var: table.default_name for table in self.application.tables})
            os.environ.update(self._search_environment())
            # The workers' template process starts meanwhile: its imports overlap provisioning.
            template = asyncio.ensure_future(asyncio.to_thread(shared_template))
            try:
                await asyncio.get_running_loop().run_in_executor(self._platform, self._provision)
            finally:
                await template
            self.policies = Policies(self.application, self.provisioned, api_id=API_ID, stage=STAGE)
            self.gateway.policies = self.policies
            self.bucket_notifications = BucketNotifications(
                self.application,
                self.provisioned.bucket_names,
                self.provisioned.queue_urls,
                self.lambdas,
                asyncio.get_running_loop(),
            )
            self.moto_server = MotoServer(
                self.policies, self.faults, self.stats, object_created=self.bucket_notifications.object_created
            )
            await asyncio.get_running_loop().run_in_executor(self._platform, self.moto_server.start)
            environments = {function.id: self.function_environment(function) for function in self.application.functions}
            await self.lambdas.start(environments, self.faults)
            await self._start_event_sources()
        except BaseException:
            await self.stop()
            raise
        self.ready = True
        if self._data is not None:
            self._run(self._snapshots(self._data), "data")
        logger.info("runtime ready", extra={"url": self.url, "demo": self.demo})

    async def _snapshots(self, data: DataDir) -> None:
        """Saves the state within `SNAPSHOT_SECONDS` of any write, a burst of writes at once."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        unsubscribe = on_request(STATE_CHANGES, lambda: wake(loop, changed))
        try:
            while True:
                await changed.wait()
                await asyncio.sleep(SNAPSHOT_SECONDS)
                changed.clear()
                await loop.run_in_executor(self._platform, self._save_state, data)
        finally:
            unsubscribe()

    def _save_state(self, data: DataDir) -> None:
        try:
            data.save(capture(self.application))
        except OSError as exc:  # a full disk must not stop the runtime; the previous snapshot stands
            logger.error("the state could not be saved", extra={"dataDir": str(data.path), "error": str(exc)})

    def function_environment(self, function: Function) -> dict[str, str]:
        """`function`'s environment locally: what CDK sets, with the embedded search engine in
        place of OpenSearch, the local settings (`HANDLER_ENV_DEFAULTS`, the developer's
        `DEVELOPER_SETTINGS`, the runtime's `environment`), the function's own credentials, and
        moto's server as every AWS service's endpoint."""
        assert self.moto_server is not None and self.policies is not None and self.search_db_path is not None
        names = _LocalNames(self.provisioned, self.url, self.search_db_path)
        environment = lambda_environment(function, names)
        for index, _ in function.search:
            environment[index.db_path_env] = environment.pop(index.env_var)
            environment[index.engine_env] = "embedded"
        for name, value in HANDLER_ENV_DEFAULTS.items():
            environment[name] = self._saved_env.get(name, value) if self._saved_env else value
        for name in DEVELOPER_SETTINGS:
            if self._saved_env and name in self._saved_env:
                environment[name] = self._saved_env[name]
        environment.update(self._environment)
        environment.update(self.policies.role(function).credentials())
        environment["AWS_ENDPOINT_URL"] = self.moto_server.url
        return environment

    def _search_environment(self) -> dict[str, str]:
        """The embedded search engine (docs/architecture.md "Search"): one SQLite file for the
        whole runtime, empty at each start like the moto tables."""
        if self.search_db_path is None:
            self._search_dir = tempfile.TemporaryDirectory(prefix="tidings-search-")
            self.search_db_path = str(Path(self._search_dir.name) / "search.db")
        environment: dict[str, str] = {}
        for index in self.application.search_indexes:
            environment |= {index.engine_env: "embedded", index.db_path_env: self.search_db_path}
        return environment

    def _provision(self) -> None:
        provisioned = self.aws.start()
        os.environ.update(provisioned.environment)
        if self._restored_state is not None:
            restore(self.application, self._restored_state)
        elif self.seed is not None:
            from tidings_local.seed import apply_seed

            apply_seed(self.seed)
        elif self.demo:
            from tidings_local.demo import load_demo_data

            load_demo_data()

    async def _start_event_sources(self) -> None:
        """One task per stream subscription, queue subscription and schedule."""
        for subscription in self.application.stream_subscriptions:
            stream_arn = self.provisioned.stream_arns.get(subscription.table.id)
            if stream_arn is None:
                raise ValueError(
                    f"{subscription.function.id} subscribes to {subscription.table.id}, which has no stream"
                )
            poller = StreamPoller(
                subscription,
                stream_arn,
                self._queue_url(subscription.on_failure),
                self.lambdas,
                self._platform,
                self._poller_settings,
            )
            await poller.open()
            self._stream_pollers.append(poller)
            self._run(poller.run(), f"stream:{subscription.function.id}")
        for queue_subscription in self.application.queue_subscriptions:
            queue_poller = QueuePoller(
                queue_subscription,
                self._queue_url(queue_subscription.queue),
                self.provisioned.queue_arns[queue_subscription.queue.id],
                self.lambdas,
                self._platform,
                self._poller_settings,
            )
            self._run(queue_poller.run(), f"queue:{queue_subscription.function.id}")
        for schedule in self.application.schedules:
            scheduler = Scheduler(self.application, schedule, self.lambdas, self._queue_url(schedule.on_failure))
            self._run(scheduler.run(), f"schedule:{schedule.id}")

    def activity(self) -> dict[str, Any]:
        """What is still to run (`GET /_local/stats` → `activity`): invocations in flight, stream
        records not yet handed to their consumer (by function), and the messages each consumed
        queue holds, delayed and in flight included (by queue id). A benchmark waits for the
        work of its messages to drain before it reads the counters."""
        if not self.ready:
            return {"invocationsInFlight": self.lambdas.in_flight, "streamRecordsPending": {}, "queueMessages": {}}
        queues = {
            subscription.queue.id: queue_depth(
                queue_names(self.application, subscription.queue)[0], ACCOUNT_ID, region()
            )
            for subscription in self.application.queue_subscriptions
        }
        streams = {poller.subscription.function.id: poller.pending for poller in self._stream_pollers}
        return {
            "invocationsInFlight": self.lambdas.in_flight,
            "streamRecordsPending": streams,
            "queueMessages": dict(sorted(queues.items())),
        }

    def _queue_url(self, queue: Queue) -> str:
        url = self.provisioned.queue_urls.get(queue.id)
        if url is None:
            raise ValueError(f"the queue {queue.id} is used but not declared in the application's queues")
        return url

    def _run(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self) -> None:
        """Closes sockets, stops pollers and workers, stops moto and restores the env."""
        self.ready = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gateway.close_all(), SHUTDOWN_SECONDS)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._stream_pollers.clear()
        await self.lambdas.stop()
        if self._data is not None and self.aws.provisioned.queue_urls:
            self._save_state(self._data)  # after the last invocation: nothing is lost between snapshots
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._platform.shutdown(wait=False, cancel_futures=True)
        if self.moto_server is not None:
            self.moto_server.stop()
            self.moto_server = None
        self.aws.stop()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None
        if self._search_dir is not None:
            self._search_dir.cleanup()
            self._search_dir = None
            self.search_db_path = None

    async def __aenter__(self) -> LocalRuntime:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


__all__ = ["LocalRuntime", "PollerSettings"]
