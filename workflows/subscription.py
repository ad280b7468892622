"""The VIP subscription: plans, Stars invoices, payments, passes, reminders, grace and expiry.

Pure rules over ``JourneyState.subscription``; the journey sleeps on a Temporal timer until
``next_event`` and then calls ``tick``. The lifecycle:

    none ──pay/pass──▶ active ──expiry──▶ grace ──grace_days──▶ expired
                         ▲ │                 │                     │
                         │ └──refund──▶ refunded ◀──refund───────┘ │
                         └────────────── pay/pass ─────────────────┘

Perks (``state.vip``: the 1.5× besitos, VIP fragments, the VIP mission and achievement) hold
while active or in grace. A renewal extends from the current expiry, never from now; after the
grace period it starts from now. Every payment is applied once, by Telegram's charge id.

A plan that ``renews`` is sold as a Telegram Stars subscription (an invoice link with a 30-day period): its first
payment starts VIP, and each renewal Telegram charges on its own arrives as one more payment (the same invoice
payload, ``is_recurring``) that extends VIP to the end of the period it paid for. The user may cancel the renewals
(VIP lasts to the end of the period paid) and resume them; when Telegram stops charging (canceled, or not enough
Stars), grace and expiry follow as for any plan. No reminders for a subscription that renews on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from workflows.content import SUBSCRIPTION_DAYS, Content, Plan
from workflows.contracts import (
    Button,
    Charge,
    CloseVipChannel,
    EditStarSubscription,
    Invoice,
    JourneyError,
    JourneyState,
    Notice,
    OpenVipChannel,
    PassRedemption,
    PaymentDetails,
    RecordPayment,
    RefundPayment,
    SaveSubscription,
    Screen,
    SendInvoice,
)
from workflows.days import local_moment
from workflows.progress import Turn, notification
from workflows.story import save_progress

CURRENCY: Final = "XTR"  # Telegram Stars
OPEN: Final = "vip"
BUY: Final = "buy."  # a plan button's action: "buy.<plan code>"
# Invoices a user may still pay; an older one is stale (its pre-checkout is refused).
OPEN_INVOICES: Final = 5
PASS_PREFIX: Final = "pass:"
# VIP days bought with besitos in the shop ("shop:<purchase id>"): no Stars moved.
SHOP_PREFIX: Final = "shop:"
# VIP granted to the existing community brought over by support ("import:<row key>", ``diana-support import-vips``).
IMPORT_PREFIX: Final = "import:"
# VIP days earned by inviting someone ("referral:<newcomer>", ``workflows.referrals``).
REFERRAL_PREFIX: Final = "referral:"
# Charges that moved no Stars: never refunded as Stars, no payment row in Postgres.
NO_STARS: Final = (PASS_PREFIX, SHOP_PREFIX, IMPORT_PREFIX, REFERRAL_PREFIX)
# A fresh single-use link to the VIP channel (the one sent at purchase lapses after a day); at most one this often.
CHANNEL_LINK: Final = "vip.link"
# The VIP screen's buttons for a Stars subscription: stop its renewals, or let them go on again.
CANCEL_RENEWAL: Final = "vip.renewal.cancel"
RESUME_RENEWAL: Final = "vip.renewal.resume"
SUBSCRIPTION_PERIOD: Final = 2_592_000  # seconds: 30 days, the only period Telegram allows
# Telegram charges a renewal as its period ends: VIP waits this long for it before grace begins.
RENEWAL_WAIT: Final = timedelta(hours=1)
LINK_COOLDOWN: Final = timedelta(minutes=10)
# Telegram's limits for an invoice's title and description.
TITLE_LIMIT: Final = 32
DESCRIPTION_LIMIT: Final = 255


class SubscriptionRejection(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def invoice_payload(user_id: int, plan: str, seq: int) -> str:
    """Names one invoice: whose it is, what it buys, and which screen asked for it."""
    return f"vip:{user_id}:{plan}:{seq}"


def payload_owner(payload: str) -> int | None:
    parts = payload.split(":")
    if len(parts) != 4 or parts[0] != "vip" or not parts[1].isdigit():
        return None
    return int(parts[1])


def is_buy(action: str) -> bool:
    return action.startswith(BUY)


def plan_for(content: Content, action: str) -> Plan:
    plan = content.vip.plans_by_code.get(action.removeprefix(BUY))
    if plan is None:
        raise SubscriptionRejection(JourneyError.PLAN_GONE, f"there is no plan {action.removeprefix(BUY)!r}")
    return plan


def vip_screen(state: JourneyState, content: Content) -> Screen:
    """The VIP menu: the user's status and expiry, and the plans with their prices."""
    sub, language, zone = state.subscription, state.language, content.calendar.timezone
    plan = content.vip.plans_by_code.get(sub.plan or "")
    params: dict[str, str | int] = {"plan": plan.name.get(language) if plan else (sub.plan or "")}
    if sub.expires_at is not None:
        params["expires"] = local_moment(sub.expires_at, zone)
        params["grace_ends"] = local_moment(sub.expires_at + timedelta(days=content.vip.grace_days), zone)
    renewing = renews_on_its_own(state)
    # A subscription starts when VIP is not running (Telegram's dates would overlap the days left); while it runs, the
    # screen cancels or resumes it, and the other plans still add their days.
    rows = [[Button(label="vip.buy", action=f"{BUY}{p.code}", text=f"💎 {p.name.get(language)} · {p.stars} ⭐")]
            for p in content.vip.plans if not (p.renews and _running(state))]  # fmt: skip
    key = f"vip.menu.{sub.status}"
    if sub.status == "active" and sub.renews:
        key = f"vip.menu.{sub.status}.{'renews' if renewing else 'ends'}"
        renewal = CANCEL_RENEWAL if renewing else RESUME_RENEWAL
        rows.insert(0, [Button(label=renewal, action=renewal)])
    if state.vip:
        rows.insert(0, [Button(label="vip.channel.fresh", action=CHANNEL_LINK)])
    return Screen(key=key, params=params,
                  buttons=[*rows, [Button(label="menu.back", action="menu")]])  # fmt: skip


