"""Spending besitos, as pure rules: the shop, the backpack, priced story, gifts, refunds and auction reserves."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

import pytest
import yaml

from tests.helpers import REPO_ROOT, request, shipped_content
from tests.test_rules import NOW, USER, onboarded
from workflows import rules, shop, support, wallet
from workflows.content import Content, content_problems, shop_problems
from workflows.contracts import (
    AwardBesitos,
    JourneyError,
    JourneyState,
    Notify,
    RecordPurchase,
    ReleaseStock,
    StockClaimed,
    SupportRequest,
    WalletRequest,
)
from workflows.progress import metric, spendable

ITEMS: list[dict[str, Any]] = [
    {"code": "velas", "name": {"es": "Tres velas encendidas para ti", "en": "Three candles lit for you"},
     "description": {"es": "Las velas que encendí por ti.", "en": "The candles I lit for you."},
     "price": 50, "vip_price": 40, "gives": {"kind": "media", "media": ["vela_1", "vela_2", "vela_3"]}},
    {"code": "carta", "name": {"es": "Una carta mía"}, "description": {"es": "Palabras mías."}, "price": 30,
     "gives": {"kind": "message", "text": {"es": "Te pienso más de lo que admito."}}},
    {"code": "carta_noche", "name": {"es": "Carta de medianoche"}, "description": {"es": "Te llegará a su hora, cariño."}, "price": 30,
     "gives": {"kind": "message", "text": {"es": "Es medianoche, y aquí estás."}, "at_hour": 23}},
    {"code": "puerta", "name": {"es": "La puerta del capítulo 2"}, "description": {"es": "Pasa antes."},
     "price": 20, "gives": {"kind": "story", "fragments": ["f07"]}},
    {"code": "semana_vip", "name": {"es": "Una semana a mi lado"}, "description": {"es": "Siete días."}, "price": 60,
     "gives": {"kind": "vip_days", "days": 7}},
    {"code": "nota_de_voz", "name": {"es": "Nota de voz con tu nombre"}, "description": {"es": "Con tu nombre."}, "price": 40,
     "stock": 1, "per_user": 1, "gives": {"kind": "reward", "text": {"es": "Una nota de voz con tu nombre."}}},
    {"code": "espejo", "name": {"es": "El espejo"}, "description": {"es": "Míralo conmigo."}, "price": 65,
     "gives": {"kind": "media", "media": ["espejo"]}},
    {"code": "pasado", "name": {"es": "Lo que fue"}, "description": {"es": "Ya no."}, "price": 10,
     "available_until": "2026-01-01T00:00:00+00:00", "gives": {"kind": "message", "text": {"es": "Adiós."}}},
]  # fmt: skip


def shop_document() -> dict[str, Any]:
    """The shipped story with this test's own catalogue, a priced choice (c01_follow, 15 once) and a fragment paid on
    every playthrough (f05, 5)."""
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "content" / "diana.yaml").read_text(encoding="utf-8"))
    document["version"] = "shop-test"
    for fragment in document["story"]["fragments"]:
        fragment.pop("price", None)
        fragment.pop("paid", None)
        if fragment["id"] == "f05":
            fragment.update(price=5, paid="each_playthrough")
        for choice in fragment.get("choices", []):
            choice.pop("price", None)
            choice.pop("paid", None)
            if choice["id"] == "c01_follow":
                choice["price"] = 15
    document["shop"] = {"items": ITEMS}
    # Goals on spending would pay besitos back on a purchase: the shipped ones are tested on their own.
    for kind in ("missions", "achievements"):
        document[kind] = [goal for goal in document[kind] if goal["metric"] not in ("besitos_spent", "items_bought")]
    return document


@cache
def shop_content() -> Content:
    content = Content.model_validate(shop_document())
    assert content_problems(content) == []
    return content


def press(state: JourneyState, action: str, claim: StockClaimed | None = None,
          now: Any = NOW) -> rules.Decision:  # fmt: skip
    req = request(USER, "button", action=action, screen=state.screen_seq)
    return rules.decide(state, req, now, shop_content(), claim=claim)


def walk(state: JourneyState, *actions: str) -> JourneyState:
    for action in actions:
        state = press(state, action).state
    return state


def rich(besitos: int = 500) -> JourneyState:
    """An onboarded user given ``besitos`` more by support."""
    state = onboarded()
    if not besitos:
        return state
    grant = SupportRequest(request_id="rich", user_id=USER, actor="test", action="grant", amount=besitos,
                           reason="test funds")  # fmt: skip
    return support.apply(state, grant, NOW, shop_content()).state


def spent_rows(effects: list[Any]) -> list[AwardBesitos]:
    return [e for e in effects if isinstance(e, AwardBesitos) and e.amount < 0]


class TestCatalogue:
    def test_the_shop_lists_what_is_on_sale_with_this_users_price(self) -> None:
        screen = press(rich(), "shop").screen
        texts = [b.text for row in screen.buttons for b in row if b.action.startswith(shop.ITEM)]
        assert texts[0] == "Tres velas encendidas para ti · 💋 50"
        assert not any("Lo que fue" in (t or "") for t in texts)  # its window closed
        assert screen.params["spendable"] == rich().besitos > 500

    def test_content_problems_name_bad_items(self) -> None:
        content = shop_content()
        bad = content.model_copy(update={"shop": content.shop.model_copy(update={"items": (
            *content.shop.items[:1], content.shop.items[0],
            content.shop.items[3].model_copy(update={"code": "vip_door", "gives": content.shop.items[3].gives.model_copy(
                update={"fragments": ("f15", "nada", "f02")})}),
        )})})  # fmt: skip
        problems = shop_problems(bad)
        assert "shop item code 'velas' is used twice" in problems
        assert any("f15, which is VIP" in p for p in problems)
        assert any("'nada', which does not exist" in p for p in problems)
        assert any("f02, which is open to everyone" in p for p in problems)

    def test_an_item_that_gives_nothing_is_refused(self) -> None:
        document = {"code": "x", "name": {"es": "X"}, "description": {"es": "X"}, "price": 1,
                    "gives": {"kind": "media"}}  # fmt: skip
        with pytest.raises(ValueError, match="needs media"):
            type(shop_content().shop.items[0]).model_validate(document)


class TestBuying:
    def test_buying_with_exact_funds_charges_once_and_delivers_the_media_again_from_the_backpack(self) -> None:
        state = rich(0)
        state.besitos = 50  # exactly the price (the ledger of this pure test is not the point)
        state = press(state, "shop.item.velas").state
        decision = press(state, "shop.buy.velas")
        assert decision.state.besitos == 0 and decision.state.wallet.spent == 50
        assert [row.amount for row in spent_rows(decision.effects)] == [-50]
        assert decision.screen.key == "shop.opened.media" and len(decision.screen.media) == 3
        assert decision.state.lifetime_besitos == state.lifetime_besitos  # the level never falls
        purchase = decision.state.wallet.purchases[-1]
        assert (purchase.item, purchase.price, purchase.status) == ("velas", 50, "delivered")
        backpack = press(decision.state, "backpack").screen
        assert backpack.key == "shop.backpack.list"
        reopened = press(press(decision.state, "backpack").state, f"backpack.{purchase.id}")
        assert reopened.screen.key == "shop.opened.media" and len(reopened.screen.media) == 3
        assert not spent_rows(reopened.effects)

    def test_too_few_besitos_says_how_many_are_missing_and_charges_nothing(self) -> None:
        state = rich(0)
        state.besitos = 35
        screen = press(state, "shop.item.velas").screen
        assert screen.key == "shop.item.funds" and screen.params["missing"] == 15
        assert not any(b.action.startswith(shop.BUY) for row in screen.buttons for b in row)
        decision = press(state, "shop.buy.velas")  # an old confirm button pressed anyway
        assert decision.screen.key == "shop.item.funds" and decision.state.besitos == 35
        assert not spent_rows(decision.effects) and not decision.state.wallet.purchases

    def test_a_vip_pays_the_vip_price(self) -> None:
        state = rich()
        state = press(press(state, "shop.item.semana_vip").state, "shop.buy.semana_vip").state
        assert state.vip and state.subscription.expires_at == NOW + timedelta(days=7)
        decision = press(press(state, "shop.item.velas").state, "shop.buy.velas")
        assert [row.amount for row in spent_rows(decision.effects)] == [-40]

    def test_vip_days_bought_extend_an_active_vip_from_its_expiry(self) -> None:
        state = rich()
        state = walk(
            state, "shop.item.semana_vip", "shop.buy.semana_vip", "shop.item.semana_vip", "shop.buy.semana_vip"
        )
        assert state.subscription.expires_at == NOW + timedelta(days=14)
        assert [c.charge_id for c in state.subscription.charges] == ["shop:p1", "shop:p2"]

    def test_a_double_press_is_refused_as_stale_and_charges_once(self) -> None:
        state = press(rich(), "shop.item.carta").state
        first = request(USER, "button", action="shop.buy.carta", screen=state.screen_seq)
        second = request(USER, "button", action="shop.buy.carta", screen=state.screen_seq)
        after = rules.decide(state, first, NOW, shop_content()).state
        with pytest.raises(rules.Rejection) as refused:
            rules.decide(after, second, NOW, shop_content())
        assert refused.value.kind == JourneyError.STALE_SCREEN
        # The same update delivered again is answered as before and changes nothing.
        assert rules.decide(after, first, NOW, shop_content()).state.besitos == after.besitos

    def test_a_limited_item_is_sold_only_with_its_claimed_unit(self) -> None:
        state = press(rich(), "shop.item.nota_de_voz").state
        claim_id = shop.claim_id(state, "x")
        sold_out = press(state, "shop.buy.nota_de_voz", StockClaimed(claim_id=claim_id, claimed=False))
        assert sold_out.screen.key == "shop.sold_out" and not spent_rows(sold_out.effects)
        bought = press(state, "shop.buy.nota_de_voz", StockClaimed(claim_id=claim_id, claimed=True))
        assert bought.screen.key == "shop.opened.waiting"  # a reward: an order for the admins
        assert bought.state.wallet.purchases[-1].claim_id == claim_id
        # The per-user limit: a second one is refused before any unit is claimed (and one claimed anyway goes back).
        again = press(press(bought.state, "shop.item.nota_de_voz").state, "shop.buy.nota_de_voz",
                      StockClaimed(claim_id="other", claimed=True))  # fmt: skip
        assert again.screen.key == "shop.item.limit"
        assert ReleaseStock(claim_id="other") in again.effects

    def test_a_closed_item_cannot_be_bought(self) -> None:
        decision = press(rich(), "shop.buy.pasado")
        assert decision.screen.key == "shop.item.closed" and not spent_rows(decision.effects)

    def test_an_unknown_item_is_refused(self) -> None:
        with pytest.raises(rules.Rejection) as refused:
            press(rich(), "shop.buy.nada")
        assert refused.value.kind == JourneyError.UNKNOWN_ACTION

    def test_a_message_at_an_hour_waits_for_it_then_arrives_once(self) -> None:
        state = walk(rich(), "shop.item.carta_noche", "shop.buy.carta_noche")
        purchase = state.wallet.purchases[-1]
        assert purchase.status == "scheduled" and purchase.deliver_at is not None
        assert shop.next_delivery(state) == purchase.deliver_at
        alarm = rules.next_alarm(state, shop_content(), NOW)
        assert alarm is not None and alarm <= purchase.deliver_at
        due = purchase.deliver_at
        effects = rules.alarm(state, shop_content(), due)
        notes = [e for e in effects if isinstance(e, Notify) and e.screen.key == "notify.shop.message"]
        assert len(notes) == 1 and state.wallet.purchases[-1].status == "delivered"
        assert not [e for e in rules.alarm(state, shop_content(), due) if isinstance(e, Notify)
                    and e.screen.key == "notify.shop.message"]  # fmt: skip

    def test_a_story_unlock_opens_a_fragment_its_level_kept_closed(self) -> None:
        state = walk(rich(0), "story", "pick.c01_ask", "story_next", "pick.c04_keep", "story_pay.c04_keep")
        state.lifetime_besitos = 0  # level 1: f07 asks for level 2
        assert press(state, "story_next").screen.key == "story.locked.level"
        state = walk(state, "shop.item.puerta", "shop.buy.puerta", "story")
        assert press(state, "story_next").state.story.fragment_id == "f07"

    def test_spending_counts_for_missions_metrics(self) -> None:
        state = walk(rich(), "shop.item.carta", "shop.buy.carta")
        assert metric(state, shop_content(), "besitos_spent") == 30
        assert metric(state, shop_content(), "items_bought") == 1

    def test_every_purchase_is_recorded_for_the_admins(self) -> None:
        decision = press(press(rich(), "shop.item.carta").state, "shop.buy.carta")
        records = [e for e in decision.effects if isinstance(e, RecordPurchase)]
        assert [(r.item, r.price, r.status, r.source) for r in records] == [("carta", 30, "delivered", "shop")]


def test_spending_completes_the_shipped_goals_and_their_gift_lands_in_the_backpack() -> None:
    content = shipped_content()
    state = onboarded()
    grant = SupportRequest(request_id="g", user_id=USER, actor="t", action="grant", amount=600, reason="test funds")
    state = support.apply(state, grant, NOW, content).state
    for code in ("secreto_al_oido", "noche_de_carmin", "retrato_en_sombra", "noche_de_carmin"):
        state.screen_seq = state.screen.seq if state.screen else 0
        state = rules.decide(state, request(USER, "button", action=f"shop.item.{code}", screen=state.screen_seq), NOW,
                             content).state  # fmt: skip
        state = rules.decide(state, request(USER, "button", action=f"shop.buy.{code}", screen=state.screen_seq), NOW,
                             content).state  # fmt: skip
    assert "primer_capricho" in state.missions  # items bought
    assert "corazon_generoso" in state.achievements  # 500 besitos spent: its reward is a gift
    gifts = [p for p in state.wallet.purchases if p.source == "achievement"]
    assert [(p.item, p.price) for p in gifts] == [("susurro_a_las_once", 0)]
    assert sum(1 for p in state.wallet.purchases if p.source == "shop") == 4


class TestPricedStory:
    def test_a_priced_choice_shows_its_price_asks_then_charges_once_for_good(self) -> None:
        state = press(rich(), "story").state
        assert state.screen is not None
        texts = [b.text or "" for row in state.screen.buttons for b in row if b.action == "pick.c01_follow"]
        assert texts and texts[0].endswith("· 💋 15")
        asked = press(state, "pick.c01_follow")
        assert asked.screen.key == "story.price.ask" and asked.state.story.fragment_id == "f01"
        assert not spent_rows(asked.effects)
        paid = press(asked.state, "story_pay.c01_follow")
        assert paid.state.story.fragment_id == "f02"
        assert [row.amount for row in spent_rows(paid.effects)] == [-15]
        # Once for good: a later playthrough takes it for nothing.
        state = walk(paid.state, "story_next", "pick.c04_press", "story_next")  # f06 → f07 needs level 2
        state.story.fragment_id = "f14"  # an ending, to start again
        again = press(press(state, "story_restart").state, "pick.c01_follow")
        assert again.state.story.fragment_id == "f02" and not spent_rows(again.effects)

    def test_a_fragment_paid_each_playthrough_is_asked_again_on_the_next(self) -> None:
        state = walk(rich(), "story", "pick.c01_ask", "story_next")
        asked = press(state, "pick.c04_keep")
        assert asked.screen.key == "story.price.ask" and asked.screen.params["price"] == 5
        state = press(asked.state, "story_pay.c04_keep").state
        assert state.story.fragment_id == "f05" and "fragment:f05:1" in state.wallet.paid_story

    def test_too_few_besitos_for_a_priced_choice_says_how_many_are_missing(self) -> None:
        state = press(rich(0), "story").state
        state.besitos = 10
        decision = press(press(state, "pick.c01_follow").state, "story_pay.c01_follow")
        assert decision.screen.key == "story.price.missing" and decision.screen.params["missing"] == 5
        assert decision.state.story.fragment_id == "f01" and not spent_rows(decision.effects)


class TestGiftsAndRefunds:
    def test_support_gives_an_item_into_the_backpack_for_nothing(self) -> None:
        give = SupportRequest(request_id="g1", user_id=USER, actor="t", action="give_item", item="velas", reason="gift")
        outcome = support.apply(rich(), give, NOW, shop_content())
        purchase = outcome.state.wallet.purchases[-1]
        assert (purchase.item, purchase.price, purchase.source) == ("velas", 0, "support")
        assert not spent_rows(outcome.effects)
        with pytest.raises(rules.Rejection):
            support.apply(rich(), give.model_copy(update={"item": "nada", "request_id": "g2"}), NOW, shop_content())

    def test_a_limited_item_is_never_given_past_its_stock(self) -> None:
        give = SupportRequest(request_id="g1", user_id=USER, actor="t", action="give_item", item="nota_de_voz",
                              reason="gift")  # fmt: skip
        with pytest.raises(rules.Rejection, match="sold through the shop only"):
            support.apply(rich(), give, NOW, shop_content())
        document = shop_document()
        document["missions"][0]["reward_item"] = "nota_de_voz"
        assert any("which is limited" in p for p in shop_problems(Content.model_validate(document)))

    def test_refunding_an_order_gives_the_besitos_back_and_frees_its_unit(self) -> None:
        state = press(rich(), "shop.item.nota_de_voz").state
        state = press(state, "shop.buy.nota_de_voz", StockClaimed(claim_id="c1", claimed=True)).state
        balance = state.besitos
        refund = SupportRequest(request_id="r1", user_id=USER, actor="t", action="refund_purchase", purchase="p1",
                                reason="could not record it")  # fmt: skip
        outcome = support.apply(state, refund, NOW, shop_content())
        assert outcome.state.besitos == balance + 40 and outcome.state.wallet.spent == 0
        assert ReleaseStock(claim_id="c1") in outcome.effects
        assert any(
            isinstance(e, AwardBesitos) and e.action == "shop_refund" and e.amount == 40 for e in outcome.effects
        )
        with pytest.raises(rules.Rejection):  # twice: refused
            support.apply(outcome.state, refund.model_copy(update={"request_id": "r2"}), NOW, shop_content())

    def test_delivering_an_order_tells_the_user(self) -> None:
        state = press(rich(), "shop.item.nota_de_voz").state
        state = press(state, "shop.buy.nota_de_voz", StockClaimed(claim_id="c1", claimed=True)).state
        deliver = SupportRequest(request_id="d1", user_id=USER, actor="t", action="deliver_order", purchase="p1",
                                 reason="sent the voice note")  # fmt: skip
        outcome = support.apply(state, deliver, NOW, shop_content())
        assert outcome.state.wallet.purchases[-1].status == "delivered"
        assert any(isinstance(e, Notify) and e.screen.key == "notify.shop.delivered" for e in outcome.effects)


class TestAuctionReserves:
    def ask(self, state: JourneyState, action: str, bid: str, amount: int = 0, **extra: Any) -> wallet.WalletOutcome:
        req = WalletRequest(request_id=f"{action}-{bid}", user_id=USER, action=action, auction="a1", bid=bid,
                            amount=amount, item="velas", title="Tres velas", **extra)  # fmt: skip
        return wallet.apply(state, req, NOW, shop_content())

    def test_a_reserve_holds_besitos_from_the_shop_and_a_raise_replaces_it(self) -> None:
        balance = rich().besitos
        state = self.ask(rich(), "reserve", "b1", balance - 100).state
        assert state.besitos == balance and spendable(state) == 100
        assert press(state, "shop.item.semana_vip").screen.key == "shop.item.confirm"
        assert press(state, "shop.buy.nota_de_voz").screen.key != "shop.item.funds"
        state = self.ask(state, "reserve", "b2", balance - 50).state
        assert [r.amount for r in state.wallet.reserves] == [balance - 50] and spendable(state) == 50
        assert press(state, "shop.item.semana_vip").screen.key == "shop.item.funds"  # held besitos are not spendable
        refused = self.ask(state, "reserve", "b3", balance + 1)
        assert refused.reply.refusal == "funds" and [r.bid for r in refused.state.wallet.reserves] == ["b2"]

    def test_a_release_of_an_older_bid_keeps_the_newer_reserve_and_outbid_tells_the_user(self) -> None:
        state = self.ask(self.ask(rich(), "reserve", "b1", 100).state, "reserve", "b2", 200).state
        assert self.ask(state, "release", "b1", outbid=True).state.wallet.reserves[0].bid == "b2"
        released = self.ask(state, "release", "b2", outbid=True)
        assert not released.state.wallet.reserves
        assert [e.screen.key for e in released.effects if isinstance(e, Notify)] == ["notify.auction.outbid"]

    def test_capture_spends_the_reserve_once_and_delivers(self) -> None:
        state = self.ask(rich(), "reserve", "b1", 120).state
        won = self.ask(state, "capture", "b1")
        after = state.besitos - 120
        assert won.reply.ok and won.state.besitos == after and not won.state.wallet.reserves
        assert [r.amount for r in spent_rows(won.effects)] == [-120]
        assert won.state.wallet.purchases[-1].source == "auction"
        again = self.ask(won.state, "capture", "b1")
        assert again.reply.duplicate and again.state.besitos == after
        late = wallet.apply(won.state, WalletRequest(request_id="other", user_id=USER, action="capture", auction="a1",
                                                     bid="b1", item="velas"), NOW, shop_content())  # fmt: skip
        assert late.state.besitos == after and not spent_rows(late.effects)

    def test_a_reserve_arriving_after_its_release_holds_nothing(self) -> None:
        released = self.ask(rich(), "release", "b1")
        late = self.ask(released.state, "reserve", "b1", 100)
        assert late.reply.refusal == "closed" and not late.state.wallet.reserves
        assert self.ask(late.state, "reserve", "b2", 100).reply.ok  # a new bid of theirs still holds

    def test_a_raise_that_never_led_gives_back_the_hold_of_the_bid_that_still_leads(self) -> None:
        state = self.ask(self.ask(rich(), "reserve", "b1", 100).state, "reserve", "b2", 110).state
        assert [(r.bid, r.amount) for r in state.wallet.reserves] == [("b2", 110)]
        state = self.ask(state, "release", "b2", failed=True).state
        assert [(r.bid, r.amount) for r in state.wallet.reserves] == [("b1", 100)]
        won = self.ask(state, "capture", "b1")
        assert [r.amount for r in spent_rows(won.effects)] == [-100]

    def test_a_request_repeated_after_continue_as_new_gets_its_first_answer(self) -> None:
        refused = self.ask(rich(0), "reserve", "b1", 10_000)
        assert refused.reply.refusal == "funds"
        carried = refused.state.model_copy(update={"recent_deliveries": []})  # what a new run still knows
        again = self.ask(carried, "reserve", "b1", 10_000)
        assert again.reply.duplicate and not again.reply.ok and again.reply.refusal == "funds"

    def test_support_cannot_take_back_besitos_a_bid_holds(self) -> None:
        state = self.ask(rich(), "reserve", "b1", rich().besitos - 10).state
        take = SupportRequest(request_id="t1", user_id=USER, actor="t", action="grant", amount=-20, reason="oops")
        with pytest.raises(rules.Rejection, match="held by auction bids"):
            support.apply(state, take, NOW, shop_content())
        assert support.apply(state, take.model_copy(update={"amount": -10}), NOW, shop_content()).state.besitos >= 0

    def test_vip_only_auctions_refuse_free_users(self) -> None:
        assert self.ask(rich(), "reserve", "b1", 10, vip_only=True).reply.refusal == "vip"
