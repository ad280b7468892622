"""Every successful payment Telegram reports, kept before its update is confirmed: a Star received is never dropped.

The bot writes the payment here first, then drives it into the journey. A journey that cannot answer now leaves it
waiting (the bot drives it again, ``bot.payments``); one that refuses it (erased, a plan gone) leaves it flagged
for support, who apply or refund it (``diana-support payments``, ``/reembolsar``). The journey's own record of
the charge (the ``payments`` table) is written by its activities once it has applied it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import asyncpg

from workflows.contracts import JourneyRequest

# A payment being driven by one bot process is left to it this long before another may take it.
DRIVING_LEASE: Final = timedelta(seconds=30)


async def receive(pool: asyncpg.Pool, request: JourneyRequest) -> None:
    """Keep a successful payment (once per charge id) with the journey request that applies it."""
    payment = request.payment
    assert payment is not None and payment.charge_id
    await pool.execute(
        """
        INSERT INTO received_payments (charge_id, telegram_user_id, amount, currency, request, driving_until)
        VALUES ($1, $2, $3, $4, $5::jsonb, now() + $6::interval) ON CONFLICT (charge_id) DO NOTHING
        """,
        payment.charge_id, request.user_id, payment.total_amount, payment.currency, request.model_dump_json(),
        DRIVING_LEASE,
    )  # fmt: skip


async def applied(pool: asyncpg.Pool, charge_id: str) -> None:
    await pool.execute("UPDATE received_payments SET applied_at = coalesce(applied_at, now()), problem = NULL, "
                       "needs_support = false, driving_until = NULL WHERE charge_id = $1", charge_id)  # fmt: skip


async def not_applied(pool: asyncpg.Pool, charge_id: str, problem: str, *, needs_support: bool) -> None:
    """Why the journey has not taken it; ``needs_support`` when it refused it (driving again would not help)."""
    await pool.execute("UPDATE received_payments SET problem = $2, needs_support = $3, driving_until = NULL "
                       "WHERE charge_id = $1 AND applied_at IS NULL", charge_id, problem[:500], needs_support)  # fmt: skip


async def refunded(db: asyncpg.Pool | asyncpg.Connection, charge_id: str) -> None:
    await db.execute("UPDATE received_payments SET refunded_at = coalesce(refunded_at, now()), driving_until = NULL "
                     "WHERE charge_id = $1", charge_id)  # fmt: skip


async def claim_waiting(pool: asyncpg.Pool, limit: int = 20) -> list[JourneyRequest]:
    """Payments a journey could not take yet (not refused), each leased to this caller for a while."""
    rows = await pool.fetch(
        """
        UPDATE received_payments SET driving_until = now() + $2::interval
        WHERE charge_id IN (
            SELECT charge_id FROM received_payments
            WHERE applied_at IS NULL AND refunded_at IS NULL AND NOT needs_support AND request IS NOT NULL
              AND (driving_until IS NULL OR driving_until < now())
            ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING request
        """,
        limit, DRIVING_LEASE,
    )  # fmt: skip
    return [JourneyRequest.model_validate_json(row["request"]) for row in rows]


async def open_payments(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Received and neither applied nor refunded, oldest first (for support)."""
    return list(await pool.fetch(
        "SELECT charge_id, telegram_user_id, amount, currency, received_at, problem, needs_support "
        "FROM received_payments WHERE applied_at IS NULL AND refunded_at IS NULL ORDER BY received_at"))  # fmt: skip


async def find(pool: asyncpg.Pool, charge_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow("SELECT * FROM received_payments WHERE charge_id = $1", charge_id)
    return row