def issue_invoice(turn: Turn, plan: Plan) -> Screen:
    """Send a Stars invoice for ``plan``; older unpaid invoices beyond the last few go stale."""
    state = turn.state
    payload = invoice_payload(state.user_id, plan.code, state.screen_seq + 1)
    subscribing = plan.renews and not _running(state)
    invoice = Invoice(payload=payload, plan=plan.code, stars=plan.stars, days=plan.days, issued_at=turn.now)
    state.subscription.invoices = [*state.subscription.invoices, invoice][-OPEN_INVOICES:]
    turn.effects.append(
        SendInvoice(
            user_id=state.user_id,
            idempotency_key=f"journey-{state.user_id}:invoice:{payload}",
            language=state.language,
            payload=payload,
            plan=plan.code,
            title=plan.name.get(state.language)[:TITLE_LIMIT],
            description=plan.description.get(state.language)[:DESCRIPTION_LIMIT],
            stars=plan.stars,
            subscription_period=SUBSCRIPTION_PERIOD if subscribing else 0,
        )
    )
    return Screen(key="vip.subscription_sent" if subscribing else "vip.invoice_sent",
                  params={"plan": plan.name.get(state.language), "stars": plan.stars},
                  buttons=[[Button(label="menu.vip", action=OPEN)], [Button(label="menu.back", action="menu")]])  # fmt: skip


def channel_link(turn: Turn) -> Screen:
    """A VIP asks for a way into the channel: a fresh single-use link, unless one went out moments ago."""
    state, sub = turn.state, turn.state.subscription
    back = [[Button(label="menu.vip", action=OPEN)], [Button(label="menu.back", action="menu")]]
    if sub.link_sent_at is not None and turn.now - sub.link_sent_at < LINK_COOLDOWN:
        return Screen(key="vip.link.recent", buttons=back)
    sub.link_sent_at = turn.now
    turn.effects.append(OpenVipChannel(user_id=state.user_id, language=state.language,
                                       idempotency_key=f"journey-{state.user_id}:vip-link:{turn.cause}"))  # fmt: skip
    return Screen(key="vip.link.sent", buttons=back)


