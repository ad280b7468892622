"""The journey's Postgres projection: profile, besitos ledger and achievements.

Each activity is idempotent: a retried activity, a redelivered update or a re-applied
history writes nothing twice (upserts and ``ON CONFLICT DO NOTHING`` on natural keys).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.contracts import AwardBesitos, SaveProfile, UnlockAchievement

PROJECTION_REFUSED = "ProjectionRefused"


@asynccontextmanager
async def refusals_are_final() -> AsyncIterator[None]:
    """A row Postgres refuses (constraint, bad data) will be refused again: do not retry it forever.

    Connection problems stay retryable, so an outage only delays the projection.
    """
    try:
        yield
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as refused:
        raise ApplicationError(str(refused), type=PROJECTION_REFUSED, non_retryable=True) from refused


class ProjectionActivities:
    """Activities sharing one asyncpg pool, built once by the worker."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="record_profile")
    async def record_profile(self, effect: SaveProfile) -> None:
        """Create or refresh the user's profile row."""
        profile = effect.profile
        async with refusals_are_final():
            await self.pool.execute(
                """
            INSERT INTO users (telegram_user_id, username, first_name, language, stage, joined_at, last_seen_at)
            VALUES ($1, $2, $3, $4, $5, $6, $6)
            ON CONFLICT (telegram_user_id) DO UPDATE SET
                username = EXCLUDED.username,
                first_name = EXCLUDED.first_name,
                language = EXCLUDED.language,
                stage = EXCLUDED.stage,
                last_seen_at = greatest(users.last_seen_at, EXCLUDED.last_seen_at)
            """,
                profile.user_id,
                profile.username,
                profile.first_name,
                effect.language,
                effect.stage,
                effect.seen_at,
            )

    @activity.defn(name="append_besitos_ledger")
    async def append_besitos_ledger(self, effect: AwardBesitos) -> None:
        """Append one ledger row, once per idempotency key."""
        async with refusals_are_final():
            inserted = await self.pool.fetchval(
                """
            INSERT INTO besitos_ledger
                (telegram_user_id, action, amount, balance_after, idempotency_key, context, created_at)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """,
                effect.user_id,
                effect.action,
                effect.amount,
                effect.balance_after,
                effect.idempotency_key,
                json.dumps(effect.context),
                effect.awarded_at,
            )
        if inserted is None:
            activity.logger.info("ledger row %s already recorded", effect.idempotency_key)

    @activity.defn(name="record_achievement")
    async def record_achievement(self, effect: UnlockAchievement) -> None:
        async with refusals_are_final():
            await self.pool.execute(
                """
            INSERT INTO user_achievements (telegram_user_id, code, unlocked_at)
            VALUES ($1, $2, $3)
            ON CONFLICT (telegram_user_id, code) DO NOTHING
            """,
                effect.user_id,
                effect.code,
                effect.unlocked_at,
            )
