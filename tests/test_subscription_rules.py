"""The VIP subscription's pure rules: invoices, pre-checkout, payments, renewals, grace, expiry, refunds, passes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.helpers import request
from tests.test_rules import CONTENT, NOW, USER, decide, onboarded, play, press
from workflows import rules, story, subscription
from workflows.content import Content
from workflows.contracts import (
    AwardBesitos,
    CloseVipChannel,
    JourneyError,
    JourneyState,
    Notify,
    OpenVipChannel,
    PassRedemption,
    PaymentDetails,
    RecordPayment,
    RefundPayment,
    SaveStoryProgress,
    SaveSubscription,
    SendInvoice,
)
from workflows.progress import Turn

MONTH = timedelta(days=30)


def buy(state: JourneyState, plan: str = "mensual", now: datetime = NOW) -> tuple[JourneyState, SendInvoice]:
    decision = press(play(state, "vip", now=now), f"buy.{plan}", now)
    invoices = [e for e in decision.effects if isinstance(e, SendInvoice)]
    assert len(invoices) == 1
    return decision.state, invoices[0]


def details(invoice: SendInvoice, charge: str = "", amount: int | None = None) -> PaymentDetails:
    return PaymentDetails(payload=invoice.payload, currency="XTR", total_amount=invoice.stars if amount is None else amount,
                          charge_id=charge, provider_charge_id=f"p-{charge}" if charge else "")  # fmt: skip


def pre_checkout(state: JourneyState, payment: PaymentDetails, content: Content = CONTENT) -> rules.Decision:
    return rules.decide(state, request(USER, "pre_checkout").model_copy(update={"payment": payment}), NOW, content)


def paid(state: JourneyState, invoice: SendInvoice, charge: str, now: datetime = NOW) -> rules.Decision:
    req = request(USER, "payment").model_copy(update={"payment": details(invoice, charge)})
    return decide(state, req, now)


def vip_user(now: datetime = NOW, charge: str = "ch-1") -> JourneyState:
    state, invoice = buy(onboarded(now), now=now)
    return paid(state, invoice, charge, now).state


def rejected(kind: str, call: object, *args: object) -> None:
    with pytest.raises(rules.Rejection) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.kind == kind


def at(state: JourneyState, moment: datetime) -> tuple[JourneyState, list[object]]:
    """The journey's timer fired at ``moment``; the daily "come back" reminder is left out."""
    state = state.model_copy(deep=True)
    effects = rules.alarm(state, CONTENT, moment)
    return state, [e for e in effects if not (isinstance(e, Notify) and e.screen.key == "notify.reminder")]


class TestBuying:
    def test_the_vip_menu_shows_every_plan_with_its_price(self) -> None:
        screen = press(onboarded(), "vip").screen
        assert screen.key == "vip.menu.none"
        texts = [b.text for row in screen.buttons for b in row if b.action.startswith("buy.")]
        assert texts == ["💎 VIP Mensual · 250 ⭐", "💎 VIP Trimestral · 600 ⭐"]

    def test_a_plan_button_sends_one_stars_invoice(self) -> None:
        state, invoice = buy(onboarded())
        assert (invoice.stars, invoice.plan, invoice.title) == (250, "mensual", "VIP Mensual")
        assert invoice.payload == f"vip:{USER}:mensual:{state.screen_seq}"
        assert [i.payload for i in state.subscription.invoices] == [invoice.payload]
        assert not state.vip

    def test_an_unknown_plan_is_refused(self) -> None:
        state = play(onboarded(), "vip")
        rejected(JourneyError.PLAN_GONE, press, state, "buy.diamante")