def check_pre_checkout(state: JourneyState, content: Content | None, payment: PaymentDetails) -> Invoice:
    """The invoice a pre-checkout query may pay, or ``SubscriptionRejection`` (Telegram then refuses the charge)."""
    owner = payload_owner(payment.payload)
    if owner is None:
        raise SubscriptionRejection(JourneyError.INVOICE_STALE, "not one of Diana's invoices")
    if owner != state.user_id:
        raise SubscriptionRejection(JourneyError.INVOICE_FOREIGN, "this invoice was made for another user")
    if any(charge.payload == payment.payload for charge in state.subscription.charges):
        # A subscription's renewals come without a pre-checkout query: its invoice is paid once here too.
        raise SubscriptionRejection(JourneyError.ALREADY_PAID, "this invoice is already paid")
    invoice = next((i for i in state.subscription.invoices if i.payload == payment.payload), None)
    if invoice is None:
        raise SubscriptionRejection(JourneyError.INVOICE_STALE, "this invoice was replaced by a newer one")
    if content is not None and invoice.plan not in content.vip.plans_by_code:
        raise SubscriptionRejection(JourneyError.PLAN_GONE, f"the plan {invoice.plan!r} is no longer sold")
    if payment.currency != CURRENCY or payment.total_amount != invoice.stars:
        raise SubscriptionRejection(JourneyError.INVALID_INPUT, "the amount does not match the invoice")
    return invoice


def check_payment(state: JourneyState, payment: PaymentDetails, content: Content | None = None) -> None:
    """A successful payment must name its charge and one of this user's invoices: open, paid, or (the money moved)
    one pushed out of the open ones since, whose plan is still sold."""
    if not payment.charge_id or payment.currency != CURRENCY or payment.total_amount <= 0:
        raise SubscriptionRejection(JourneyError.INVALID_INPUT, "a payment needs a charge id and an amount in Stars")
    if payload_owner(payment.payload) != state.user_id:
        raise SubscriptionRejection(JourneyError.INVOICE_FOREIGN, "this payment was made for another user")
    known = {i.payload for i in state.subscription.invoices} | {c.payload for c in state.subscription.charges}
    if payment.payload in known:
        return
    seq = payment.payload.rsplit(":", 1)[-1]
    if not seq.isdigit() or int(seq) > state.screen_seq:  # named after a screen this journey never showed
        raise SubscriptionRejection(JourneyError.INVOICE_STALE, "no such invoice was sent to this user")
    if content is not None and _plan_paid(content, payment.payload) is None:
        raise SubscriptionRejection(JourneyError.PLAN_GONE, "the plan this invoice sold is no longer sold")


def _plan_paid(content: Content, payload: str) -> Plan | None:
    """The plan an invoice of ours sold, named in its payload (``vip:<user>:<plan>:<seq>``)."""
    parts = payload.split(":")
    return content.vip.plans_by_code.get(parts[2]) if len(parts) == 4 else None


def pay(turn: Turn, payment: PaymentDetails) -> Screen:
    """A successful Stars payment: recorded once by its charge id, then VIP starts or is extended."""
    state = turn.state
    sub = state.subscription
    if any(charge.charge_id == payment.charge_id for charge in sub.charges):
        return vip_screen(state, turn.content)  # Telegram told us twice: already applied
    if payment.is_recurring and not payment.is_first_recurring:
        return _renewed(turn, payment)
    invoice = next((i for i in sub.invoices if i.payload == payment.payload), None)
    if invoice is None:
        # The invoice was paid by an earlier charge, and Telegram took money again: record it for a refund.
        invoice = next((Invoice(payload=c.payload, plan=c.plan, stars=c.stars, days=c.days, issued_at=c.paid_at)
                        for c in sub.charges if c.payload == payment.payload), None)  # fmt: skip
    if invoice is None:
        # An invoice pushed out of the open ones by newer "buy" presses, paid anyway: it buys what its plan buys.
        plan = _plan_paid(turn.content, payment.payload)
        assert plan is not None  # validated
        invoice = Invoice(payload=payment.payload, plan=plan.code, stars=payment.total_amount, days=plan.days,
                          issued_at=turn.now)  # fmt: skip
    turn.effects.append(
        RecordPayment(
            user_id=state.user_id,
            charge_id=payment.charge_id,
            provider_charge_id=payment.provider_charge_id,
            payload=payment.payload,
            plan=invoice.plan,
            stars=payment.total_amount,
            currency=payment.currency,
            paid_at=turn.now,
        )  # fmt: skip
    )
    sub.invoices = [i for i in sub.invoices if i.payload != payment.payload]
    renewal = state.vip
    if payment.is_first_recurring:
        sub.renews, sub.renewal_charge_id, sub.canceled = True, payment.charge_id, False
    grant(turn, Charge(charge_id=payment.charge_id, payload=payment.payload, plan=invoice.plan,
                       stars=payment.total_amount, days=invoice.days, paid_at=turn.now),
          until=payment.subscription_expiration_date if payment.is_recurring else None)  # fmt: skip
    return _granted_screen(state, turn.content, renewal)


