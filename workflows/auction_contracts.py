"""Contracts of auctions: the Auction workflow's input and state, its Updates (a bid, a cancellation) and its
activities' payloads.

An auction sells one catalogue item to the highest bidder. Its state is all it knows (the leader, the end, the bids
whose besitos may still be held in a journey), carried whole across continue-as-new; the journeys hold the besitos
(``WalletRequest``), the ``auctions`` table shows it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, Field

from workflows.contracts import Language, WalletRequest

AUCTION_ID_PREFIX: Final = "auction-"
# The id an admin's command gives an auction (``<chat id>-<message id>``), or a test's; in callback data too.
AUCTION_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,40}$"
# Bids and prices an auction takes at most (well inside a journey's balance, and an int32 column).
MAX_BID: Final = 10_000_000
# Bids whose outcome a run keeps for a press delivered again (a new run no longer knows the Update's id).
OUTCOMES_KEPT: Final = 500

AuctionStatus = Literal["running", "ended", "cancelled"]
# Why a bid does not lead: too_low (under the minimum now), ended (or cancelled), funds (not enough spendable besitos),
# vip (a VIP-only auction), closed (the bidder's journey cannot hold besitos: not begun, banned, erased),
# unavailable (the bidder's journey did not answer in time).
BidRefusal = Literal["too_low", "ended", "funds", "vip", "closed", "unavailable"]
BID_REFUSALS: Final[frozenset[str]] = frozenset({"too_low", "ended", "funds", "vip", "closed", "unavailable"})


def auction_workflow_id(auction_id: str) -> str:
    return f"{AUCTION_ID_PREFIX}{auction_id}"


class Bid(BaseModel):
    """A bid that led (its besitos held in the bidder's journey until released or captured)."""

    bid_id: str
    user_id: int
    amount: int
    at: datetime


class BidResult(BaseModel):
    """What became of a bid: leading, or why not; with the auction as it stands after it."""

    leading: bool
    refusal: BidRefusal | None = None
    amount: int = 0  # the bid
    minimum: int = 0  # the lowest bid the auction takes now
    leading_bid: int | None = None
    spendable: int = 0  # funds: what the bidder may spend (their reserve here included)
    ends_at: datetime | None = None
    extended: bool = False  # this bid moved the end
    duplicate: bool = False


class AuctionState(BaseModel):
    status: AuctionStatus = "running"
    ends_at: datetime
    leader: Bid | None = None
    bids: int = 0  # bids that led
    # Every bid whose reserve a journey may hold: released at the end (the winner's captured). A release names the
    # bid, so releasing one a newer bid replaced changes nothing.
    reserved: list[Bid] = Field(default_factory=list)
    # Releases asked for and not yet carried out (outbid leaders, a reserve that did not answer in time).
    releases: list[WalletRequest] = Field(default_factory=list)
    outcomes: dict[str, BidResult] = Field(default_factory=dict)
    recorded_at: datetime | None = None  # the last change written to the ``auctions`` row
    changed_at: datetime | None = None
    cancelled_by: int | None = None
    settled: bool = False  # the winner's reserve captured (or found gone), the rest released


class AuctionInput(BaseModel):
    """One auction of a catalogue item. ``title`` names it in the notices (the item's name); ``language`` is the
    admin's, for the report at the end; ``state`` is set only by continue-as-new."""

    auction_id: str = Field(pattern=AUCTION_ID_PATTERN)
    item: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    start_price: int = Field(ge=1, le=MAX_BID)
    increment: int = Field(ge=1, le=MAX_BID)
    vip_only: bool = False
    ends_at: datetime
    # A bid this close to the end moves it to the bid's moment plus as much (the content's ``extend_minutes``).
    extend_seconds: int = Field(default=180, ge=0, le=24 * 3600)
    created_by: int
    language: Language = "es"
    state: AuctionState | None = None


class BidRequest(BaseModel):
    """A user bids ``amount``; ``bid_id`` comes from the Telegram update, so a press delivered again is one bid."""

    bid_id: str = Field(min_length=1, max_length=64)
    user_id: int
    amount: int = Field(ge=1, le=MAX_BID)


class CancelRequest(BaseModel):
    admin_id: int


class AuctionOutcome(BaseModel):
    """How an auction ended: who won with how much, or why nobody did."""

    auction_id: str
    status: AuctionStatus
    winner: int | None = None
    amount: int | None = None
    bids: int = 0
    # ended: the winner's journey could not take it (erased meanwhile): nobody got the item.
    unclaimed: bool = False


class AuctionRecord(BaseModel):
    """The ``auctions`` row as the bot and the dashboard read it; a newer ``changed_at`` wins."""

    auction_id: str
    item: str
    title: str
    start_price: int
    increment: int
    vip_only: bool
    ends_at: datetime
    status: AuctionStatus
    leader: int | None = None
    leading_bid: int | None = None
    bids: int = 0
    created_by: int
    changed_at: datetime


class AuctionReport(BaseModel):
    """The admins are told how an auction ended, each once."""

    auction_id: str
    title: str
    language: Language
    created_by: int
    outcome: AuctionOutcome
