"""The suite touches only what it started: nothing of the machine it runs on reaches the tests' servers.

A developer's shell or ``.env`` may name real servers (``DATABASE_URL``, ``REDIS_URL``, ``TEMPORAL_ADDRESS``), a
real bot token or a collector: the tests read none of them. At import (``tests/conftest.py``) Diana's variables
leave this process's environment; every ``Settings`` the tests build passes ``_env_file=None`` and the URLs and
ports of the servers the session started; every Diana process the tests start gets an environment of the
test's own values, free ports for what it serves, and a working directory without a ``.env``. Before a fixture creates,
drops or empties anything, ``SERVERS`` says whether this session started that server, and the test fails
loudly if it did not.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import asyncpg
import pytest
from redis.asyncio import Redis

from infra.settings import Settings
from tools import stack

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
# Families of variables that configure Diana or point a client at a server (libpq's PG* included: asyncpg reads
# them), besides every name Settings reads.
MACHINE_PREFIXES = ("DIANA_", "DATABASE_", "REDIS_", "TEMPORAL_", "TELEGRAM_", "WEBHOOK_", "OTEL_", "ADMIN_", "VIP_",
                    "PG")  # fmt: skip
SETTINGS_VARIABLES = frozenset(info.alias for info in Settings.model_fields.values() if info.alias)
# What every Diana the tests run is set to, whatever the machine says (see the README's WORKFLOW_SANDBOX).
# The master key is the suite's own (never a real one), shared by the tests' clients and the processes they start.
SUITE_VALUES: Mapping[str, str] = {"WORKFLOW_SANDBOX": "true",
                                   "DIANA_MASTER_KEY": "ZGlhbmEtdGVzdC1zdWl0ZS1tYXN0ZXIta2V5LTMyYnk="}  # fmt: skip
# The suite's own switches, read by tests and by no Diana process (see the README's "Recorded journeys").
SUITE_SWITCHES = frozenset({"DIANA_RECORD_HISTORIES"})
# The ports a Diana process serves on besides its webhook: probes and metrics, and the worker's codec endpoint.
SERVED_PORTS = ("BOT_HEALTH_PORT", "WORKER_HEALTH_PORT", "CODEC_PORT")


def is_machine_variable(name: str) -> bool:
    """A variable of the machine's that could point the tests at a server, a token or a port they did not pick."""
    upper = name.upper()
    if upper in SUITE_SWITCHES:
        return False
    return upper in SETTINGS_VARIABLES or upper.startswith(MACHINE_PREFIXES)


def scrub(environ: MutableMapping[str, str]) -> list[str]:
    """Remove the machine's Diana variables from ``environ`` and set the suite's own; returns the names removed."""
    removed = sorted(name for name in environ if is_machine_variable(name) and name not in SUITE_VALUES)
    for name in removed:
        del environ[name]
    environ.update(SUITE_VALUES)
    return removed


def settings(**values: Any) -> Settings:
    """Settings from ``values`` alone: no ``.env`` (the environment holds none of Diana's variables, see ``scrub``)."""
    return Settings(_env_file=None, **values)


def embedded_settings(data_dir: Path, **ports: int) -> Settings:
    """Settings for servers the tests start themselves under ``data_dir``, on the ``DIANA_*_PORT`` given: no URL of
    an external server, whatever the environment or a ``.env`` file says."""
    return settings(DIANA_DATA_DIR=data_dir, DATABASE_URL=None, DATABASE_PASSWORD=None, REDIS_URL=None,
                    TEMPORAL_ADDRESS=None, **ports)  # fmt: skip


# The servers this session started ----------------------------------------------------------------------------


@dataclass
class SessionServers:
    """Every server started in this session (the shared ones and those a test starts for itself), by port."""

    postgres: dict[int, Path] = field(default_factory=dict)  # port -> its data directory
    redis: dict[int, int] = field(default_factory=dict)  # port -> the pid of its server
    temporal: set[str] = field(default_factory=set)  # host:port


SERVERS = SessionServers()


def foreign(what: str, where: str) -> NoReturn:
    pytest.fail(f"HERMETIC GUARD: a test was about to touch {what} at {where}, which this session did not start "
                f"(started: {SERVERS}). A DATABASE_URL / REDIS_URL / TEMPORAL_ADDRESS of the machine, or a .env "
                f"file, must never reach the tests.", pytrace=False)  # fmt: skip


def _embedded_only(settings: Settings) -> None:
    for name, value in (("DATABASE_URL", settings.database_url), ("REDIS_URL", settings.redis_url),
                        ("TEMPORAL_ADDRESS", settings.temporal_address)):  # fmt: skip
        if value:
            foreign(f"an external server ({name})", "the settings the tests start servers with")