class TestPreCheckout:
    def test_an_open_invoice_may_be_paid_and_nothing_changes_yet(self) -> None:
        state, invoice = buy(onboarded())
        decision = pre_checkout(state, details(invoice))
        assert decision.effects == [] and not decision.state.vip and decision.screen == state.screen

    def test_a_payload_for_another_user_is_refused(self) -> None:
        state, invoice = buy(onboarded())
        foreign = details(invoice).model_copy(update={"payload": invoice.payload.replace(str(USER), "999")})
        rejected(JourneyError.INVOICE_FOREIGN, pre_checkout, state, foreign)

    def test_a_replaced_invoice_is_stale(self) -> None:
        state, first = buy(onboarded())
        for _ in range(subscription.OPEN_INVOICES):
            state, _ = buy(state)
        rejected(JourneyError.INVOICE_STALE, pre_checkout, state, details(first))

    def test_a_plan_withdrawn_since_the_invoice_is_refused(self) -> None:
        state, invoice = buy(onboarded())
        document = CONTENT.model_dump(mode="json")
        document["vip"]["plans"] = [p for p in document["vip"]["plans"] if p["code"] != "mensual"]
        rejected(JourneyError.PLAN_GONE, pre_checkout, state, details(invoice), Content.model_validate(document))

    def test_an_invoice_already_paid_is_refused(self) -> None:
        state, invoice = buy(onboarded())
        state = paid(state, invoice, "ch-1").state
        rejected(JourneyError.ALREADY_PAID, pre_checkout, state, details(invoice))

    def test_a_wrong_amount_is_refused(self) -> None:
        state, invoice = buy(onboarded())
        rejected(JourneyError.INVALID_INPUT, pre_checkout, state, details(invoice, amount=1))


class TestPayment:
    def test_a_payment_starts_vip_for_the_plan_and_opens_the_channel(self) -> None:
        state, invoice = buy(onboarded())
        decision = paid(state, invoice, "ch-1")
        sub = decision.state.subscription
        assert decision.state.vip and sub.status == "active" and sub.expires_at == NOW + MONTH
        assert decision.screen.key == "vip.welcome"
        kinds = [type(e) for e in decision.effects]
        assert RecordPayment in kinds and SaveSubscription in kinds and OpenVipChannel in kinds
        recorded = next(e for e in decision.effects if isinstance(e, RecordPayment))
        assert (recorded.charge_id, recorded.stars, recorded.plan) == ("ch-1", 250, "mensual")
        # The seed's VIP Experience mission and VIP Access achievement come with it.
        assert "vip_experience" in decision.state.missions and "vip_access" in decision.state.achievements

    def test_the_same_charge_twice_is_applied_once(self) -> None:
        state, invoice = buy(onboarded())
        once = paid(state, invoice, "ch-1").state
        twice = paid(once, invoice, "ch-1")  # another update id: Telegram redelivered the payment
        assert twice.state.subscription.expires_at == once.subscription.expires_at
        assert not [e for e in twice.effects if isinstance(e, RecordPayment | SaveSubscription)]

    def test_a_payment_for_an_invoice_never_sent_is_refused(self) -> None:
        state = onboarded()
        forged = PaymentDetails(payload=f"vip:{USER}:mensual:99", currency="XTR", total_amount=250, charge_id="x")
        req = request(USER, "payment").model_copy(update={"payment": forged})
        rejected(JourneyError.INVOICE_STALE, decide, state, req)

    def test_an_invoice_pushed_out_by_later_presses_is_still_applied_when_paid(self) -> None:
        state, first = buy(onboarded())
        for _ in range(subscription.OPEN_INVOICES):
            state, _ = buy(play(state, "menu"))
        assert first.payload not in [i.payload for i in state.subscription.invoices]
        decision = paid(state, first, "ch-late")
        assert decision.state.vip and decision.state.subscription.expires_at == NOW + MONTH
        recorded = next(e for e in decision.effects if isinstance(e, RecordPayment))
        assert (recorded.charge_id, recorded.plan, recorded.stars) == ("ch-late", "mensual", 250)

    def test_telegrams_word_of_a_refund_ends_the_vip_it_bought_once(self) -> None:
        state = vip_user(charge="ch-1")
        told = request(USER, "refunded").model_copy(update={"payment": PaymentDetails(
            payload="-", currency="XTR", total_amount=250, charge_id="ch-1")})  # fmt: skip
        decision = decide(state, told)
        assert decision.state.subscription.status == "refunded" and not decision.state.vip
        assert [type(e) for e in decision.effects if isinstance(e, RefundPayment | CloseVipChannel)] == [
            RefundPayment, CloseVipChannel]  # fmt: skip
        again = decide(decision.state, told.model_copy(update={"update_id": told.update_id + 1}))
        assert not [e for e in again.effects if isinstance(e, RefundPayment)], "a refund it knows changes nothing"
        assert told.payment is not None
        unknown = told.model_copy(update={"update_id": told.update_id + 2, "payment": told.payment.model_copy(
            update={"charge_id": "not-ours"})})  # fmt: skip
        assert not decide(state, unknown).effects

    def test_vip_earns_one_and_a_half_besitos(self) -> None:
        decision = press(play(vip_user(), story.OPEN), "pick.c01_ask")
        awards = {e.action: e.amount for e in decision.effects if isinstance(e, AwardBesitos)}
        assert awards["story_fragment_completion"] == 15 and awards["decision_made"] == 7


