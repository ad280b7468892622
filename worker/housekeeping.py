"""Tidying the worker does on its own: old rows that only ever grow.

``notifications`` gets a row per message Diana sends on her own (a daily reminder per user adds up to millions).
A row is needed only while its message may still be retried (``outbox.TELEGRAM_PATIENCE``, hours) or a broadcast
may resume (days); after ``KEEP_NOTIFICATIONS`` it is pruned. A claim still "sending" is never pruned.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Final

import asyncpg

KEEP_NOTIFICATIONS: Final = timedelta(days=30)
TIDY_EVERY_SECONDS: Final = 6 * 3600.0
# Rows deleted per statement: a long delete holds no lock the sends wait on.
PRUNE_BATCH: Final = 10_000
log = logging.getLogger("diana.worker")


async def prune_notifications(pool: asyncpg.Pool, older_than: timedelta = KEEP_NOTIFICATIONS) -> int:
    """Delete sent and undeliverable notification rows older than ``older_than``; returns how many."""
    pruned = 0
    while True:
        deleted = await pool.fetchval(
            """
            WITH old AS (
                SELECT idempotency_key FROM notifications
                WHERE created_at < now() - $1::interval AND status <> 'sending'
                LIMIT $2
            )
            , gone AS (DELETE FROM notifications n USING old WHERE n.idempotency_key = old.idempotency_key
                       RETURNING 1)
            SELECT count(*) FROM gone
            """,
            older_than,
            PRUNE_BATCH,
        )
        pruned += int(deleted)
        if deleted < PRUNE_BATCH:
            return pruned


async def keep_tidy(pool: asyncpg.Pool, *, every: float = TIDY_EVERY_SECONDS) -> None:
    """Prune now and then, for as long as the worker runs; Postgres away only skips a round."""
    while True:
        try:
            pruned = await prune_notifications(pool)
            if pruned:
                log.info("%d notification rows older than %s pruned", pruned, KEEP_NOTIFICATIONS)
        except (asyncpg.PostgresError, OSError) as error:
            log.warning("notifications not pruned this round: %s", error)
        await asyncio.sleep(every)
