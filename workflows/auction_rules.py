"""The rules of an auction: which bid is taken, who leads, when it ends, and what its bidders' journeys are asked.

Pure: no clock, no I/O; a state in, a new state out (the one given is never changed). The Auction workflow
(``workflows.auction``) runs them one bid at a time and carries out the wallet requests they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.auction_contracts import (
    OUTCOMES_KEPT,
    AuctionInput,
    AuctionOutcome,
    AuctionRecord,
    AuctionState,
    Bid,
    BidRefusal,
    BidRequest,
    BidResult,
)
from workflows.contracts import WalletAction, WalletRequest


def minimum(state: AuctionState, auction: AuctionInput) -> int:
    """The lowest bid taken now: the starting price, then the leading bid plus the increment (the leader raising their
    own bid too)."""
    return auction.start_price if state.leader is None else state.leader.amount + auction.increment


def is_open(state: AuctionState, now: datetime) -> bool:
    return state.status == "running" and now < state.ends_at


def refusal(state: AuctionState, auction: AuctionInput, amount: int, now: datetime) -> BidRefusal | None:
    """Why the auction itself refuses a bid of ``amount`` now (the bidder's journey may still refuse it: funds, VIP)."""
    if not is_open(state, now):
        return "ended"
    if amount < minimum(state, auction):
        return "too_low"
    return None


def extended_end(ends_at: datetime, now: datetime, extend_seconds: int) -> datetime:
    """A bid in the last ``extend_seconds`` moves the end to the bid's moment plus as much: nobody wins by sniping."""
    extend = timedelta(seconds=extend_seconds)
    return now + extend if extend and ends_at - now < extend else ends_at


@dataclass(frozen=True)
class Lead:
    state: AuctionState
    result: BidResult
    # The previous leader's bid, to be released (None when there was none, or the leader raised their own bid: the
    # journey replaces its reserve itself).
    outbid: Bid | None


def lead(state: AuctionState, auction: AuctionInput, request: BidRequest, now: datetime) -> Lead:
    """The bid (its besitos now held by the bidder's journey) leads."""
    state = state.model_copy(deep=True)
    previous = state.leader
    bid = Bid(bid_id=request.bid_id, user_id=request.user_id, amount=request.amount, at=now)
    ends_at = extended_end(state.ends_at, now, auction.extend_seconds)
    extended = ends_at != state.ends_at
    state.leader, state.ends_at, state.changed_at = bid, ends_at, now
    state.bids += 1
    # One reserve per bidder: a raise replaces the bidder's earlier one in their journey.
    state.reserved = [*(b for b in state.reserved if b.user_id != request.user_id), bid]
    outbid = previous if previous is not None and previous.user_id != request.user_id else None
    result = BidResult(leading=True, amount=request.amount, minimum=minimum(state, auction),
                       leading_bid=request.amount, ends_at=ends_at, extended=extended)  # fmt: skip
    return Lead(state=remember(state, request.bid_id, result), result=result, outbid=outbid)


def refused(state: AuctionState, auction: AuctionInput, request: BidRequest, why: BidRefusal,
            spendable: int = 0) -> BidResult:  # fmt: skip
    return BidResult(leading=False, refusal=why, amount=request.amount, minimum=minimum(state, auction),
                     leading_bid=state.leader.amount if state.leader else None, spendable=spendable,
                     ends_at=state.ends_at)  # fmt: skip


def remember(state: AuctionState, bid_id: str, result: BidResult) -> AuctionState:
    """Keep a bid's outcome for a press delivered again (the newest ``OUTCOMES_KEPT``)."""
    outcomes = {**state.outcomes, bid_id: result}
    if len(outcomes) > OUTCOMES_KEPT:
        outcomes = dict(list(outcomes.items())[-OUTCOMES_KEPT:])
    return state.model_copy(update={"outcomes": outcomes})


def end(state: AuctionState, now: datetime) -> AuctionState:
    return state.model_copy(update={"status": "ended", "changed_at": now})


def cancel(state: AuctionState, admin_id: int, now: datetime) -> AuctionState:
    """Called off: nobody wins, every reserve is released."""
    return state.model_copy(update={"status": "cancelled", "cancelled_by": admin_id, "changed_at": now})


def leftovers(state: AuctionState) -> list[Bid]:
    """Bids whose reserve may still be held once the auction is over: everyone's but the winner's, who pays."""
    winner = state.leader.user_id if state.leader is not None and state.status == "ended" else None
    return [bid for bid in state.reserved if bid.user_id != winner]


def outcome(state: AuctionState, auction: AuctionInput, *, unclaimed: bool = False) -> AuctionOutcome:
    won = state.status == "ended" and state.leader is not None and not unclaimed
    return AuctionOutcome(auction_id=auction.auction_id, status=state.status, bids=state.bids, unclaimed=unclaimed,
                          winner=state.leader.user_id if won and state.leader else None,
                          amount=state.leader.amount if won and state.leader else None)  # fmt: skip


def wallet_request(auction: AuctionInput, action: WalletAction, bid: Bid | BidRequest, *,
                   outbid: bool = False, failed: bool = False) -> WalletRequest:  # fmt: skip
    """What the bidder's journey is asked for this bid; its request id makes a retry one request."""
    return WalletRequest(request_id=f"auction:{auction.auction_id}:{action}:{bid.bid_id}", user_id=bid.user_id,
                         action=action, auction=auction.auction_id, bid=bid.bid_id,
                         amount=bid.amount if action == "reserve" else 0, item=auction.item, title=auction.title,
                         vip_only=auction.vip_only, outbid=outbid, failed=failed)  # fmt: skip


def record(state: AuctionState, auction: AuctionInput, now: datetime) -> AuctionRecord:
    leader = state.leader
    return AuctionRecord(auction_id=auction.auction_id, item=auction.item, title=auction.title,
                         start_price=auction.start_price, increment=auction.increment, vip_only=auction.vip_only,
                         ends_at=state.ends_at, status=state.status, leader=leader.user_id if leader else None,
                         leading_bid=leader.amount if leader else None, bids=state.bids,
                         created_by=auction.created_by, changed_at=state.changed_at or now)  # fmt: skip
