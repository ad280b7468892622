"""Limited shop items in Postgres: a unit is claimed for one purchase, atomically across every buyer."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from workflows import side_effects
from workflows.contracts import StockClaim, StockClaimed


class ShopActivities(side_effects.Shop):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn
    async def claim_stock(self, claim: StockClaim) -> StockClaimed:
        """Two buyers of the last unit: the item's lock orders them, the second finds none left. A claim retried (the
        same ``claim_id``) answers what it got the first time."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('shop-stock:' || $1))", claim.item)
            held = await conn.fetchval("SELECT released_at IS NULL FROM shop_stock_claims WHERE claim_id = $1",
                                       claim.claim_id)  # fmt: skip
            if held:
                return StockClaimed(claim_id=claim.claim_id, claimed=True)
            taken = await conn.fetchval("SELECT count(*) FROM shop_stock_claims WHERE item = $1 AND released_at IS NULL",
                                        claim.item)  # fmt: skip
            if taken >= claim.stock:
                return StockClaimed(claim_id=claim.claim_id, claimed=False)
            # New, or released when its turn was refused and now tried again: the purchase takes a unit (again).
            await conn.execute("""
                INSERT INTO shop_stock_claims (claim_id, item, telegram_user_id, claimed_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (claim_id) DO UPDATE SET released_at = NULL, claimed_at = EXCLUDED.claimed_at
                """, claim.claim_id, claim.item, claim.user_id, claim.at)  # fmt: skip
            return StockClaimed(claim_id=claim.claim_id, claimed=True)