def _renewed(turn: Turn, payment: PaymentDetails) -> Screen:
    """Telegram charged the subscription again, on its own: VIP goes on to the end of the period it paid for."""
    state, sub = turn.state, turn.state.subscription
    first = next((c for c in sub.charges if c.payload == payment.payload), None)
    sold = _plan_paid(turn.content, payment.payload)
    plan = first.plan if first is not None else sold.code if sold is not None else ""
    turn.effects.append(
        RecordPayment(
            user_id=state.user_id,
            charge_id=payment.charge_id,
            provider_charge_id=payment.provider_charge_id,
            payload=payment.payload,
            plan=plan,
            stars=payment.total_amount,
            currency=payment.currency,
            paid_at=turn.now,
        )  # fmt: skip
    )
    if not sub.renewal_charge_id and first is not None:
        sub.renewal_charge_id = first.charge_id
    sub.renews = True
    renewal = state.vip
    grant(turn, Charge(charge_id=payment.charge_id, payload=payment.payload, plan=plan, stars=payment.total_amount,
                       days=first.days if first is not None else SUBSCRIPTION_DAYS, paid_at=turn.now),
          until=payment.subscription_expiration_date)  # fmt: skip
    return _granted_screen(state, turn.content, renewal)


def _running(state: JourneyState) -> bool:
    """VIP active, before its end: a plan bought now adds days to it (a subscription would start its own period)."""
    return state.vip and state.subscription.status == "active"


def renews_on_its_own(state: JourneyState) -> bool:
    """Whether Telegram will charge the user's subscription again at the end of the period paid."""
    sub = state.subscription
    return state.vip and sub.status == "active" and sub.renews and not sub.canceled


def edit_renewal(turn: Turn, action: str) -> Screen:
    """Cancel the subscription's renewals (VIP lasts to the end of the period paid) or resume them; the VIP screen
    answers, updated. Telegram is told by an activity (``editUserStarSubscription``, the same answer twice)."""
    state, sub = turn.state, turn.state.subscription
    canceled = action == CANCEL_RENEWAL
    if sub.renews and sub.status == "active" and sub.canceled != canceled and sub.renewal_charge_id:
        sub.canceled = canceled
        turn.effects.append(EditStarSubscription(
            user_id=state.user_id, charge_id=sub.renewal_charge_id, canceled=canceled,
            idempotency_key=f"journey-{state.user_id}:renewal:{sub.renewal_charge_id}:{turn.cause}"))  # fmt: skip
    return vip_screen(state, turn.content)


def redeem(turn: Turn, redemption: PassRedemption) -> Screen:
    """An admin's VIP pass, already claimed atomically in Postgres: grants its plan like a payment."""
    state = turn.state
    charge_id = f"{PASS_PREFIX}{redemption.token}"
    back = [[Button(label="menu.vip", action=OPEN)], [Button(label="menu.back", action="menu")]]
    if any(charge.charge_id == charge_id for charge in state.subscription.charges):
        return Screen(key="vip.pass.yours_already", buttons=back)
    if redemption.refusal is not None:
        return Screen(key=f"vip.pass.{redemption.refusal}", buttons=back)
    plan = turn.content.vip.plans_by_code.get(redemption.plan or "")
    if plan is None:
        return Screen(key="vip.pass.plan_gone", buttons=back)
    renewal = state.vip
    grant(turn, Charge(charge_id=charge_id, payload=charge_id, plan=plan.code, stars=0, days=plan.days,
                       paid_at=turn.now))  # fmt: skip
    return _granted_screen(state, turn.content, renewal)


