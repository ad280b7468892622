"""What an auction asks of a bidder's journey: hold besitos for a leading bid, let them go, or take them when it wins.

Pure rules. Each ``WalletRequest`` is applied once (by ``request_id``), and each is safe to repeat in any order the
auction's retries can produce: a release names the bid whose reserve it lets go of (a newer bid's reserve stays), and a
capture of an auction this journey already settled changes nothing. Holding moves no besitos (no ledger row); taking
them is a spend, with the item put in the backpack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from workflows import shop, subscription
from workflows.content import Content
from workflows.contracts import (
    Button,
    Effect,
    JourneyState,
    Reserve,
    Screen,
    WalletReply,
    WalletRequest,
)
from workflows.progress import Turn, leaderboard_effect, notification, spend, spendable
from workflows.rules import RECENT_UPDATE_WINDOW, save_profile

# Auctions whose end a journey remembers (a late capture or release of an older one is answered from the ledger key).
SETTLED_KEPT: Final = 200
# Bids released before their reserve arrived, remembered so the reserve, if it ever arrives, holds nothing.
RELEASED_KEPT: Final = 100
# Answers kept for requests repeated after continue-as-new (an auction retries within minutes; this covers hundreds).
ANSWERS_KEPT: Final = 200


@dataclass
class WalletOutcome:
    state: JourneyState
    reply: WalletReply
    effects: list[Effect] = field(default_factory=list)


def delivery(request: WalletRequest) -> str:
    return f"wallet:{request.request_id}"


def apply(state: JourneyState, request: WalletRequest, now: datetime, content: Content) -> WalletOutcome:
    if delivery(request) in state.recent_deliveries or request.request_id in state.wallet.answers:
        refusal = state.wallet.answers.get(request.request_id) or None
        reply = WalletReply(ok=refusal is None, refusal=refusal, spendable=spendable(state), duplicate=True)
        return WalletOutcome(state=state, reply=reply)
    state = state.model_copy(deep=True)
    state.recent_deliveries = [*state.recent_deliveries, delivery(request)][-RECENT_UPDATE_WINDOW:]
    turn = Turn(state=state, content=content, now=now, cause=delivery(request))
    subscription.tick(turn)  # VIP may have ended by now: a VIP-only bid reads it
    if request.action == "reserve":
        reply = _reserve(turn, request)
    elif request.action == "release":
        reply = _release(turn, request)
    else:
        reply = _capture(turn, request)
    answers = {**state.wallet.answers, request.request_id: reply.refusal or ""}
    state.wallet.answers = dict(list(answers.items())[-ANSWERS_KEPT:])
    return WalletOutcome(state=state, reply=reply, effects=turn.effects)


def _reserve(turn: Turn, request: WalletRequest) -> WalletReply:
    """Hold ``amount`` for this bid; a raise by the same bidder replaces their earlier reserve in this auction."""
    state, wallet = turn.state, turn.state.wallet
    late = f"{request.auction}:{request.bid}" in wallet.released_bids
    if state.stage != "active" or state.banned or request.auction in wallet.settled_auctions or late:
        return WalletReply(ok=False, refusal="closed", spendable=spendable(state))
    if request.vip_only and not state.vip:
        return WalletReply(ok=False, refusal="vip", spendable=spendable(state))
    earlier = next((r for r in wallet.reserves if r.auction == request.auction), None)
    held = earlier.amount if earlier is not None else 0
    if request.amount <= 0 or spendable(state) + held < request.amount:
        return WalletReply(ok=False, refusal="funds", spendable=spendable(state) + held)
    others = [r for r in wallet.reserves if r.auction != request.auction]
    replaced = earlier.model_copy(update={"replaced": None}) if earlier is not None else None
    wallet.reserves = [*others, Reserve(auction=request.auction, bid=request.bid, amount=request.amount,
                                        replaced=replaced)]  # fmt: skip
    return WalletReply(ok=True, spendable=spendable(state))


def _release(turn: Turn, request: WalletRequest) -> WalletReply:
    """Let go of the reserve held for ``bid`` (outbid, or the auction ended without them); told when outbid."""
    state, wallet = turn.state, turn.state.wallet
    held = next((r for r in wallet.reserves if r.auction == request.auction and r.bid == request.bid), None)
    if held is None:
        # A newer bid holds it, or it was let go already, or its reserve has not arrived yet (the auction gave up
        # waiting): then it never will hold anything.
        wallet.released_bids = [*wallet.released_bids, f"{request.auction}:{request.bid}"][-RELEASED_KEPT:]
        return WalletReply(ok=True, spendable=spendable(state))
    wallet.reserves = [r for r in wallet.reserves if r is not held]
    if request.failed and held.replaced is not None:
        # The raise never led: the bid it replaced still leads, and holds what it held.
        wallet.reserves = [*wallet.reserves, held.replaced]
    if request.outbid and state.stage == "active":
        screen = Screen(key="notify.auction.outbid", params={"title": request.title, "amount": held.amount},
                        buttons=[[Button(label="shop.auctions", action=shop.AUCTIONS)]])  # fmt: skip
        turn.effects.append(notification(state, f"auction:{request.auction}:outbid:{request.bid}", screen))
    return WalletReply(ok=True, spendable=spendable(state))


def _capture(turn: Turn, request: WalletRequest) -> WalletReply:
    """The auction ended and this bid won: its besitos are spent and the item goes into the backpack, once."""
    state, wallet = turn.state, turn.state.wallet
    if request.auction in wallet.settled_auctions:
        return WalletReply(ok=True, spendable=spendable(state))
    held = next((r for r in wallet.reserves if r.auction == request.auction and r.bid == request.bid), None)
    wallet.settled_auctions = [*wallet.settled_auctions, request.auction][-SETTLED_KEPT:]
    if held is None:
        # Nothing is held for the winning bid (the journey was erased or reset meanwhile): nothing is taken or given.
        return WalletReply(ok=False, refusal="closed", spendable=spendable(state))
    wallet.reserves = [r for r in wallet.reserves if r is not held]
    item = turn.content.shop.by_code.get(request.item)
    purchase = shop.new_purchase(turn, request.item, "auction", held.amount)
    spend(turn, amount=held.amount, action="auction_won", key=f"auction:{request.auction}",
          context={"auction": request.auction, "item": request.item, "purchase": purchase.id})  # fmt: skip
    if item is not None:
        shop.hand_over(turn, item, purchase)
    else:
        shop.record(turn, purchase)
    shop.settle(turn)
    leaderboard_effect(turn)
    if state.profile is not None:
        turn.effects.insert(0, save_profile(state, turn.now))
    screen = Screen(key="notify.auction.won", params={"title": request.title, "amount": held.amount},
                    notices=turn.summary(), buttons=[[Button(label="shop.backpack", action=shop.BACKPACK)]])  # fmt: skip
    turn.effects.append(notification(state, f"auction:{request.auction}:won", screen))
    return WalletReply(ok=True, spendable=spendable(state))
