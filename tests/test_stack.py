"""The embedded stack: idempotent start, clean stop, journeys that survive a Temporal restart, and servers that
ask every client for a generated password."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from infra.settings import APP_ROLE, EmbeddedSecret, Settings, get_settings
from tests import hermetic
from tests.helpers import new_user_id
from tools import stack
from tools.cli import main as diana
from workflows.contracts import JourneyInput
from workflows.journey import JourneyWorkflow, journey_id


def settings_in(folder: Path) -> Settings:
    temporal, ui, postgres, redis = stack.free_ports(4)
    return hermetic.embedded_settings(folder, DIANA_TEMPORAL_PORT=temporal, DIANA_TEMPORAL_UI_PORT=ui,
                                      DIANA_POSTGRES_PORT=postgres, DIANA_REDIS_PORT=redis)  # fmt: skip


async def test_temporal_keeps_journeys_across_a_restart(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    user_id = new_user_id()
    assert stack.start_temporal(settings) is True
    try:
        assert stack.start_temporal(settings) is False, "a second start reuses the running server"
        # The Web UI decodes journeys through the worker's codec endpoint (payloads are encrypted in Temporal).
        async with aiohttp.ClientSession() as http, http.get(f"{settings.temporal_ui_url}/api/v1/settings") as answer:
            ui = await answer.json()
        assert ui["Codec"]["Endpoint"] == settings.codec_endpoint == f"http://127.0.0.1:{settings.codec_port}"
        client = await Client.connect(settings.temporal_target, data_converter=pydantic_data_converter)
        async with Worker(client, task_queue="restart", workflows=[JourneyWorkflow]):
            await client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=user_id), id=journey_id(user_id),
                                        task_queue="restart")  # fmt: skip
        assert stack.stop_temporal(settings) is True
        assert not stack.temporal_endpoint(settings).answers()

        stack.start_temporal(settings)
        client = await Client.connect(settings.temporal_target, data_converter=pydantic_data_converter)
        description = await client.get_workflow_handle(journey_id(user_id)).describe()
        assert description.status is not None and description.status.name == "RUNNING"
        assert (tmp_path / "temporal" / "temporal.db").exists()
    finally:
        stack.stop_temporal(settings)


def test_redis_up_is_idempotent_and_down_stops_it(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert stack.start_redis(settings) is True
    try:
        assert stack.start_redis(settings) is False
        assert stack.redis_endpoint(settings).answers()
    finally:
        assert stack.stop_redis(settings) is True
    assert not stack.redis_endpoint(settings).answers()
    assert stack.stop_redis(settings) is False, "stopping twice is harmless"


def test_cli_refuses_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        diana(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        diana(["migrate", "--to", "two"])


def test_diana_up_twice_then_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The CLI path a newcomer takes: `diana up` starts everything, again reuses it, `down` stops it."""
    monkeypatch.chdir(tmp_path)  # the CLI reads .env from here: none, the suite's servers only
    ports = stack.free_ports(4)
    for name, value in (
        ("DIANA_DATA_DIR", str(tmp_path)),
        ("DIANA_TEMPORAL_PORT", str(ports[0])),
        ("DIANA_TEMPORAL_UI_PORT", str(ports[1])),
        ("DIANA_POSTGRES_PORT", str(ports[2])),
        ("DIANA_REDIS_PORT", str(ports[3])),
    ):
        monkeypatch.setenv(name, value)
    for name in ("TEMPORAL_ADDRESS", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        assert diana(["up"]) == 0
        first = capsys.readouterr().out
        assert first.count("started") == 3 and "Temporal UI: http://127.0.0.1:" in first
        assert diana(["up"]) == 0
        assert capsys.readouterr().out.count("already running") == 3
        assert diana(["status"]) == 0
        assert capsys.readouterr().out.count("answers") == 3
    finally:
        assert diana(["down"]) == 0
        get_settings.cache_clear()
    assert capsys.readouterr().out.count(": stopped") == 3
    assert diana(["down"]) == 0
    assert capsys.readouterr().out.count("was not running") == 3
    assert (tmp_path / "postgres" / "PG_VERSION").exists() and (tmp_path / "temporal" / "temporal.db").exists()


def test_cli_explains_an_unreachable_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{stack.free_port()}/diana")
    get_settings.cache_clear()
    try:
        assert diana(["migrate"]) == 1
    finally:
        get_settings.cache_clear()
    assert "cannot reach a server" in capsys.readouterr().err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def passwords(settings: Settings, *names: EmbeddedSecret) -> dict[EmbeddedSecret, str | None]:
    return {name: settings.embedded_password(name) for name in names}


async def refused(dsn: str) -> type[BaseException]:
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.PostgresError as error:
        return type(error)
    await conn.close()
    pytest.fail(f"connected without the right password: {dsn.split('@')[0].split(':')[1]}@…")


async def test_embedded_postgres_asks_every_role_for_its_generated_password(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    port = settings.embedded_postgres_port
    await asyncio.to_thread(hermetic.start_postgres, settings)
    try:
        generated = passwords(settings, "postgres-owner", "postgres-app")
        assert all(generated.values()) and len(set(generated.values())) == 2
        for name in generated:
            assert mode(settings.secret_file(name)) == 0o600, "only their owner may read the passwords"
        assert mode(settings.secret_file("postgres-owner").parent) == 0o700
        assert "trust" not in (tmp_path / "postgres" / "pg_hba.conf").read_text()

        # Nobody gets in without the role's password: not the owner, not the application's role.
        assert await refused(f"postgresql://postgres@127.0.0.1:{port}/diana") is asyncpg.InvalidPasswordError
        assert await refused(f"postgresql://{APP_ROLE}@127.0.0.1:{port}/diana") is asyncpg.InvalidPasswordError
        assert await refused(f"postgresql://{APP_ROLE}:guess@127.0.0.1:{port}/diana") is asyncpg.InvalidPasswordError
        # What Diana connects as is the application's role, which may not do what a superuser does.
        assert settings.postgres_dsn.startswith(f"postgresql://{APP_ROLE}:")
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
            for statement in ("CREATE ROLE intruder SUPERUSER", "ALTER ROLE postgres PASSWORD 'x'",
                              "UPDATE audit_log SET actor = 'x'", "SHOW data_directory"):  # fmt: skip
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
            assert await conn.fetchval("SELECT count(*) FROM users") == 0, "its rows are the role's"
        finally:
            await conn.close()

        # Stopped and started again on the same data folder: the same passwords, and both roles still get in.
        assert await asyncio.to_thread(stack.stop_postgres, settings)
        assert await asyncio.to_thread(hermetic.start_postgres, settings)
        assert passwords(settings, "postgres-owner", "postgres-app") == generated
        for dsn in (settings.postgres_dsn, settings.postgres_owner_dsn):
            conn = await asyncpg.connect(dsn)
            await conn.close()
    finally:
        await asyncio.to_thread(stack.stop_postgres, settings)


async def test_a_postgres_data_folder_from_before_passwords_is_secured_on_the_next_up(tmp_path: Path) -> None:
    """A folder made when the embedded Postgres trusted every loopback connection (no password files): the next
    ``diana up`` gives the owner a password, adds the application's role and stops trusting, keeping the data."""
    settings = settings_in(tmp_path)
    pgdata = tmp_path / "postgres"
    await asyncio.to_thread(hermetic.start_postgres, settings)
    try:
        conn = await asyncpg.connect(settings.postgres_owner_dsn)
        try:
            await conn.execute("INSERT INTO users (telegram_user_id, stage) VALUES (7, 'active')")
            # As the older code left it: the roles without passwords, every loopback connection trusted.
            await conn.execute(f"ALTER ROLE postgres PASSWORD NULL; DROP OWNED BY {APP_ROLE}; DROP ROLE {APP_ROLE}")
        finally:
            await conn.close()
        assert await asyncio.to_thread(stack.stop_postgres, settings)
        stack._write_server_file(pgdata / "pg_hba.conf", "host all all 127.0.0.1/32 trust\n")
        for name in ("postgres-owner", "postgres-app"):
            settings.secret_file(name).unlink()

        assert await asyncio.to_thread(hermetic.start_postgres, settings)
        assert all(passwords(settings, "postgres-owner", "postgres-app").values())
        port = settings.embedded_postgres_port
        assert await refused(f"postgresql://postgres@127.0.0.1:{port}/diana") is asyncpg.InvalidPasswordError
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            assert await conn.fetchval("SELECT stage FROM users WHERE telegram_user_id = 7") == "active"
        finally:
            await conn.close()

        # Once it asks for passwords, a lost owner's password is said so, with the way back.
        assert await asyncio.to_thread(stack.stop_postgres, settings)
        settings.secret_file("postgres-owner").unlink()
        with pytest.raises(stack.StackError, match="postgres-owner.password is gone.*replace scram-sha-256 by trust"):
            await asyncio.to_thread(stack.start_postgres, settings)
    finally:
        await asyncio.to_thread(stack.stop_postgres, settings)


def test_embedded_redis_asks_for_its_generated_password(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert stack.start_redis(settings) is True
    try:
        password = settings.embedded_password("redis")
        assert password and mode(settings.secret_file("redis")) == 0o600
        assert mode(tmp_path / "redis" / "redis.conf") == 0o600, "the server's copy too"
        stranger = redis.Redis(host="127.0.0.1", port=settings.embedded_redis_port)
        with pytest.raises(redis.exceptions.AuthenticationError):
            stranger.set("key", "value")
        stranger.close()
        own = redis.Redis.from_url(settings.redis_dsn)
        assert own.set("key", "value")
        own.close()

        assert stack.stop_redis(settings) is True
        assert stack.start_redis(settings) is True
        assert settings.embedded_password("redis") == password, "the same password after a restart"
        own = redis.Redis.from_url(settings.redis_dsn)
        assert own.ping()
        own.close()
    finally:
        stack.stop_redis(settings)


def test_a_redis_running_from_before_passwords_is_given_one_on_the_next_up(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    folder = tmp_path / "redis"
    folder.mkdir()
    # As the older code started it: no password.
    stack._spawn("redis", [str(stack._redis_binary()), "--bind", "127.0.0.1", "--port",
                           str(settings.embedded_redis_port), "--dir", str(folder)], folder)  # fmt: skip
    try:
        stack.wait_until_answers(stack.redis_endpoint(settings), 20)
        assert stack.start_redis(settings) is False, "the running server is kept"
        stranger = redis.Redis(host="127.0.0.1", port=settings.embedded_redis_port)
        with pytest.raises(redis.exceptions.AuthenticationError):
            stranger.ping()
        stranger.close()
        own = redis.Redis.from_url(settings.redis_dsn)
        assert own.ping()
        own.close()
    finally:
        assert stack.stop_redis(settings) is True
