"""VIP that renews itself, the pure rules: the monthly plan as a Telegram Stars subscription, its renewals (applied
once, to the date Telegram names), cancel and resume, no reminders while it renews, grace and expiry once Telegram
stops charging, and refunds of a renewal."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.helpers import request
from tests.test_rules import CONTENT, NOW, USER, decide, onboarded, press
from tests.test_subscription_rules import at, buy, pre_checkout, rejected
from workflows import rules, subscription
from workflows.content import Plan
from workflows.contracts import (
    CloseVipChannel,
    EditStarSubscription,
    JourneyError,
    JourneyState,
    Notify,
    OpenVipChannel,
    PaymentDetails,
    RecordPayment,
    SendInvoice,
)
from workflows.progress import Turn

MONTH = timedelta(days=30)


def charge(invoice: SendInvoice, charge_id: str, until: datetime, *, first: bool) -> PaymentDetails:
    """A subscription's charge as Telegram reports it: the first payment, or a renewal of the same invoice."""
    return PaymentDetails(payload=invoice.payload, currency="XTR", total_amount=invoice.stars, charge_id=charge_id,
                          provider_charge_id="", is_recurring=True, is_first_recurring=first,
                          subscription_expiration_date=until)  # fmt: skip


def pay(state: JourneyState, payment: PaymentDetails, now: datetime = NOW) -> rules.Decision:
    return decide(state, request(USER, "payment").model_copy(update={"payment": payment}), now)


def subscriber() -> tuple[JourneyState, SendInvoice]:
    state, invoice = buy(onboarded())
    return pay(state, charge(invoice, "sub-1", NOW + MONTH, first=True)).state, invoice


def renewed(state: JourneyState, invoice: SendInvoice, n: int) -> rules.Decision:
    """The n-th renewal, charged by Telegram at the end of the n-th period."""
    moment = NOW + n * MONTH
    return pay(state, charge(invoice, f"sub-{n + 1}", moment + MONTH, first=False), moment)


def buttons(decision: rules.Decision) -> list[str]:
    return [b.action for row in decision.screen.buttons for b in row]


class TestSubscribing:
    def test_the_monthly_plan_is_sold_as_a_30_day_subscription_and_the_quarterly_once(self) -> None:
        assert CONTENT.vip.plans_by_code["mensual"].renews and not CONTENT.vip.plans_by_code["trimestral"].renews
        state, monthly = buy(onboarded())
        assert monthly.subscription_period == subscription.SUBSCRIPTION_PERIOD == 2_592_000
        _, quarterly = buy(onboarded(), "trimestral")
        assert quarterly.subscription_period == 0

    def test_a_plan_that_renews_lasts_30_days_as_telegram_requires(self) -> None:
        plan = CONTENT.vip.plans_by_code["mensual"].model_dump()
        for bad in ({"days": 31}, {"stars": 2501}):
            try:
                Plan.model_validate({**plan, **bad})
            except ValueError:
                continue
            raise AssertionError(f"{bad} accepted")

    def test_a_vip_of_a_one_time_plan_is_offered_the_subscription_once_it_ends(self) -> None:
        state, quarterly = buy(onboarded(), "trimestral")
        state = pay(state, PaymentDetails(payload=quarterly.payload, currency="XTR", total_amount=quarterly.stars,
                                          charge_id="q-1")).state  # fmt: skip
        menu = press(state, "vip")
        assert "buy.mensual" not in buttons(menu) and "buy.trimestral" in buttons(menu)
        _, days = buy(state)  # pressed anyway (a forged button): 30 days more, once, added to the days left
        assert days.subscription_period == 0

    def test_the_first_payment_starts_vip_to_the_date_telegram_names(self) -> None:
        state, invoice = buy(onboarded())
        until = NOW + MONTH + timedelta(minutes=3)
        decision = pay(state, charge(invoice, "sub-1", until, first=True))
        sub = decision.state.subscription
        assert decision.state.vip and sub.expires_at == until and sub.renews and sub.renewal_charge_id == "sub-1"
        assert decision.screen.key == "vip.welcome"
        assert any(isinstance(e, OpenVipChannel) for e in decision.effects)
        screen = press(decision.state, "vip")
        assert screen.screen.key == "vip.menu.active.renews"
        assert subscription.CANCEL_RENEWAL in buttons(screen)
        assert "buy.mensual" not in buttons(screen) and "buy.trimestral" in buttons(screen)