def grant(turn: Turn, charge: Charge, *, until: datetime | None = None) -> None:
    """Add a charge's days: from the current expiry while VIP (or in grace), from now otherwise; a subscription's
    charge lasts ``until`` the end of the period Telegram says it paid for (never shortening VIP)."""
    state, sub = turn.state, turn.state.subscription
    was_vip = state.vip
    base = sub.expires_at if was_vip and sub.expires_at is not None else turn.now
    if until is not None:
        sub.expires_at = max(until, base) if was_vip else until
    else:
        sub.expires_at = base + timedelta(days=charge.days)
    if not was_vip:
        sub.started_at = turn.now
    sub.status = "active" if sub.expires_at > turn.now else "grace"
    sub.plan = charge.plan
    sub.charges = [*sub.charges, charge]
    state.vip = True
    save(turn)
    if not was_vip:
        turn.effects.append(OpenVipChannel(user_id=state.user_id, language=state.language,
                                           idempotency_key=f"journey-{state.user_id}:vip-channel:{charge.charge_id}"))  # fmt: skip


def grant_until(turn: Turn, charge_id: str, until: datetime, plan: str | None) -> str:
    """VIP until ``until`` (or a later expiry it already has), without paying, once per ``charge_id``. No invite is
    sent: the community brought over is in the VIP channel already (the VIP menu gives a fresh link otherwise)."""
    state, sub = turn.state, turn.state.subscription
    if any(charge.charge_id == charge_id for charge in sub.charges):
        return f"user {state.user_id}: imported already"
    was_vip = state.vip
    sub.expires_at = max(until, sub.expires_at) if was_vip and sub.expires_at is not None else until
    if not was_vip:
        sub.started_at = turn.now
    sub.status = "active" if sub.expires_at > turn.now else "grace"
    sub.plan = plan or sub.plan
    days = max(0, (until - turn.now).days)
    sub.charges = [*sub.charges, Charge(charge_id=charge_id, payload=charge_id, plan=sub.plan or "", stars=0,
                                        days=days, paid_at=turn.now)]  # fmt: skip
    state.vip = True
    save(turn)
    return f"user {state.user_id} VIP until {sub.expires_at:%Y-%m-%d %H:%M} UTC"


def _granted_screen(state: JourneyState, content: Content, renewal: bool) -> Screen:
    screen = vip_screen(state, content)
    return screen.model_copy(update={
        "key": "vip.renewed" if renewal else "vip.welcome",
        "buttons": [[Button(label="menu.story", action="story")], [Button(label="menu.back", action="menu")]],
    })  # fmt: skip


def refund(turn: Turn, charge_id: str, actor: str, reason: str) -> str:
    """Staff refunds a payment: the Stars go back, VIP ends now. Refused for an unknown or refunded charge."""
    state, sub = turn.state, turn.state.subscription
    charge = next((c for c in sub.charges if c.charge_id == charge_id), None)
    if charge is None or charge_id.startswith(NO_STARS):
        raise SubscriptionRejection(JourneyError.SUPPORT_REFUSED, f"no Stars payment {charge_id!r} for this user")
    if charge.refunded_at is not None:
        raise SubscriptionRejection(JourneyError.SUPPORT_REFUSED, f"payment {charge_id!r} was already refunded")
    sub.charges = [c.model_copy(update={"refunded_at": turn.now}) if c is charge else c for c in sub.charges]
    turn.effects.append(RefundPayment(user_id=state.user_id, charge_id=charge_id, actor=actor, reason=reason,
                                      refunded_at=turn.now))  # fmt: skip
    if state.vip:
        end(turn, "refunded")
    return f"refunded {charge.stars} Stars to user {state.user_id}; VIP ended"


def refunded_by_telegram(turn: Turn, charge_id: str) -> None:
    """Telegram gave a charge back (staff here, or a refund outside the bot): its VIP ends, once. A charge the journey
    does not know, or knows refunded already, changes nothing."""
    charge = next((c for c in turn.state.subscription.charges if c.charge_id == charge_id), None)
    if charge is not None and charge.refunded_at is None and not charge_id.startswith(NO_STARS):
        refund(turn, charge_id, "telegram", "refunded through Telegram")


