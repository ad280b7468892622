"""Versioned SQL migrations: ``NNNN_name.up.sql`` applies a version, ``NNNN_name.down.sql`` rolls it back.

Each migration runs in its own transaction together with its row in ``schema_migrations``,
so a failed migration leaves the database exactly as it was. Migrations run as the schema's owner; afterwards
the application's role, where the server has one, is granted what the product needs and nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg

from infra.settings import APP_ROLE

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.up\.sql$")

# What the application's role (the bot, the worker, the CLI) may do, granted after every migration by the owner who
# runs them: rows, sequences and functions, never the schema. Default privileges cover what later migrations create
# (and are copied with a database, as the tests' are from their template). The audit log is written, never
# rewritten: the one change, forgetting an erased user, is forget_audit_subject's, which runs as the owner
# (migration 0010), so a session can no longer turn the trigger's exception on for itself. A server without that
# role (one role for everything, as external servers were set up before) is left as it is.
APP_PRIVILEGES: Final = f"""
DO $$
BEGIN
    IF to_regrole('{APP_ROLE}') IS NULL THEN
        RETURN;
    END IF;
    GRANT USAGE ON SCHEMA public TO {APP_ROLE};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO {APP_ROLE};
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM {APP_ROLE};
    IF to_regclass('audit_log') IS NOT NULL THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {APP_ROLE};
    END IF;
END $$
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: Path
    down: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations in order; every ``up`` must have its ``down``."""
    found: list[Migration] = []
    for up in sorted(directory.glob("*.up.sql")):
        match = _NAME.match(up.name)
        if match is None:
            raise ValueError(f"migration file {up.name} does not match NNNN_name.up.sql")
        down = up.with_name(up.name.replace(".up.sql", ".down.sql"))
        if not down.exists():
            raise ValueError(f"migration {up.name} has no rollback {down.name}")
        found.append(Migration(int(match.group(1)), match.group(2), up, down))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


async def current_version(conn: asyncpg.Connection) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(version)


async def migrate(conn: asyncpg.Connection, target: int | None = None) -> int:
    """Move the schema to ``target`` (default: newest), up or down. Returns the new version."""
    migrations = discover()
    target = len(migrations) if target is None else target
    if not 0 <= target <= len(migrations):
        raise ValueError(f"target version {target} outside 0..{len(migrations)}")
    version = await current_version(conn)
    for migration in migrations:
        if version < migration.version <= target:
            async with conn.transaction():
                await conn.execute(migration.up.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
                )
    for migration in reversed(migrations):
        if target < migration.version <= version:
            async with conn.transaction():
                await conn.execute(migration.down.read_text())
                await conn.execute("DELETE FROM schema_migrations WHERE version = $1", migration.version)
    await conn.execute(APP_PRIVILEGES)
    return await current_version(conn)