class TestRenewals:
    def test_three_renewals_each_applied_once_extend_vip_to_telegrams_date(self) -> None:
        state, invoice = subscriber()
        for n in (1, 2, 3):
            assert subscription.next_event(state, CONTENT) == NOW + n * MONTH + subscription.RENEWAL_WAIT
            decision = renewed(state, invoice, n)
            state = decision.state
            assert state.subscription.expires_at == NOW + (n + 1) * MONTH and state.subscription.status == "active"
            assert decision.screen.key == "vip.renewed"
            assert [e.charge_id for e in decision.effects if isinstance(e, RecordPayment)] == [f"sub-{n + 1}"]
            assert not any(isinstance(e, OpenVipChannel) for e in decision.effects)
        assert [c.charge_id for c in state.subscription.charges] == ["sub-1", "sub-2", "sub-3", "sub-4"]
        assert state.subscription.renewal_charge_id == "sub-1"

    def test_a_renewal_delivered_twice_is_applied_once(self) -> None:
        state, invoice = subscriber()
        once = renewed(state, invoice, 1)
        twice = renewed(once.state, invoice, 1)
        assert twice.state.subscription.expires_at == NOW + 2 * MONTH
        assert len(twice.state.subscription.charges) == 2
        assert not any(isinstance(e, RecordPayment) for e in twice.effects)

    def test_a_renewal_is_no_stale_invoice_but_the_paid_link_cannot_be_paid_again(self) -> None:
        state, invoice = subscriber()
        rules.validate(state, request(USER, "payment").model_copy(
            update={"payment": charge(invoice, "sub-2", NOW + 2 * MONTH, first=False)}), CONTENT)  # fmt: skip
        payment = PaymentDetails(payload=invoice.payload, currency="XTR", total_amount=invoice.stars)
        rejected(JourneyError.ALREADY_PAID, pre_checkout, state, payment)

    def test_no_reminders_while_it_renews(self) -> None:
        state, _ = subscriber()
        assert subscription.next_event(state, CONTENT) == NOW + MONTH + subscription.RENEWAL_WAIT
        _, effects = at(state, NOW + MONTH - timedelta(days=3))
        assert not [e for e in effects if isinstance(e, Notify)]
        state, effects = at(state, NOW + MONTH)
        assert state.subscription.status == "active", "Telegram is charging the renewal right now"
        assert not [e for e in effects if isinstance(e, Notify)]


class TestCancelAndResume:
    def test_cancel_keeps_vip_to_the_end_of_the_period_then_grace_and_expiry(self) -> None:
        state, invoice = subscriber()
        state = renewed(state, invoice, 1).state
        canceled = press(state, subscription.CANCEL_RENEWAL, NOW + MONTH + timedelta(days=2))
        edits = [e for e in canceled.effects if isinstance(e, EditStarSubscription)]
        assert [(e.charge_id, e.canceled) for e in edits] == [("sub-1", True)]
        assert canceled.screen.key == "vip.menu.active.ends"
        assert subscription.RESUME_RENEWAL in buttons(canceled) and "buy.mensual" not in buttons(canceled)
        state = canceled.state
        assert state.vip and state.subscription.expires_at == NOW + 2 * MONTH
        # A canceled subscription is reminded like any plan that ends.
        ends = NOW + 2 * MONTH
        assert subscription.next_event(state, CONTENT) == ends - timedelta(days=3)
        state, effects = at(state, ends - timedelta(days=3))
        assert [e.screen.key for e in effects if isinstance(e, Notify)] == ["notify.vip.reminder"]
        state, effects = at(state, ends)
        assert state.subscription.status == "grace" and state.vip
        assert press(state, "vip", ends).screen.key == "vip.menu.grace"
        state, effects = at(state, ends + timedelta(days=CONTENT.vip.grace_days))
        assert state.subscription.status == "expired" and not state.vip and not state.subscription.renews
        assert any(isinstance(e, CloseVipChannel) for e in effects)

    def test_resume_lets_it_renew_again_and_a_second_press_asks_nothing(self) -> None:
        state, _ = subscriber()
        state = press(state, subscription.CANCEL_RENEWAL).state
        again = press(state, subscription.CANCEL_RENEWAL)
        assert not any(isinstance(e, EditStarSubscription) for e in again.effects)
        resumed = press(again.state, subscription.RESUME_RENEWAL)
        assert [e.canceled for e in resumed.effects if isinstance(e, EditStarSubscription)] == [False]
        assert resumed.screen.key == "vip.menu.active.renews" and not resumed.state.subscription.canceled


class TestTelegramStopsCharging:
    def test_a_renewal_that_never_comes_is_grace_then_expiry(self) -> None:
        state, _ = subscriber()
        state, effects = at(state, NOW + MONTH + subscription.RENEWAL_WAIT)
        assert state.subscription.status == "grace" and state.vip
        assert [e.screen.key for e in effects if isinstance(e, Notify)] == ["notify.vip.grace"]
        state, _ = at(state, NOW + MONTH + timedelta(days=CONTENT.vip.grace_days))
        assert state.subscription.status == "expired" and not state.subscription.renews
        menu = press(state, "vip", NOW + MONTH + timedelta(days=CONTENT.vip.grace_days))
        assert menu.screen.key == "vip.menu.expired" and "buy.mensual" in buttons(menu)

    def test_a_late_renewal_in_grace_brings_vip_back_to_active(self) -> None:
        state, invoice = subscriber()
        state, _ = at(state, NOW + MONTH + subscription.RENEWAL_WAIT)
        late = pay(state, charge(invoice, "sub-2", NOW + 2 * MONTH, first=False), NOW + MONTH + timedelta(hours=5))
        assert late.state.subscription.status == "active" and late.state.subscription.expires_at == NOW + 2 * MONTH

    def test_a_refunded_renewal_ends_vip_like_any_refund(self) -> None:
        state, invoice = subscriber()
        state = renewed(state, invoice, 1).state.model_copy(deep=True)
        turn = Turn(state=state, content=CONTENT, now=NOW + MONTH + timedelta(days=1), cause="support:1")
        subscription.refund(turn, "sub-2", "admin:1", "asked for it")
        assert state.subscription.status == "refunded" and not state.vip and not state.subscription.renews
        assert any(isinstance(e, CloseVipChannel) for e in turn.effects)
