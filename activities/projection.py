"""The journey's Postgres projection: profile, ledger, achievements, missions, story, reactions, erasure.

A turn's rows arrive together (``record_projection``, one transaction); journeys that started before
that send one activity per row, which the single-row activities still serve. Each activity is idempotent: a retried activity, a redelivered update or a re-applied
history writes nothing twice (upserts and ``ON CONFLICT DO NOTHING`` on natural keys).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deletion import start_deletion
from activities.leaderboard import write_totals
from adapters.audit import user_subject, write_audit
from workflows import side_effects
from workflows.contracts import (
    AwardBesitos,
    CompleteMission,
    EraseData,
    ProjectionBatch,
    ProjectionEffect,
    ProjectionOutcome,
    RecordDecision,
    RecordPurchase,
    RecordReaction,
    ReleaseStock,
    SaveProfile,
    SaveStoryProgress,
    SaveSubscription,
    UnlockAchievement,
    UpdateLeaderboard,
)

PROJECTION_REFUSED = "ProjectionRefused"
# What Postgres says of a row it will refuse again (a constraint, bad data); connection trouble is retried.
REFUSALS: Final = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)
LEADERBOARD_TIMEOUT_SECONDS: Final = 2.0


@asynccontextmanager
async def refusals_are_final() -> AsyncIterator[None]:
    """A row Postgres refuses (constraint, bad data) will be refused again: do not retry it forever.

    Connection problems stay retryable, so an outage only delays the projection.
    """
    try:
        yield
    except REFUSALS as refused:
        raise ApplicationError(str(refused), type=PROJECTION_REFUSED, non_retryable=True) from refused


# A pool for one statement, or a connection inside a batch's transaction.
Database: TypeAlias = asyncpg.Pool | asyncpg.Connection


class ProjectionActivities(side_effects.Projection):
    """Activities sharing one asyncpg pool (and Redis, for the leaderboard totals a turn ends with)."""

    def __init__(self, pool: asyncpg.Pool, redis: Redis) -> None:
        self.pool = pool
        self.redis = redis

    @activity.defn
    async def record_projection(self, batch: ProjectionBatch) -> ProjectionOutcome:
        """A turn's rows in one transaction, in order; then the user's leaderboard totals, if Redis answers.

        A row Postgres refuses for good spoils the transaction: the rows are then written one at a time and
        the refused ones reported (by position) for the journey to park. Leaderboards hold absolute totals that
        the next award writes again, so a Redis outage is logged and never fails the projection.
        """
        rows = [(position, effect) for position, effect in enumerate(batch.effects)
                if not isinstance(effect, UpdateLeaderboard)]  # fmt: skip
        refused: list[int] = []
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for _, effect in rows:
                    await _write(conn, effect)
        except REFUSALS:
            async with self.pool.acquire() as conn:
                for position, effect in rows:
                    try:
                        async with conn.transaction():
                            await _write(conn, effect)
                    except REFUSALS as failure:
                        activity.logger.error("%s refused for user %s: %s", effect.kind, batch.user_id, failure)
                        refused.append(position)
        totals = [effect for effect in batch.effects if isinstance(effect, UpdateLeaderboard)]
        if totals:
            try:
                await asyncio.wait_for(write_totals(self.redis, totals[-1]), timeout=LEADERBOARD_TIMEOUT_SECONDS)
            except (RedisError, OSError, TimeoutError) as failure:
                activity.logger.warning("leaderboard not updated for user %s: %s", batch.user_id, failure)
        return ProjectionOutcome(
            refused=refused,
            awards={e.idempotency_key: e.amount for e in batch.effects if isinstance(e, AwardBesitos)},
            decisions=[e.idempotency_key for e in batch.effects if isinstance(e, RecordDecision)],
        )

    @activity.defn
    async def erase_personal_data(self, effect: EraseData) -> None:
        """Forget the user: profile and everything keyed by them go; ledger rows stay, anonymised."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE besitos_ledger SET telegram_user_id = NULL, idempotency_key = 'erased:' || id "
                "WHERE telegram_user_id = $1",
                effect.user_id,
            )
            await conn.execute("DELETE FROM notifications WHERE telegram_user_id = $1", effect.user_id)
            # Payments and passes are kept for the accounts (money moved), without who.
            await conn.execute("UPDATE payments SET telegram_user_id = NULL, payload = 'erased' "
                               "WHERE telegram_user_id = $1", effect.user_id)  # fmt: skip
            await conn.execute("UPDATE vip_passes SET redeemed_by = NULL WHERE redeemed_by = $1", effect.user_id)
            await conn.execute("UPDATE received_payments SET telegram_user_id = NULL, request = NULL "
                               "WHERE telegram_user_id = $1", effect.user_id)  # fmt: skip
            await conn.execute("DELETE FROM dead_letters WHERE telegram_user_id = $1", effect.user_id)
            await conn.execute("UPDATE paid_media_purchases SET telegram_user_id = NULL WHERE telegram_user_id = $1",
                               effect.user_id)  # fmt: skip
            # A limited item's unit stays claimed (it was sold), without who; purchases lose the user with the profile.
            await conn.execute("UPDATE shop_stock_claims SET telegram_user_id = NULL, "
                               "claim_id = 'erased:' || gen_random_uuid() WHERE telegram_user_id = $1",
                               effect.user_id)  # fmt: skip
            # Purchases stay for the figures; their ids named the journey ("journey-<id>:p<n>"), and a returning user's
            # new journey numbers its purchases from p1 again.
            await conn.execute(
                "UPDATE shop_purchases SET purchase_id = 'erased:' || gen_random_uuid() WHERE telegram_user_id = $1",
                effect.user_id,
            )
            # A running auction's row stops naming them as its leader (the auction workflow keeps its own state).
            await conn.execute("UPDATE auctions SET leader = NULL WHERE leader = $1", effect.user_id)
            # Subscriptions, reactions, missions, achievements and story rows cascade with the profile.
            await conn.execute("DELETE FROM users WHERE telegram_user_id = $1", effect.user_id)
            # Who asked and why travel with the erasure: a staff erase is audited here once, as staff's.
            await write_audit(conn, effect.actor, "erase", user_subject(effect.user_id), effect.reason)
            # Then no audit row links the Telegram id any more: the user's rows, this one included, carry a pseudonym.
            await conn.fetchval("SELECT forget_audit_subject($1, $2, $3)", user_subject(effect.user_id),
                                f"erased:{secrets.token_hex(8)}", str(effect.user_id))  # fmt: skip
            # Then the journey itself: its keys retired now, destroyed and its runs deleted once it has closed.
            await start_deletion(conn)


