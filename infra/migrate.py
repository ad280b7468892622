"""Versioned SQL migrations: ``NNNN_name.up.sql`` applies a version, ``NNNN_name.down.sql`` rolls it back.

Each migration runs in its own transaction together with its row in ``schema_migrations``,
so a failed migration leaves the database exactly as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.up\.sql$")


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
    return await current_version(conn)
