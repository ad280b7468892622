"""The door to the auctions: start one, bid, call one off (each a Temporal call with a deadline), and the running
auctions as the ``auctions`` table shows them (what the bot lists; the Auction workflow keeps the row current)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar, cast

import asyncpg
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from workflows.auction import AuctionWorkflow
from workflows.auction_contracts import (
    BID_REFUSALS,
    AuctionInput,
    AuctionOutcome,
    AuctionStatus,
    BidRefusal,
    BidRequest,
    BidResult,
    CancelRequest,
    auction_workflow_id,
)
from workflows.content import Shop
from workflows.contracts import Language

T = TypeVar("T")
DEADLINE_SECONDS: Final = 10.0
# temporalio types an update given an explicit name by its coroutine, not its result: these say what each returns.
BID: Final = cast("UpdateMethodMultiParam[[AuctionWorkflow, BidRequest], BidResult]", AuctionWorkflow.bid)
CANCEL: Final = cast("UpdateMethodMultiParam[[AuctionWorkflow, CancelRequest], AuctionOutcome]",
                     AuctionWorkflow.cancel)  # fmt: skip
# What the bot lists at most (a screen of buttons, well within Telegram's 4096 characters).
LISTED: Final = 10


class AuctionUnavailable(Exception):
    """The auction did not answer in time (no worker, Temporal away); whether a bid counted shows in the list."""


class AuctionOver(Exception):
    """The auction has ended, or was called off (a cancellation found nothing to cancel)."""


@dataclass(frozen=True)
class AuctionRow:
    """A running auction as the bot shows it."""

    auction_id: str
    item: str
    title: str
    start_price: int
    increment: int
    vip_only: bool
    ends_at: datetime
    status: AuctionStatus
    leader: int | None
    leading_bid: int | None
    bids: int

    @property
    def minimum(self) -> int:
        """The lowest bid taken now (the workflow decides; this is what the buttons offer)."""
        return self.start_price if self.leading_bid is None else self.leading_bid + self.increment


async def start(client: Client, task_queue: str, auction: AuctionInput) -> None:
    """Start the auction; the same auction started again (its command confirmed twice) finds the one it started."""
    try:
        await client.start_workflow(AuctionWorkflow.run, auction, id=auction_workflow_id(auction.auction_id),
                                    task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)  # fmt: skip
    except WorkflowAlreadyStartedError:
        pass  # started by this very command, and already over


async def bid(client: Client, auction_id: str, request: BidRequest, *, deadline: float = DEADLINE_SECONDS) -> BidResult:
    """Bid once per ``request.bid_id`` (the Update id too): leading, or refused with why.

    :raises AuctionUnavailable: no answer within ``deadline``.
    """
    handle: WorkflowHandle[AuctionWorkflow, AuctionOutcome] = client.get_workflow_handle(
        auction_workflow_id(auction_id)
    )
    try:
        return await _within(handle.execute_update(BID, request, id=f"bid-{request.bid_id}"), deadline)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # over and settled (or never was)
            return BidResult(leading=False, refusal="ended", amount=request.amount)
        raise AuctionUnavailable(f"auction {auction_id} unreachable: {error.status}") from None
    except WorkflowUpdateFailedError as failure:
        cause = failure.cause
        if isinstance(cause, ApplicationError) and cause.type in BID_REFUSALS:
            minimum = cause.details[0] if cause.details and isinstance(cause.details[0], int) else 0
            return BidResult(leading=False, refusal=cast(BidRefusal, cause.type), amount=request.amount,
                             minimum=minimum)  # fmt: skip
        raise AuctionUnavailable(f"auction {auction_id} could not take the bid: {cause}") from None


async def cancel(client: Client, auction_id: str, admin_id: int, *,
                 deadline: float = DEADLINE_SECONDS) -> AuctionOutcome:  # fmt: skip
    """Call the auction off: nobody wins, every reserve is released (by the workflow, before it ends).

    :raises AuctionOver: it has ended already. :raises AuctionUnavailable: no answer within ``deadline``.
    """
    handle: WorkflowHandle[AuctionWorkflow, AuctionOutcome] = client.get_workflow_handle(
        auction_workflow_id(auction_id)
    )
    try:
        return await _within(handle.execute_update(CANCEL, CancelRequest(admin_id=admin_id)), deadline)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise AuctionOver(auction_id) from None
        raise AuctionUnavailable(f"auction {auction_id} unreachable: {error.status}") from None
    except WorkflowUpdateFailedError as failure:
        if isinstance(failure.cause, ApplicationError) and failure.cause.type == "ended":
            raise AuctionOver(auction_id) from None
        raise AuctionUnavailable(f"auction {auction_id} could not be cancelled: {failure.cause}") from None


async def _within(call: Awaitable[T], deadline: float) -> T:
    try:
        async with asyncio.timeout(deadline):
            return await call
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise AuctionUnavailable(f"no answer within {deadline:g} s") from None


RUNNING_SQL: Final = """
    SELECT auction_id, item, title, start_price, increment, vip_only, ends_at, status, leader, leading_bid, bids
    FROM auctions WHERE status = 'running' ORDER BY ends_at, auction_id LIMIT $1
"""


async def running(pool: asyncpg.Pool, *, limit: int = LISTED) -> list[AuctionRow]:
    """Running auctions, the soonest to end first."""
    return [AuctionRow(**dict(row)) for row in await pool.fetch(RUNNING_SQL, limit)]


async def find(pool: asyncpg.Pool, auction_id: str) -> AuctionRow | None:
    row = await pool.fetchrow("SELECT auction_id, item, title, start_price, increment, vip_only, ends_at, status, "
                              "leader, leading_bid, bids FROM auctions WHERE auction_id = $1", auction_id)  # fmt: skip
    return AuctionRow(**dict(row)) if row is not None else None


SHOP_SQL: Final = """
    SELECT document->'shop' FROM content_versions WHERE activated_at IS NOT NULL
    ORDER BY activated_at DESC, version DESC LIMIT 1
"""


async def active_shop(pool: asyncpg.Pool) -> Shop:
    """The active content's shop (its catalogue: what an auction may sell); empty before any activation."""
    section = await pool.fetchval(SHOP_SQL)
    return Shop.model_validate_json(section) if section else Shop()


async def item_names(pool: asyncpg.Pool, language: Language) -> dict[str, str]:
    """The catalogue's names in ``language``, by item code."""
    return {item.code: item.name.get(language) for item in (await active_shop(pool)).items}