async def _write(conn: asyncpg.Connection, effect: ProjectionEffect) -> None:
    # A projection effect without a writer here fails loudly instead of being dropped.
    await _ROW_WRITERS[type(effect)](conn, effect)


async def write_profile(db: Database, effect: SaveProfile) -> None:
    profile = effect.profile
    await db.execute(
        """
    INSERT INTO users (telegram_user_id, username, first_name, language, stage, joined_at, last_seen_at,
                       notifications, login_streak, longest_streak, banned_at)
    VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, CASE WHEN $10::boolean THEN $6::timestamptz END)
    ON CONFLICT (telegram_user_id) DO UPDATE SET
        username = EXCLUDED.username,
        first_name = EXCLUDED.first_name,
        language = EXCLUDED.language,
        stage = EXCLUDED.stage,
        last_seen_at = greatest(users.last_seen_at, EXCLUDED.last_seen_at),
        notifications = EXCLUDED.notifications,
        login_streak = EXCLUDED.login_streak,
        longest_streak = EXCLUDED.longest_streak,
        banned_at = CASE WHEN $10 THEN coalesce(users.banned_at, EXCLUDED.last_seen_at) END
    """,
        profile.user_id,
        profile.username,
        profile.first_name,
        effect.language,
        effect.stage,
        effect.seen_at,
        effect.notifications,
        effect.login_streak,
        effect.longest_streak,
        effect.banned,
    )


async def _append_ledger(conn: asyncpg.Connection, effect: AwardBesitos) -> None:
    """One ledger row, once per idempotency key."""
    inserted = await conn.fetchval(
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
    if inserted is None and not await _award_again_after_reset(conn, effect):
        activity.logger.info("ledger row %s already recorded", effect.idempotency_key)


async def _award_again_after_reset(conn: asyncpg.Connection, effect: AwardBesitos) -> bool:
    """An award whose earlier row a reset reversed is earned anew: it gets a row of its own, once.

    (A reset's reversal rows name the row they reverse in ``context.original``; see ``tools.support``.)
    """
    async with conn.transaction():
        # One re-award per reversal: the count of each decides, under a lock on the user's rows.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", effect.idempotency_key)
        reversals, again = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE action = 'reset_correction' AND context->>'original' = $2 AND amount < 0),
                   count(*) FILTER (WHERE idempotency_key LIKE $2 || '#%')
            FROM besitos_ledger WHERE telegram_user_id = $1
            """,
            effect.user_id,
            effect.idempotency_key,
        )
        if reversals <= again:
            return False
        await conn.execute(
            """
            INSERT INTO besitos_ledger
                (telegram_user_id, action, amount, balance_after, idempotency_key, context, created_at)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
            """,
            effect.user_id,
            effect.action,
            effect.amount,
            effect.balance_after,
            f"{effect.idempotency_key}#{again + 1}",
            json.dumps(effect.context),
            effect.awarded_at,
        )
    return True


async def write_achievement(db: Database, effect: UnlockAchievement) -> None:
    await db.execute(
        """
    INSERT INTO user_achievements (telegram_user_id, code, unlocked_at)
    VALUES ($1, $2, $3)
    ON CONFLICT (telegram_user_id, code) DO NOTHING
    """,
        effect.user_id,
        effect.code,
        effect.unlocked_at,
    )


async def write_mission(db: Database, effect: CompleteMission) -> None:
    await db.execute(
        """
    INSERT INTO user_missions (telegram_user_id, code, completed_at) VALUES ($1, $2, $3)
    ON CONFLICT (telegram_user_id, code) DO NOTHING
    """,
        effect.user_id,
        effect.code,
        effect.completed_at,
    )


async def write_story_progress(db: Database, effect: SaveStoryProgress, *, overwrite: bool = False) -> None:
    """The user's place in the story; an older save (lower ``seq``) changes nothing, unless ``overwrite`` (a reset's
    repair writes the journey's own over what a discarded branch saved)."""
    await db.execute(
        """
    INSERT INTO story_progress (telegram_user_id, seq, content_version, fragment_id, playthrough,
                                relationship, flags, completed, endings, saved_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10)
    ON CONFLICT (telegram_user_id) DO UPDATE SET
        seq = EXCLUDED.seq, content_version = EXCLUDED.content_version,
        fragment_id = EXCLUDED.fragment_id, playthrough = EXCLUDED.playthrough,
        relationship = EXCLUDED.relationship, flags = EXCLUDED.flags, completed = EXCLUDED.completed,
        endings = EXCLUDED.endings, saved_at = EXCLUDED.saved_at
    WHERE story_progress.seq < EXCLUDED.seq OR $11
    """,
        effect.user_id,
        effect.seq,
        effect.content_version,
        effect.fragment_id,
        effect.playthrough,
        effect.relationship,
        json.dumps(effect.flags),
        json.dumps(effect.completed),
        json.dumps(effect.endings),
        effect.saved_at,
        overwrite,
    )