class TestRenewalAndExpiry:
    def test_a_renewal_extends_from_the_current_expiry_not_from_now(self) -> None:
        state = vip_user()
        later = NOW + timedelta(days=10)
        state, invoice = buy(state, now=later)
        renewed = paid(state, invoice, "ch-2", later)
        assert renewed.state.subscription.expires_at == NOW + 2 * MONTH
        assert renewed.screen.key == "vip.renewed"
        assert not [e for e in renewed.effects if isinstance(e, OpenVipChannel)], "already in the channel"

    def test_reminders_then_grace_then_expiry(self) -> None:
        state = vip_user()
        expires = NOW + MONTH
        assert rules.next_alarm(state, CONTENT, NOW) is not None
        assert subscription.next_event(state, CONTENT) == expires - timedelta(days=3)
        state, effects = at(state, expires - timedelta(days=3))
        notes = [e for e in effects if isinstance(e, Notify)]
        assert [n.screen.key for n in notes] == ["notify.vip.reminder"] and notes[0].screen.params["days"] == 3
        assert subscription.next_event(state, CONTENT) == expires - timedelta(days=1)
        state, effects = at(state, expires - timedelta(days=1))
        assert [e.screen.params["days"] for e in effects if isinstance(e, Notify)] == [1]
        state, effects = at(state, expires)
        assert state.subscription.status == "grace" and state.vip, "perks last through the grace period"
        assert [e.screen.key for e in effects if isinstance(e, Notify)] == ["notify.vip.grace"]
        grace_end = expires + timedelta(days=CONTENT.vip.grace_days)
        assert subscription.next_event(state, CONTENT) == grace_end
        state, effects = at(state, grace_end)
        assert state.subscription.status == "expired" and not state.vip
        assert any(isinstance(e, CloseVipChannel) for e in effects)
        assert [e.screen.key for e in effects if isinstance(e, Notify)] == ["notify.vip.expired"]
        assert subscription.next_event(state, CONTENT) is None

    def test_a_reminder_is_sent_once(self) -> None:
        state = vip_user()
        state, effects = at(state, NOW + MONTH - timedelta(days=3))
        state, again = at(state, NOW + MONTH - timedelta(days=3) + timedelta(minutes=1))
        assert len([e for e in effects if isinstance(e, Notify)]) == 1
        assert not [e for e in again if isinstance(e, Notify)]

    def test_a_renewal_in_grace_extends_the_old_expiry_and_after_it_starts_from_now(self) -> None:
        state = vip_user()
        in_grace = NOW + MONTH + timedelta(days=1)
        state, _ = at(state, NOW + MONTH)
        state, invoice = buy(state, now=in_grace)
        assert paid(state, invoice, "ch-2", in_grace).state.subscription.expires_at == NOW + 2 * MONTH
        gone = NOW + MONTH + timedelta(days=10)
        lapsed, _ = at(state, gone)
        lapsed, invoice = buy(lapsed, now=gone)
        back = paid(lapsed, invoice, "ch-3", gone)
        assert back.state.subscription.expires_at == gone + MONTH and back.screen.key == "vip.welcome"
        assert any(isinstance(e, OpenVipChannel) for e in back.effects), "a fresh invite to the channel"

    def test_a_request_after_expiry_sees_vip_over_even_before_the_timer(self) -> None:
        state = vip_user()
        after = NOW + MONTH + timedelta(days=CONTENT.vip.grace_days, seconds=1)
        decision = press(state, "vip", after)
        assert decision.screen.key == "vip.menu.expired" and not decision.state.vip

    def test_a_lapsed_vip_inside_a_vip_chapter_goes_back_to_the_fork(self) -> None:
        state = play(vip_user(), "story", "pick.c01_ask", story.NEXT, "pick.c04_keep", story.NEXT,
                     "pick.c07_guard", story.NEXT, "pick.c10_door")  # fmt: skip
        assert state.story.fragment_id == "f15"
        state, effects = at(state, NOW + MONTH + timedelta(days=CONTENT.vip.grace_days))
        assert state.story.fragment_id == CONTENT.vip.story_return == "f10"
        assert any(isinstance(e, SaveStoryProgress) and e.fragment_id == "f10" for e in effects)
        free_ways = press(state, story.OPEN).screen
        assert free_ways.key.startswith("story.") and any(b.action == "pick.c10_leave" for row in free_ways.buttons
                                                         for b in row)  # fmt: skip


