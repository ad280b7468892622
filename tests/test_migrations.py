"""Versioned migrations on a real Postgres: up, rollback, up again; bad migration sets refused."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from infra import migrate as migrations

TABLES = {"users", "besitos_ledger", "user_achievements", "audit_log"}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows} - {"schema_migrations"}


async def test_every_migration_rolls_back_and_reapplies(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        newest = len(migrations.discover())
        assert await migrations.current_version(conn) == newest
        assert TABLES <= await tables(conn)
        for version in range(newest - 1, -1, -1):
            assert await migrations.migrate(conn, version) == version
        assert await tables(conn) == set()
        assert await migrations.migrate(conn) == newest
        assert TABLES <= await tables(conn)
    finally:
        await conn.close()


async def test_the_ledger_is_append_only(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("INSERT INTO users (telegram_user_id, stage) VALUES (1, 'active')")
        await conn.execute(
            "INSERT INTO besitos_ledger (telegram_user_id, action, amount, balance_after, idempotency_key, created_at)"
            " VALUES (1, 'daily_login', 15, 15, 'k1', now())"
        )
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE besitos_ledger SET amount = 1000")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM besitos_ledger")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO besitos_ledger (telegram_user_id, action, amount, balance_after, idempotency_key,"
                " created_at) VALUES (1, 'daily_login', 15, 30, 'k1', now())"
            )
    finally:
        await conn.close()


async def test_a_target_outside_the_known_versions_changes_nothing(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        before = await migrations.current_version(conn)
        with pytest.raises(ValueError, match="outside"):
            await migrations.migrate(conn, 99)
        assert await migrations.current_version(conn) == before
    finally:
        await conn.close()


class TestDiscovery:
    def test_a_migration_without_rollback_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "0001_first.up.sql").write_text("SELECT 1;")
        with pytest.raises(ValueError, match="no rollback"):
            migrations.discover(tmp_path)

    def test_gaps_and_bad_names_are_refused(self, tmp_path: Path) -> None:
        for name in ("0001_a.up.sql", "0001_a.down.sql", "0003_c.up.sql", "0003_c.down.sql"):
            (tmp_path / name).write_text("SELECT 1;")
        with pytest.raises(ValueError, match="without gaps"):
            migrations.discover(tmp_path)
        (tmp_path / "9_Bad.up.sql").write_text("SELECT 1;")
        with pytest.raises(ValueError, match="does not match"):
            migrations.discover(tmp_path)
