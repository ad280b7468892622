"""The Auction workflow (``auction-<id>``): one catalogue item sold to the highest bidder, for besitos.

A thin shell around ``workflows.auction_rules``, shaped like temporalio's ``safe_message_handlers`` sample. Bids are
Updates handled one at a time under a lock: the bidder's journey holds the besitos first (``Wallet`` reserve), then the
bid leads and the previous leader's reserve is let go (with an "outbid" notice), by the main loop so a slow journey
never holds up the next bidder. A durable timer ends the auction; a bid in its last minutes moves the end. At the end
the winner's reserve is captured (the item goes into their backpack), every other reserve released, the ``auctions``
row written and the admins told. Every wallet request carries an id derived from the bid, so a retried activity, a
redelivered press or a restarted worker applies it once: the auction and every journey always agree.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import auction_rules as rules
    from workflows.auction_contracts import (
        AuctionInput,
        AuctionOutcome,
        AuctionReport,
        AuctionState,
        BidRequest,
        BidResult,
        CancelRequest,
    )
    from workflows.contracts import WalletReply, WalletRequest
    from workflows.side_effects import Auctions

# A bidder waits for their journey to hold the besitos: a worker that died mid-call is noticed after a try's limit,
# and a journey that does not answer within the whole limit refuses the bid as unavailable.
RESERVE_TRY: Final = timedelta(seconds=10)
RESERVE_LIMIT: Final = timedelta(seconds=45)
RESERVE_RETRY: Final = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=2))
# Releases, captures and rows are never given up: the journeys and Postgres must come to agree with the auction.
PATIENT_TRY: Final = timedelta(seconds=15)
PATIENT_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# The row a bid changed is written before the bidder is answered (the bot lists from it), within this; else later.
RECORD_LIMIT: Final = timedelta(seconds=5)


@workflow.defn(name="Auction")
class AuctionWorkflow:
    @workflow.init
    def __init__(self, input: AuctionInput) -> None:
        self.input = input
        self.state = input.state or AuctionState(ends_at=input.ends_at, changed_at=workflow.now())
        self.lock = asyncio.Lock()
        self._end_moved = False
        # A change whose row is not written yet (its write inside a handler failed, or a cancellation).
        self._unrecorded = input.state is None

    @workflow.run
    async def run(self, input: AuctionInput) -> AuctionOutcome:
        """Runs until the end (moved by late bids) or a cancellation, then settles every bidder's besitos."""
        while self.state.status == "running":
            await self._carry_out_releases()
            if self._unrecorded:
                await self._record()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.input.model_copy(update={"state": self.state}))
            if workflow.now() >= self.state.ends_at:
                async with self.lock:  # a bid being handled may still move the end
                    if rules.is_open(self.state, workflow.now()) or self.state.status != "running":
                        continue
                    self.state = rules.end(self.state, workflow.now())
                    self._unrecorded = True
                break
            try:
                await workflow.wait_condition(lambda: self._end_moved or bool(self.state.releases) or self._unrecorded
                                              or self.state.status != "running",
                                              timeout=self.state.ends_at - workflow.now(),
                                              timeout_summary=f"the end of auction {input.auction_id}")  # fmt: skip
            except TimeoutError:
                pass
            self._end_moved = False
        # Bids that arrived before the end are answered (as ended) before anyone's besitos are settled.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._carry_out_releases()
        unclaimed = await self._settle()
        await self._record()
        outcome = rules.outcome(self.state, self.input, unclaimed=unclaimed)
        await workflow.execute_activity_method(
            Auctions.report_auction,
            AuctionReport(
                auction_id=input.auction_id,
                title=input.title,
                language=input.language,
                created_by=input.created_by,
                outcome=outcome,
            ),  # fmt: skip
            start_to_close_timeout=PATIENT_TRY,
            retry_policy=PATIENT_RETRY,
            summary=f"tell the admins how auction {input.auction_id} ended",
        )
        return outcome

    @workflow.update(name="Bid")
    async def bid(self, request: BidRequest) -> BidResult:
        """A bid: held in the bidder's journey, then leading; or refused, saying why. Applied once per ``bid_id``."""
        async with self.lock:
            earlier = self.state.outcomes.get(request.bid_id)
            if earlier is not None:
                return earlier.model_copy(update={"duplicate": True})
            why = rules.refusal(self.state, self.input, request.amount, workflow.now())
            if why is not None:  # the validator let it in, and another bid or the end came first
                return rules.refused(self.state, self.input, request, why)
            reserve = rules.wallet_request(self.input, "reserve", request)
            try:
                reply = await self._ask_wallet(reserve, RESERVE_TRY, RESERVE_RETRY, limit=RESERVE_LIMIT)
            except ActivityError:
                # The journey did not answer in time; it may still take the reserve later, so it is let go again.
                self._release(rules.wallet_request(self.input, "release", request, failed=True))
                return self._remember(request, rules.refused(self.state, self.input, request, "unavailable"))
            if not reply.ok:
                why = "funds" if reply.refusal == "funds" else "vip" if reply.refusal == "vip" else "closed"
                return self._remember(request, rules.refused(self.state, self.input, request, why, reply.spendable))
            lead = rules.lead(self.state, self.input, request, workflow.now())
            self.state = lead.state
            if lead.outbid is not None:
                self._release(rules.wallet_request(self.input, "release", lead.outbid, outbid=True))
            self._end_moved = lead.result.extended
            self._unrecorded = True
            try:
                await self._record(limit=RECORD_LIMIT)
            except ActivityError:
                workflow.logger.warning("auction %s: row not written yet, the main loop will", self.input.auction_id)
            return lead.result.model_copy(update={"spendable": reply.spendable})

    @bid.validator
    def _validate_bid(self, request: BidRequest) -> None:
        """Too low, or too late: refused before it enters the history (the handler checks again in its turn)."""
        if request.bid_id in self.state.outcomes:
            return
        why = rules.refusal(self.state, self.input, request.amount, workflow.now())
        if why is not None:
            raise ApplicationError(f"bid refused: {why}", rules.minimum(self.state, self.input), type=why,
                                   non_retryable=True)  # fmt: skip

    @workflow.update(name="Cancel")
    async def cancel(self, request: CancelRequest) -> AuctionOutcome:
        """An admin calls it off: nobody wins, every reserve is released."""
        async with self.lock:
            if self.state.status == "running":
                self.state = rules.cancel(self.state, request.admin_id, workflow.now())
                self._unrecorded = True
        return rules.outcome(self.state, self.input)

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self.state.status != "running":
            raise ApplicationError("the auction is over", type="ended", non_retryable=True)

    @workflow.query(name="State")
    def current_state(self) -> AuctionState:
        return self.state

    def _remember(self, request: BidRequest, result: BidResult) -> BidResult:
        self.state = rules.remember(self.state, request.bid_id, result)
        return result

    def _release(self, request: WalletRequest) -> None:
        """Queued for the main loop (outside the lock: the next bidder does not wait for it)."""
        self.state = self.state.model_copy(update={"releases": [*self.state.releases, request]})

    async def _carry_out_releases(self) -> None:
        while self.state.releases:
            request = self.state.releases[0]
            await self._ask_wallet(request, PATIENT_TRY, PATIENT_RETRY)
            # Handlers may have replaced the state meanwhile: drop this request (and its bid) from whatever is there.
            self.state = self.state.model_copy(update={
                "releases": [r for r in self.state.releases if r.request_id != request.request_id],
                "reserved": [b for b in self.state.reserved if b.bid_id != request.bid],
            })  # fmt: skip

    async def _settle(self) -> bool:
        """The winner pays (the item goes into their backpack), everyone else's besitos are let go. True when the
        winner's journey could not take it (erased meanwhile): nobody got the item."""
        if self.state.settled:
            return False
        unclaimed = False
        leader = self.state.leader
        if self.state.status == "ended" and leader is not None:
            reply = await self._ask_wallet(rules.wallet_request(self.input, "capture", leader), PATIENT_TRY,
                                           PATIENT_RETRY)  # fmt: skip
            unclaimed = not reply.ok
        for bid in rules.leftovers(self.state):
            await self._ask_wallet(rules.wallet_request(self.input, "release", bid), PATIENT_TRY, PATIENT_RETRY)
        self.state = self.state.model_copy(update={"settled": True, "reserved": []})
        return unclaimed

    async def _ask_wallet(self, request: WalletRequest, attempt: timedelta, retry: RetryPolicy, *,
                          limit: timedelta | None = None) -> WalletReply:  # fmt: skip
        return await workflow.execute_activity_method(
            Auctions.ask_wallet,
            request,
            start_to_close_timeout=attempt,
            schedule_to_close_timeout=limit,
            retry_policy=retry,
            summary=f"{request.action} bid {request.bid} of journey {request.user_id}",
        )

    async def _record(self, *, limit: timedelta | None = None) -> None:
        """The ``auctions`` row as the state stands (a newer change always wins the row)."""
        changed = self.state.changed_at
        await workflow.execute_activity_method(
            Auctions.record_auction,
            rules.record(self.state, self.input, workflow.now()),
            start_to_close_timeout=PATIENT_TRY if limit is None else limit,
            schedule_to_close_timeout=limit,
            retry_policy=PATIENT_RETRY,
            summary=f"record auction {self.input.auction_id}",
        )
        if self.state.changed_at == changed:
            self._unrecorded = False