async def write_subscription(db: Database, effect: SaveSubscription, *, overwrite: bool = False) -> None:
    """The subscription as the journey holds it; an older save changes nothing, unless ``overwrite`` (as above).
    A journey that never had a visit (VIP imported before the first /start) gets a users row at stage 'new' for it;
    its first visit fills in the profile."""
    await db.execute("INSERT INTO users (telegram_user_id, stage, joined_at, last_seen_at) VALUES ($1, 'new', $2, $2) "
                     "ON CONFLICT (telegram_user_id) DO NOTHING", effect.user_id, effect.saved_at)  # fmt: skip
    await db.execute(
        """
    INSERT INTO subscriptions (telegram_user_id, seq, plan, status, started_at, expires_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (telegram_user_id) DO UPDATE SET
        seq = EXCLUDED.seq, plan = EXCLUDED.plan, status = EXCLUDED.status,
        started_at = EXCLUDED.started_at, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at
    WHERE subscriptions.seq < EXCLUDED.seq OR $8
    """,
        effect.user_id,
        effect.seq,
        effect.plan,
        effect.status,
        effect.started_at,
        effect.expires_at,
        effect.saved_at,
        overwrite,
    )


async def _record_decision(db: Database, effect: RecordDecision) -> None:
    await db.execute(
        """
    INSERT INTO story_decisions (telegram_user_id, idempotency_key, playthrough, fragment_id, choice_id,
                                 decided_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (idempotency_key) DO NOTHING
    """,
        effect.user_id,
        effect.idempotency_key,
        effect.playthrough,
        effect.fragment_id,
        effect.choice_id,
        effect.decided_at,
    )


async def _record_reaction(db: Database, effect: RecordReaction) -> None:
    await db.execute(
        """
    INSERT INTO channel_reactions (chat_id, message_id, telegram_user_id, rewarded, reacted_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (chat_id, message_id, telegram_user_id) DO NOTHING
    """,
        effect.chat_id,
        effect.message_id,
        effect.user_id,
        effect.rewarded,
        effect.reacted_at,
    )


async def _record_purchase(db: Database, effect: RecordPurchase) -> None:
    """A backpack entry as it stands now; an older write (by ``changed_at``) never wins."""
    await db.execute(
        """
    INSERT INTO shop_purchases (purchase_id, telegram_user_id, item, item_kind, source, price, status, bought_at,
                                changed_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (purchase_id) DO UPDATE SET status = EXCLUDED.status, changed_at = EXCLUDED.changed_at
    WHERE shop_purchases.changed_at <= EXCLUDED.changed_at
    """,
        effect.purchase_id,
        effect.user_id,
        effect.item,
        effect.item_kind,
        effect.source,
        effect.price,
        effect.status,
        effect.bought_at,
        effect.changed_at,
    )


async def _release_stock(db: Database, effect: ReleaseStock) -> None:
    await db.execute("UPDATE shop_stock_claims SET released_at = now() WHERE claim_id = $1 AND released_at IS NULL",
                     effect.claim_id)  # fmt: skip


# How each of a turn's rows is written, in the turn's transaction (leaderboard totals go to Redis after it).
_ROW_WRITERS: Final[dict[type[ProjectionEffect], Callable[[asyncpg.Connection, Any], Awaitable[None]]]] = {
    SaveProfile: write_profile,
    AwardBesitos: _append_ledger,
    UnlockAchievement: write_achievement,
    CompleteMission: write_mission,
    SaveStoryProgress: write_story_progress,
    RecordDecision: _record_decision,
    RecordReaction: _record_reaction,
    RecordPurchase: _record_purchase,
    ReleaseStock: _release_stock,
}