def end(turn: Turn, status: str) -> None:
    """VIP perks end: out of the VIP channel, out of VIP chapters, and told how to come back."""
    state, sub = turn.state, turn.state.subscription
    assert status in ("expired", "refunded")
    sub.status = "expired" if status == "expired" else "refunded"
    # Telegram stopped charging (or gave a charge back, which ends the subscription): nothing renews any more.
    sub.renews, sub.canceled = False, False
    state.vip = False
    save(turn)
    turn.effects.append(CloseVipChannel(user_id=state.user_id, reason=status))
    fragment = turn.content.story.by_id.get(state.story.fragment_id or "")
    if fragment is not None and fragment.vip and turn.content.vip.story_return is not None:
        # VIP chapters are closed now: back to the fork where the free paths go on.
        state.story.fragment_id = turn.content.vip.story_return
        save_progress(turn)
    notify(turn, f"notify.vip.{status}", key=f"{status}:{turn.cause}")


def next_event(state: JourneyState, content: Content) -> datetime | None:
    """When the subscription next needs the journey: a reminder, the expiry, or the end of grace."""
    sub = state.subscription
    if sub.expires_at is None:
        return None
    if sub.status == "grace":
        return sub.expires_at + timedelta(days=content.vip.grace_days)
    if sub.status != "active":
        return None
    due = [_expiry(state)]
    if state.preferences.notifications and not renews_on_its_own(state):
        due += [sub.expires_at - timedelta(days=days) for days in content.vip.reminder_days_before
                if _reminder_key(sub.expires_at, days) not in sub.reminded]  # fmt: skip
    return min(due)


def tick(turn: Turn) -> None:
    """Apply everything due by now: a renewal reminder, then expiry into grace, then the end of grace."""
    state, content = turn.state, turn.content
    sub = state.subscription
    if sub.status == "active" and sub.expires_at is not None and turn.now < sub.expires_at:
        due = [days for days in content.vip.reminder_days_before
               if sub.expires_at - timedelta(days=days) <= turn.now and _reminder_key(sub.expires_at, days) not in sub.reminded]  # fmt: skip
        if due and state.preferences.notifications and not renews_on_its_own(state):
            # Several due at once (a late renewal): one message, the nearest one.
            sub.reminded = [*sub.reminded, *(_reminder_key(sub.expires_at, days) for days in due)]
            notify(turn, "notify.vip.reminder", key=_reminder_key(sub.expires_at, min(due)))
    if sub.status == "active" and sub.expires_at is not None and turn.now >= _expiry(state):
        sub.status = "grace"
        save(turn)
        notify(turn, "notify.vip.grace", key=f"grace:{sub.expires_at.isoformat()}")
    if sub.status == "grace" and sub.expires_at is not None:
        if turn.now >= sub.expires_at + timedelta(days=content.vip.grace_days):
            end(turn, "expired")


def join_decision(state: JourneyState) -> Notice:
    """Whether a request to join the VIP channel is approved: paid users only."""
    return Notice(key="vip.join.approved" if state.vip else "vip.join.declined")


def save(turn: Turn) -> None:
    sub = turn.state.subscription
    sub.saves += 1
    turn.effects.append(SaveSubscription(user_id=turn.state.user_id, seq=sub.saves, plan=sub.plan, status=sub.status,
                                         started_at=sub.started_at, expires_at=sub.expires_at, saved_at=turn.now))  # fmt: skip


def notify(turn: Turn, screen_key: str, *, key: str) -> None:
    """A message about the subscription, sent once per ``key`` (it is about money: sent even with notices off)."""
    state, sub = turn.state, turn.state.subscription
    zone = turn.content.calendar.timezone
    params: dict[str, str | int] = {"name": state.profile.first_name if state.profile else ""}
    if sub.expires_at is not None:
        params["expires"] = local_moment(sub.expires_at, zone)
        params["grace_ends"] = local_moment(sub.expires_at + timedelta(days=turn.content.vip.grace_days), zone)
        params["days"] = max(0, (sub.expires_at - turn.now).days) + (1 if (sub.expires_at - turn.now).seconds else 0)
    screen = Screen(key=screen_key, params=params,
                    buttons=[[Button(label="menu.vip", action=OPEN)], [Button(label="menu.open", action="menu")]])  # fmt: skip
    turn.effects.append(notification(state, f"vip:{key}", screen))


def _expiry(state: JourneyState) -> datetime:
    """When an active VIP goes into grace: at its end, or a little later if Telegram is about to renew it."""
    assert state.subscription.expires_at is not None
    return state.subscription.expires_at + (RENEWAL_WAIT if renews_on_its_own(state) else timedelta(0))


def _reminder_key(expires_at: datetime, days: int) -> str:
    return f"{expires_at.isoformat()}:{days}"
