"""Versioned migrations on a real Postgres: up, rollback, up again; bad migration sets refused."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from infra import migrate as migrations
from infra.settings import APP_ROLE

TABLES = {"users", "besitos_ledger", "user_achievements", "audit_log"}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows} - {"schema_migrations"}


async def test_every_migration_rolls_back_and_reapplies(database_owner: str) -> None:
    conn = await asyncpg.connect(database_owner)
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


async def test_a_target_outside_the_known_versions_changes_nothing(database_owner: str) -> None:
    conn = await asyncpg.connect(database_owner)
    try:
        before = await migrations.current_version(conn)
        with pytest.raises(ValueError, match="outside"):
            await migrations.migrate(conn, 99)
        assert await migrations.current_version(conn) == before
    finally:
        await conn.close()


async def test_the_application_role_changes_rows_only_and_never_rewrites_the_audit_log(database: str) -> None:
    """Diana connects as a role of its own: no superuser, no schema, and audit rows it may add but not change; an
    erased user is forgotten only through forget_audit_subject, which runs as the owner."""
    conn = await asyncpg.connect(database)
    try:
        role = await conn.fetchrow("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
                                   "WHERE rolname = current_user")  # fmt: skip
        assert role is not None and dict(role) == {"rolname": APP_ROLE, "rolsuper": False, "rolcreaterole": False,
                                                   "rolcreatedb": False, "rolbypassrls": False}  # fmt: skip
        await conn.execute("INSERT INTO audit_log (actor, action, subject, details) VALUES"
                           " ('user:5', 'erase', 'user:5', '{\"id\": 5}')")  # fmt: skip
        for statement in ("UPDATE audit_log SET subject = 'user:6'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                          "CREATE ROLE intruder", "CREATE DATABASE intruder", "CREATE TABLE intruder (x int)",
                          "DROP TABLE users", "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_rewrite",
                          "INSERT INTO schema_migrations (version, name) VALUES (99, 'x')"):  # fmt: skip
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        # Turning the trigger's exception on for itself does not help: the role may not update the table at all.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SELECT set_config('diana.audit_forget', 'on', false); UPDATE audit_log SET actor = 'x'")
        assert await conn.fetchval("SELECT forget_audit_subject('user:5', 'erased:abc', '5')") == 1
        row = await conn.fetchrow("SELECT actor, subject, details FROM audit_log")
        assert row is not None and (row["actor"], row["subject"]) == ("erased:abc", "erased:abc")
        # Rows of every table, and the sequences behind them, are the role's to use (the product needs no more).
        await conn.execute("INSERT INTO users (telegram_user_id, stage) VALUES (5, 'active')")
        await conn.execute("UPDATE users SET stage = 'active' WHERE telegram_user_id = 5")
        await conn.execute("DELETE FROM users WHERE telegram_user_id = 5")
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