def start_postgres(settings: Settings, *, fast_unsafe: bool = True) -> bool:
    """``stack.start_postgres`` on a port nobody serves yet, then checked to be the server started (its data)."""
    _embedded_only(settings)
    endpoint = stack.postgres_endpoint(settings)
    if endpoint.answers():
        foreign("a Postgres already running", f"{endpoint.host}:{endpoint.port}")
    stack.start_postgres(settings, fast_unsafe=fast_unsafe)
    made = SERVERS.postgres[settings.embedded_postgres_port] = (settings.data_dir / "postgres").resolve()
    # As the owner: the application's role may not read the server's settings.
    served = Path(asyncio.run(_data_directory(settings.postgres_owner_dsn))).resolve()
    if served != made:
        foreign(f"a Postgres serving {served}", f"{endpoint.host}:{endpoint.port}")
    return True


def start_redis(settings: Settings) -> bool:
    """``stack.start_redis`` on a port nobody serves yet; the server's pid is what ``flush_own_redis`` checks."""
    _embedded_only(settings)
    if not stack.start_redis(settings):
        endpoint = stack.redis_endpoint(settings)
        foreign("a Redis already running", f"{endpoint.host}:{endpoint.port}")
    SERVERS.redis[settings.embedded_redis_port] = int((settings.data_dir / "redis" / "redis.pid").read_text())
    return True


def own_postgres(dsn: str) -> str:
    """``dsn``, once it names a Postgres this session started."""
    url = urlsplit(dsn)
    if url.hostname != LOOPBACK or url.port not in SERVERS.postgres:
        foreign("a Postgres", f"{url.hostname}:{url.port}")
    return dsn


async def _data_directory(dsn: str) -> str:
    """Where the server answering ``dsn`` keeps its data: the folder this session made, or another server's."""
    conn = await asyncpg.connect(own_postgres(dsn))
    try:
        return str(await conn.fetchval("SHOW data_directory"))
    finally:
        await conn.close()


def own_redis(dsn: str) -> str:
    """``dsn``, once it names a Redis this session started."""
    url = urlsplit(dsn)
    if url.scheme != "redis" or url.hostname != LOOPBACK or url.port not in SERVERS.redis:
        foreign("a Redis", f"{url.scheme}://{url.hostname}:{url.port}")
    return dsn


async def flush_own_redis(client: Redis) -> None:
    """FLUSHDB, once ``client`` reaches the very Redis process this session started (its port and its pid)."""
    where = client.connection_pool.connection_kwargs
    if "path" in where:  # a unix socket: the session starts none
        foreign("a Redis", f"unix:{where['path']}")
    host, port = where.get("host"), where.get("port")
    if host != LOOPBACK or port not in SERVERS.redis:
        foreign("a Redis", f"{host}:{port}")
    started = SERVERS.redis[port]
    server = await client.info("server")
    if (server.get("tcp_port"), server.get("process_id")) != (port, started):
        foreign(f"a Redis (pid {server.get('process_id')}, not {started})", f"{host}:{port}")
    await client.flushdb()


def register_temporal(target: str) -> str:
    SERVERS.temporal.add(target)
    return target


def own_temporal(target: str) -> str:
    if target not in SERVERS.temporal:
        foreign("a Temporal server", target)
    return target


# Diana as its own process --------------------------------------------------------------------------------------


@functools.cache
def working_directory() -> Path:
    """Where the tests run Diana's processes: pydantic-settings reads ``.env`` from the working directory, so not
    the repository's (a developer's ``.env`` lives there); removed when the session ends."""
    folder = Path(tempfile.mkdtemp(prefix="diana-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def process_environment(**values: str) -> dict[str, str]:
    """The environment of a Diana process the tests start: the machine's minus every Diana variable, the suite's
    values, free ports for what it serves (unless given), and ``values``; servers named there must be the session's own."""
    env = {name: value for name, value in os.environ.items() if not is_machine_variable(name)}
    env.update(SUITE_VALUES)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH"))))
    env["DIANA_DATA_DIR"] = str(working_directory() / "data")
    # Picked together, and never a port ``values`` names already (a webhook listener's, picked before).
    taken = {value for name, value in values.items() if name.endswith("_PORT")}
    free = [str(port) for port in stack.free_ports(len(SERVED_PORTS) + len(taken)) if str(port) not in taken]
    env.update(zip(SERVED_PORTS, free, strict=False))
    env.update(values)
    if "DATABASE_URL" in values:
        own_postgres(values["DATABASE_URL"])
    if "REDIS_URL" in values:
        own_redis(values["REDIS_URL"])
    if "TEMPORAL_ADDRESS" in values:
        own_temporal(values["TEMPORAL_ADDRESS"])
    return env


def diana_process(args: Sequence[str], env: Mapping[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    """``python <args>`` (``-m tools.cli bot``...) with ``env``, from the working directory without a ``.env``."""
    return subprocess.Popen([sys.executable, *args], env=dict(env), cwd=working_directory(), **popen)


def run_diana(args: Sequence[str], env: Mapping[str, str], **run: Any) -> subprocess.CompletedProcess[Any]:
    """``diana_process``, waited for (``subprocess.run``)."""
    return subprocess.run([sys.executable, *args], env=dict(env), cwd=working_directory(), **run)
