"""What an auction does outside itself: asks its bidders' journeys to hold, let go of or take besitos, keeps the
``auctions`` row, and tells the admins how it ended."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, cast

import asyncpg
from aiogram import Bot
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from activities.telegram import TelegramActivities
from adapters.texts import t
from workflows import side_effects
from workflows.auction_contracts import AuctionRecord, AuctionReport
from workflows.contracts import JourneyError, WalletReply, WalletRequest
from workflows.journey import JourneyWorkflow, journey_id

# temporalio types an update given an explicit name by its coroutine, not its result: this says what it returns.
WALLET: Final = cast("UpdateMethodMultiParam[[JourneyWorkflow, WalletRequest], WalletReply]", JourneyWorkflow.wallet)

RECORD_SQL: Final = """
    INSERT INTO auctions (auction_id, item, title, start_price, increment, vip_only, ends_at, status, leader,
                          leading_bid, bids, created_by, created_at, changed_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
    ON CONFLICT (auction_id) DO UPDATE SET ends_at = EXCLUDED.ends_at, status = EXCLUDED.status,
        leader = EXCLUDED.leader, leading_bid = EXCLUDED.leading_bid, bids = EXCLUDED.bids,
        changed_at = EXCLUDED.changed_at
    WHERE auctions.changed_at <= EXCLUDED.changed_at
"""


class AuctionActivities(side_effects.Auctions):
    def __init__(self, bot: Bot, pool: asyncpg.Pool, telegram: TelegramActivities, *,
                 admin_ids: Iterable[int] = ()) -> None:  # fmt: skip
        self.bot = bot
        self.pool = pool
        self.telegram = telegram
        self.admin_ids = frozenset(admin_ids)

    @activity.defn
    async def ask_wallet(self, request: WalletRequest) -> WalletReply:
        """The journey's ``Wallet`` Update, its id the request's: a retry of this activity is the same Update."""
        handle = activity.client().get_workflow_handle(journey_id(request.user_id))
        try:
            return await handle.execute_update(WALLET, request, id=f"wallet-{request.request_id}")
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:  # never begun, or ended (erased): it holds nothing
                return WalletReply(ok=False, refusal="closed")
            raise
        except WorkflowUpdateFailedError as failure:
            cause = failure.cause
            # A fault applying it (JourneyFailed) is asked again: the journey is unchanged, and may take it later.
            if isinstance(cause, ApplicationError) and cause.non_retryable and cause.type != JourneyError.FAILED:
                activity.logger.warning("journey %s refused %s: %s", request.user_id, request.request_id, cause)
                return WalletReply(ok=False, refusal="closed")
            raise

    @activity.defn
    async def record_auction(self, record: AuctionRecord) -> None:
        await self.pool.execute(RECORD_SQL, record.auction_id, record.item, record.title, record.start_price,
                                record.increment, record.vip_only, record.ends_at, record.status, record.leader,
                                record.leading_bid, record.bids, record.created_by, record.changed_at)  # fmt: skip

    @activity.defn
    async def report_auction(self, report: AuctionReport) -> None:
        """Each admin (and whoever started it) once: a retry sends only what was not sent."""
        outcome = report.outcome
        if outcome.status == "cancelled":
            key = "admin.auction.report.cancelled"
        elif outcome.unclaimed:
            key = "admin.auction.report.unclaimed"
        elif outcome.winner is None:
            key = "admin.auction.report.nobody"
        else:
            key = "admin.auction.report.won"
        winner = await self._name(outcome.winner) if outcome.winner is not None else ""
        text = t(key, report.language, id=report.auction_id, title=report.title, winner=winner,
                 amount=outcome.amount or 0, bids=outcome.bids)  # fmt: skip
        for admin in sorted(self.admin_ids | {report.created_by}):
            message_key = f"auction:{report.auction_id}:report:{admin}"
            if not await self.telegram.claim(message_key, admin):
                continue
            try:
                await self.telegram.deliver(message_key, self.bot.send_message(admin, text))
            except ApplicationError as refused:
                if not refused.non_retryable:
                    raise
                activity.logger.warning("auction %s: admin %s not told: %s", report.auction_id, admin, refused)

    async def _name(self, user_id: int) -> str:
        row = await self.pool.fetchrow("SELECT first_name, username FROM users WHERE telegram_user_id = $1", user_id)
        if row is None:
            return str(user_id)
        username = f" @{row['username']}" if row["username"] else ""
        return f"{row['first_name']}{username} ({user_id})"