class TestRefundsAndPasses:
    def refund(self, state: JourneyState, charge: str) -> tuple[JourneyState, Turn]:
        state = state.model_copy(deep=True)
        turn = Turn(state=state, content=CONTENT, now=NOW + timedelta(days=2), cause="support:1")
        subscription.refund(turn, charge, "admin:1", "asked for it")
        return state, turn

    def test_a_refund_ends_vip_and_is_recorded_once(self) -> None:
        state, turn = self.refund(vip_user(), "ch-1")
        assert state.subscription.status == "refunded" and not state.vip
        assert [type(e) for e in turn.effects if isinstance(e, RefundPayment | CloseVipChannel)] == [
            RefundPayment, CloseVipChannel]  # fmt: skip
        with pytest.raises(subscription.SubscriptionRejection, match="already refunded"):
            self.refund(state, "ch-1")

    def test_an_unknown_charge_cannot_be_refunded(self) -> None:
        with pytest.raises(subscription.SubscriptionRejection, match="no Stars payment"):
            self.refund(vip_user(), "nope")

    def redeem(self, state: JourneyState, redemption: PassRedemption) -> rules.Decision:
        req = request(USER, "redeem", action=redemption.token)
        return rules.decide(state, req, NOW, CONTENT, redemption)

    def test_a_pass_grants_its_plan_once(self) -> None:
        decision = self.redeem(onboarded(), PassRedemption(token="tok_12345678", plan="trimestral"))
        assert decision.state.vip and decision.state.subscription.expires_at == NOW + timedelta(days=90)
        again = self.redeem(decision.state, PassRedemption(token="tok_12345678", plan="trimestral"))
        assert again.screen.key == "vip.pass.yours_already"
        assert again.state.subscription.expires_at == decision.state.subscription.expires_at

    @pytest.mark.parametrize("refusal", ["unknown", "used", "expired"])
    def test_a_refused_pass_changes_nothing(self, refusal: str) -> None:
        state = onboarded()
        decision = self.redeem(state, PassRedemption(token="tok_12345678", refusal=refusal))
        assert decision.screen.key == f"vip.pass.{refusal}" and not decision.state.vip

    def test_a_malformed_pass_is_refused(self) -> None:
        rejected(JourneyError.INVALID_INPUT, rules.validate, onboarded(), request(USER, "redeem", action="x y"))


class TestChannelAccess:
    def test_only_vips_are_let_into_the_vip_channel(self) -> None:
        join = request(USER, "vip_join", action="-1001000000009")
        assert decide(onboarded(), join).toast.key == "vip.join.declined"  # type: ignore[union-attr]
        assert decide(vip_user(), join).toast.key == "vip.join.approved"  # type: ignore[union-attr]

    def test_a_vip_gets_a_fresh_channel_link_from_the_vip_screen_at_most_once_in_a_while(self) -> None:
        state = play(vip_user(), "vip")
        assert [b.action for b in press(vip_user(), "vip").screen.buttons[0]] == [subscription.CHANNEL_LINK]
        fresh = press(state, subscription.CHANNEL_LINK)
        assert fresh.screen.key == "vip.link.sent"
        links = [e for e in fresh.effects if isinstance(e, OpenVipChannel)]
        assert len(links) == 1 and links[0].idempotency_key != f"journey-{USER}:vip-channel:ch-1"
        soon = press(play(fresh.state, "vip"), subscription.CHANNEL_LINK, NOW + timedelta(minutes=5))
        assert soon.screen.key == "vip.link.recent" and not [e for e in soon.effects if isinstance(e, OpenVipChannel)]
        later = press(play(fresh.state, "vip"), subscription.CHANNEL_LINK, NOW + subscription.LINK_COOLDOWN)
        assert [e for e in later.effects if isinstance(e, OpenVipChannel)]

    def test_a_fresh_channel_link_is_for_vips_only(self) -> None:
        state = play(onboarded(), "vip")
        assert subscription.CHANNEL_LINK not in [b.action for row in press(onboarded(), "vip").screen.buttons
                                                 for b in row]  # fmt: skip
        rejected(JourneyError.STALE_SCREEN, press, state, subscription.CHANNEL_LINK)
