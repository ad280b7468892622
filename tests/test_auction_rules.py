"""The auction's pure rules: the minimum bid, refusals, the extension, leading and outbidding, what is released at the
end; and a bidding war played through the rules and the journeys' wallets, which always agree. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.callbacks import AuctionCB
from bot.auctions import answer_text
from tests.test_rules import CONTENT, USER, onboarded
from workflows import auction_rules as rules
from workflows import wallet
from workflows.auction_contracts import MAX_BID, OUTCOMES_KEPT, AuctionInput, AuctionState, BidRequest, BidResult
from workflows.contracts import AwardBesitos, JourneyState, Language, Notify, WalletRequest
from workflows.progress import spendable

START = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
AUCTION = AuctionInput(auction_id="a1", item="retrato", title="Retrato", start_price=100, increment=10, ends_at=END,
                       extend_seconds=180, created_by=1)  # fmt: skip


def fresh() -> AuctionState:
    return AuctionState(ends_at=END, changed_at=START)


def bid(user: int, amount: int, bid_id: str | None = None) -> BidRequest:
    return BidRequest(bid_id=bid_id or f"b{user}-{amount}", user_id=user, amount=amount)


class TestWhichBidIsTaken:
    def test_the_first_bid_is_at_least_the_starting_price(self) -> None:
        assert rules.minimum(fresh(), AUCTION) == 100
        assert rules.refusal(fresh(), AUCTION, 99, START) == "too_low"
        assert rules.refusal(fresh(), AUCTION, 100, START) is None

    def test_then_the_leading_bid_plus_the_increment(self) -> None:
        state = rules.lead(fresh(), AUCTION, bid(1, 150), START).state
        assert rules.minimum(state, AUCTION) == 160
        assert rules.refusal(state, AUCTION, 159, START) == "too_low"
        assert rules.refusal(state, AUCTION, 160, START) is None

    def test_the_leader_may_raise_their_own_bid_by_the_increment(self) -> None:
        state = rules.lead(fresh(), AUCTION, bid(1, 100), START).state
        assert rules.refusal(state, AUCTION, 105, START) == "too_low"
        raised = rules.lead(state, AUCTION, bid(1, 110), START)
        assert raised.outbid is None, "no release: the journey replaces its own reserve"
        assert [b.bid_id for b in raised.state.reserved] == ["b1-110"], "one reserve per bidder"

    @pytest.mark.parametrize("status", ["ended", "cancelled"])
    def test_nothing_is_taken_once_it_is_over(self, status: str) -> None:
        state = fresh().model_copy(update={"status": status})
        assert rules.refusal(state, AUCTION, 10_000, START) == "ended"

    def test_nor_at_or_after_its_end(self) -> None:
        assert rules.refusal(fresh(), AUCTION, 100, END - timedelta(seconds=1)) is None
        assert rules.refusal(fresh(), AUCTION, 100, END) == "ended"
        assert rules.refusal(fresh(), AUCTION, 100, END + timedelta(days=1)) == "ended"

    def test_the_given_state_is_never_changed(self) -> None:
        state = fresh()
        before = state.model_dump()
        rules.lead(state, AUCTION, bid(1, 100), START)
        rules.end(state, START)
        rules.cancel(state, 1, START)
        assert state.model_dump() == before


class TestTheEnd:
    @pytest.mark.parametrize(
        ("left", "moved"),
        [(timedelta(minutes=30), False), (timedelta(minutes=3), False), (timedelta(minutes=2, seconds=59), True),
         (timedelta(seconds=1), True)],
    )  # fmt: skip
    def test_a_bid_in_the_last_minutes_moves_the_end_to_the_bid_plus_as_many(self, left: timedelta,
                                                                             moved: bool) -> None:  # fmt: skip
        now = END - left
        assert rules.extended_end(END, now, 180) == (now + timedelta(minutes=3) if moved else END)
        led = rules.lead(fresh(), AUCTION, bid(1, 100), now)
        assert led.result.extended is moved and led.state.ends_at == rules.extended_end(END, now, 180)

    def test_without_an_extension_the_end_stays(self) -> None:
        assert rules.extended_end(END, END - timedelta(seconds=5), 0) == END

    def test_the_winner_pays_and_everyone_else_is_released(self) -> None:
        state = fresh()
        for user, amount in ((1, 100), (2, 110), (3, 120), (1, 130)):
            state = rules.lead(state, AUCTION, bid(user, amount), START).state
        assert [b.bid_id for b in state.reserved] == ["b2-110", "b3-120", "b1-130"]
        ended = rules.end(state, END)
        assert [b.bid_id for b in rules.leftovers(ended)] == ["b2-110", "b3-120"]
        outcome = rules.outcome(ended, AUCTION)
        assert (outcome.winner, outcome.amount, outcome.bids) == (1, 130, 4)
        assert rules.outcome(ended, AUCTION, unclaimed=True).winner is None

    def test_a_cancelled_auction_releases_everyone_and_nobody_wins(self) -> None:
        state = rules.lead(fresh(), AUCTION, bid(1, 100), START).state
        cancelled = rules.cancel(state, 9, START)
        assert [b.user_id for b in rules.leftovers(cancelled)] == [1]
        assert rules.outcome(cancelled, AUCTION).winner is None

    def test_outcomes_are_kept_for_presses_delivered_again_within_a_bound(self) -> None:
        state = fresh()
        led = rules.lead(state, AUCTION, bid(1, 100, "t1"), START)
        assert led.state.outcomes["t1"].leading
        many = state
        for n in range(OUTCOMES_KEPT + 5):
            many = rules.remember(many, f"t{n}", led.result)
        assert len(many.outcomes) == OUTCOMES_KEPT and "t0" not in many.outcomes


class TestWalletRequests:
    def test_each_request_id_names_the_auction_the_action_and_the_bid(self) -> None:
        request = rules.wallet_request(AUCTION, "reserve", bid(1, 100, "telegram-7"))
        assert request.request_id == "auction:a1:reserve:telegram-7" and request.amount == 100
        release = rules.wallet_request(AUCTION, "release", bid(1, 100, "telegram-7"), outbid=True)
        assert release.request_id == "auction:a1:release:telegram-7" and release.amount == 0 and release.outbid


def journey(user: int, besitos: int) -> JourneyState:
    """A journey past its introduction, with ``besitos`` to spend."""
    return onboarded().model_copy(update={"user_id": user, "besitos": besitos, "lifetime_besitos": besitos})


def test_a_bidding_war_through_the_journeys_wallets_keeps_every_besito() -> None:
    """Three bidders: each leading bid is held, each outbid one let go (with a notice), the winner pays once."""
    journeys = {user: journey(user, 500) for user in (USER, USER + 1, USER + 2)}
    state = fresh()
    notices: dict[int, int] = dict.fromkeys(journeys, 0)
    ledger: dict[int, list[AwardBesitos]] = {user: [] for user in journeys}
    now = START

    def ask(request: WalletRequest) -> bool:
        outcome = wallet.apply(journeys[request.user_id], request, now, CONTENT)
        journeys[request.user_id] = outcome.state
        notices[request.user_id] += sum(isinstance(e, Notify) for e in outcome.effects)
        ledger[request.user_id] += [e for e in outcome.effects if isinstance(e, AwardBesitos)]
        return outcome.reply.ok

    for user, amount in ((USER, 100), (USER + 1, 110), (USER + 2, 300), (USER, 310), (USER + 1, 600), (USER + 1, 320)):
        request = bid(user, amount)
        if rules.refusal(state, AUCTION, amount, now) is not None:
            continue
        if not ask(rules.wallet_request(AUCTION, "reserve", request)):
            assert amount == 600, "more than the bidder has: refused, nothing held"
            continue
        led = rules.lead(state, AUCTION, request, now)
        state = led.state
        if led.outbid is not None:
            assert ask(rules.wallet_request(AUCTION, "release", led.outbid, outbid=True))
        now += timedelta(minutes=1)
        # Every journey holds exactly what the auction says it leads with, and nobody else holds anything.
        for user_id, journey_state in journeys.items():
            held = journey_state.wallet.reserved
            assert held == (state.leader.amount if state.leader and state.leader.user_id == user_id else 0)
    assert state.leader is not None and (state.leader.user_id, state.leader.amount) == (USER + 1, 320)
    ended = rules.end(state, END)
    assert ended.leader is not None
    assert ask(rules.wallet_request(AUCTION, "capture", ended.leader))
    for leftover in rules.leftovers(ended):
        assert ask(rules.wallet_request(AUCTION, "release", leftover))
    # Asked again (a retried activity): nothing more happens.
    assert ask(rules.wallet_request(AUCTION, "capture", ended.leader))
    winner = journeys[USER + 1]
    assert [(row.action, row.amount) for row in ledger[USER + 1] if row.amount < 0] == [("auction_won", -320)]
    assert winner.besitos == 500 + sum(row.amount for row in ledger[USER + 1]), "the ledger agrees with the balance"
    assert winner.wallet.reserved == 0 and spendable(winner) == winner.besitos
    assert [p.item for p in winner.wallet.purchases] == ["retrato"] and winner.wallet.purchases[0].price == 320
    assert AUCTION.auction_id in winner.wallet.settled_auctions
    for loser in (USER, USER + 2):
        assert journeys[loser].besitos == 500 and not journeys[loser].wallet.reserves and not ledger[loser]
    assert notices[USER] == 2 and notices[USER + 2] == 1, "each outbid leader is told, once per time"
    assert notices[USER + 1] == 2, "outbid once, and told they won"
    spent = [e for e in wallet.apply(journey(USER + 1, 500), rules.wallet_request(AUCTION, "reserve", bid(USER + 1, 100)),
                                     START, CONTENT).effects if isinstance(e, AwardBesitos)]  # fmt: skip
    assert not spent, "holding besitos writes no ledger row"


class TestWhatTheBidderReads:
    def test_a_bid_button_fits_telegrams_64_bytes(self) -> None:
        longest = AuctionCB(auction="x" * 40, amount=MAX_BID, screen=2**31).pack()
        assert len(longest.encode()) <= 64

    @pytest.mark.parametrize("language", ["es", "en"])
    @pytest.mark.parametrize("refusal", [None, "too_low", "ended", "funds", "vip", "closed", "unavailable"])
    def test_every_answer_to_a_bid_fits_a_callback_answer(self, language: Language, refusal: str | None) -> None:
        result = BidResult.model_validate({"leading": refusal is None, "refusal": refusal, "amount": MAX_BID,
                                           "minimum": MAX_BID, "spendable": MAX_BID, "ends_at": END, "extended": True})  # fmt: skip
        text = answer_text(result, CONTENT.calendar.timezone, language)
        assert "{" not in text and 0 < len(text) <= 200, text
