"""Single-use VIP passes an admin makes (``/pase``): stored in Postgres, redeemed once by a journey."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from adapters.audit import write_audit


async def create_vip_pass(pool: asyncpg.Pool, token: str, plan: str, admin_id: int, valid: timedelta) -> datetime:
    """Store a new pass made by an admin; returns when it expires."""
    expires_at = datetime.now(UTC) + valid
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO vip_passes (token, plan, created_by, expires_at) VALUES ($1, $2, $3, $4)",
                           token, plan, admin_id, expires_at)  # fmt: skip
        await write_audit(conn, f"admin:{admin_id}", "vip pass created", f"plan:{plan}", None,
                          {"expires_at": expires_at.isoformat()})  # fmt: skip
    return expires_at
