"""The suite is hermetic: a developer's DATABASE_URL, REDIS_URL, ``.env`` file, token or health ports never reach
the tests, the servers they empty or the processes they start (``tests/hermetic.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from infra.connections import create_redis
from infra.settings import Settings
from tests import hermetic
from tests.test_end_to_end import bot_environment
from tools import stack
from tools.emulator import BotAPIEmulator

DECOY_KEY = "decoy:somebody-elses-data"


@pytest.fixture
async def decoy_redis(tmp_path: Path) -> AsyncIterator[str]:
    """A Redis this session did not start as its own (a developer's), holding a key; yields its URL."""
    settings = hermetic.embedded_settings(tmp_path / "decoy", DIANA_REDIS_PORT=stack.free_port())
    await asyncio.to_thread(stack.start_redis, settings)  # not registered: none of the session's servers
    url = settings.redis_dsn
    client = create_redis(url)
    try:
        await client.set(DECOY_KEY, "keep me")
    finally:
        await client.aclose()
    try:
        yield url
    finally:
        await asyncio.to_thread(stack.stop_redis, settings)


async def decoy_keeps_its_key(url: str) -> bool:
    client = create_redis(url)
    try:
        return bool(await client.get(DECOY_KEY) == "keep me")
    finally:
        await client.aclose()


@pytest.fixture
async def decoy_postgres() -> AsyncIterator[tuple[str, list[str]]]:
    """A listener standing for a developer's Postgres; yields its URL and who connected (it answers nobody)."""
    contacts: list[str] = []

    async def contacted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        contacts.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(contacted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/diana", contacts
    finally:
        server.close()
        await server.wait_closed()


INNER_TESTS = """
import asyncpg


async def test_the_redis_fixture(redis):
    await redis.set("inner", "1")


async def test_the_database_fixture(database):
    conn = await asyncpg.connect(database)
    await conn.close()
"""


def _stop_leftovers(folder: Path) -> None:
    """Servers a failed inner session left running under ``folder`` (a fixture that failed before its yield)."""
    for pid_file in folder.rglob("postmaster.pid"):
        stack.stop_postgres(hermetic.embedded_settings(pid_file.parent.parent))
    for pid_file in folder.rglob("redis.pid"):
        stack.stop_redis(hermetic.embedded_settings(pid_file.parent.parent))


async def test_a_session_on_a_machine_configured_for_other_servers_touches_none_of_them(
    tmp_path: Path, decoy_redis: str, decoy_postgres: tuple[str, list[str]]
) -> None:  # fmt: skip
    """A whole session (the shared fixtures, from ``tests/conftest.py``), run where REDIS_URL names a developer's
    Redis and a ``.env`` in the working directory names a developer's Postgres: its ``redis`` fixture empties its
    own Redis, its ``database`` fixture creates and drops on its own Postgres, and the developer's are untouched."""
    postgres_url, contacts = decoy_postgres
    here = tmp_path / "developer-checkout"
    here.mkdir()
    (here / ".env").write_text(f"DATABASE_URL={postgres_url}\nREDIS_URL={decoy_redis}\nTELEGRAM_BOT_TOKEN=42:REAL\n")
    (here / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "REDIS_URL": decoy_redis, "PYTHONPATH": str(hermetic.REPO_ROOT)}
    basetemp = tmp_path / "inner"
    inner = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
        "-c", str(hermetic.REPO_ROOT / "pyproject.toml"), "--rootdir", str(here), "--basetemp", str(basetemp),
        "-q", "test_inner.py", cwd=here, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(inner.communicate(), timeout=240)
    finally:
        if inner.returncode is None:
            inner.kill()
            await inner.wait()
        await asyncio.to_thread(_stop_leftovers, basetemp)
    report = output.decode(errors="replace")[-3000:]
    assert await decoy_keeps_its_key(decoy_redis), f"the developer's Redis was emptied:\n{report}"
    assert contacts == [], f"the developer's Postgres was contacted:\n{report}"
    assert inner.returncode == 0, f"the session on its own servers failed:\n{report}"
    assert "2 passed" in report


# What ``diana bot`` would run with, read as it reads it: its environment, and a .env where it runs.
PROBE = """
import json, os
from infra.settings import Settings
settings = Settings()
print(json.dumps({**json.loads(settings.model_dump_json(by_alias=True)), "cwd": os.getcwd(),
                  "dsns": [settings.postgres_dsn, settings.redis_dsn, settings.temporal_target]}))
"""


async def test_a_diana_process_gets_the_tests_values_and_nothing_of_the_machines(
    monkeypatch: pytest.MonkeyPatch, emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str,
    database: str, redis_server: str, decoy_redis: str, decoy_postgres: tuple[str, list[str]],
) -> None:  # fmt: skip
    machine = {"DATABASE_URL": decoy_postgres[0], "REDIS_URL": decoy_redis, "TEMPORAL_ADDRESS": "127.0.0.1:1",
               "DATABASE_PASSWORD": "a-developers-password", "TELEGRAM_BOT_TOKEN": "42:REAL", "ADMIN_IDS": "42",
               "TEMPORAL_API_KEY": "tmprl-key", "TEMPORAL_NAMESPACE": "prod", "OTEL_EXPORTER": "otlp",
               "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "BOT_HEALTH_PORT": "9101",
               "WORKER_HEALTH_PORT": "9102", "VIP_CHANNEL_ID": "-100777", "WORKFLOW_SANDBOX": "false",
               "DIANA_DATA_DIR": str(hermetic.REPO_ROOT / ".diana")}  # fmt: skip
    for name, value in machine.items():
        monkeypatch.setenv(name, value)
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server)
    done = await asyncio.to_thread(hermetic.run_diana, ["-c", PROBE], env, capture_output=True, text=True,
                                   timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["dsns"] == [database, redis_server, temporal_env.client.service_client.config.target_host]
    for name in ("DATABASE_PASSWORD", "TELEGRAM_BOT_TOKEN", "TEMPORAL_API_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "VIP_CHANNEL_ID"):  # fmt: skip
        assert seen[name] is None, f"{name} came from the machine"
    assert (seen["ADMIN_IDS"], seen["TEMPORAL_NAMESPACE"], seen["OTEL_EXPORTER"]) == ("", "default", "none")
    assert seen["WORKFLOW_SANDBOX"] is True
    assert Path(seen["cwd"]) == hermetic.working_directory() and not (Path(seen["cwd"]) / ".env").exists()
    assert Path(seen["DIANA_DATA_DIR"]).is_relative_to(hermetic.working_directory())
    ports = {seen["BOT_HEALTH_PORT"], seen["WORKER_HEALTH_PORT"]}
    fixed = {Settings.model_fields["bot_health_port"].default, Settings.model_fields["worker_health_port"].default}
    assert len(ports) == 2 and not ports & fixed, "health ports of its own, never the fixed defaults"
    assert decoy_postgres[1] == [] and await decoy_keeps_its_key(decoy_redis)


def test_health_ports_are_free_and_never_one_already_given() -> None:
    for _ in range(20):
        webhook = stack.free_port()
        env = hermetic.process_environment(WEBHOOK_LISTEN_PORT=str(webhook))
        ports = {env["BOT_HEALTH_PORT"], env["WORKER_HEALTH_PORT"], str(webhook)}
        assert len(ports) == 3, ports
    given = hermetic.process_environment(BOT_HEALTH_PORT="1234")
    assert given["BOT_HEALTH_PORT"] == "1234" and given["WORKER_HEALTH_PORT"] != "1234"


def test_the_machines_variables_are_removed_and_the_suites_kept() -> None:
    environ = {"PATH": "/bin", "HOME": "/root", "DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r/0",
               "TEMPORAL_ADDRESS": "t:7233", "TELEGRAM_BOT_TOKEN": "42:REAL", "WEBHOOK_URL": "https://x",
               "OTEL_EXPORTER": "otlp", "ADMIN_IDS": "1", "VIP_CHANNEL_ID": "-1", "DIANA_POSTGRES_PORT": "5432",
               "BOT_HEALTH_PORT": "9101", "LOG_LEVEL": "DEBUG", "PGHOST": "db", "WORKFLOW_SANDBOX": "false",
               "DIANA_RECORD_HISTORIES": "1"}  # fmt: skip
    removed = hermetic.scrub(environ)
    assert environ == {"PATH": "/bin", "HOME": "/root", **hermetic.SUITE_VALUES, "DIANA_RECORD_HISTORIES": "1"}
    assert environ["WORKFLOW_SANDBOX"] == "true" and environ["DIANA_MASTER_KEY"] == hermetic.SUITE_VALUES[
        "DIANA_MASTER_KEY"], "the suite's own master key, never the machine's"  # fmt: skip
    assert "DATABASE_URL" in removed and "PGHOST" in removed and "PATH" not in removed


async def test_the_guard_refuses_a_server_the_session_did_not_start(
    monkeypatch: pytest.MonkeyPatch, redis_server: str, postgres_server: str, decoy_redis: str,
    decoy_postgres: tuple[str, list[str]],
) -> None:  # fmt: skip
    assert hermetic.own_redis(redis_server) == redis_server
    assert hermetic.own_postgres(postgres_server) == postgres_server
    with pytest.raises(pytest.fail.Exception, match="HERMETIC GUARD"):
        hermetic.own_redis(decoy_redis)
    with pytest.raises(pytest.fail.Exception, match="HERMETIC GUARD"):
        hermetic.own_postgres(decoy_postgres[0])
    with pytest.raises(pytest.fail.Exception, match="HERMETIC GUARD"):
        hermetic.process_environment(DATABASE_URL=decoy_postgres[0])
    decoy = create_redis(decoy_redis)
    try:
        with pytest.raises(pytest.fail.Exception, match="HERMETIC GUARD"):
            await hermetic.flush_own_redis(decoy)
    finally:
        await decoy.aclose()
    # The session's own Redis, were it another process than the one started: refused, nothing emptied.
    port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    monkeypatch.setitem(hermetic.SERVERS.redis, port, -1)
    own = create_redis(redis_server)
    try:
        await own.set("still-here", "1")
        with pytest.raises(pytest.fail.Exception, match="HERMETIC GUARD"):
            await hermetic.flush_own_redis(own)
        assert await own.get("still-here") == "1"
        await own.delete("still-here")
    finally:
        await own.aclose()
    assert await decoy_keeps_its_key(decoy_redis)
    assert decoy_postgres[1] == []
