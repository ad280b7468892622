"""Referrals: invitation links, attribution, and what an invitation earns. Pure rules.

The newcomer's side: attributed once, at the journey's first /start (a journey that was new), to the owner of the
code in the link (never themself); then their journey tells the referrer's journey, once each, that they joined,
that they finished the introduction, and, once their first Stars payment has not been refunded for
``holding_days`` (a due time of the journey's alarm), that they paid. A refund inside the period voids it.

The referrer's side (``apply``, the ``Referral`` Update): counts, besitos for an introduction under a daily cap,
VIP days (or besitos) for a payment; each (newcomer, event) applied once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from workflows import subscription
from workflows.content import Content
from workflows.contracts import Button, Charge, Effect, JourneyState, Notice, Screen
from workflows.days import local_day
from workflows.progress import Turn, award, leaderboard_effect, notification, settle
from workflows.referral_contracts import (
    MAX_APPLIED,
    REFERRAL_CODE,
    Invitation,
    ReferralEvent,
    ReferralReply,
    ReferralRequest,
    SaveReferralCode,
    TellReferrer,
)

OPEN: Final = "invite"  # the Invita screen's action (a button on Mis Besitos)
# A deep link's payload: "ref_<code>".
LINK_PREFIX: Final = "ref_"
# A share button's action: the bot turns it into a URL button with the bot's own link (never pressed as a callback).
SHARE: Final = "share."
# Charges granted as a referral's reward ("referral:<newcomer>"): no Stars moved, never refunded.
CHARGE_PREFIX: Final = subscription.REFERRAL_PREFIX
CODE_ALPHABET: Final = "abcdefghijkmnpqrstuvwxyz23456789"
CODE_LENGTH: Final = 10


def new_code(random: float) -> str:
    """A code from a random number in [0, 1) (the workflow's deterministic ``workflow.random()``)."""
    value = int(random * len(CODE_ALPHABET) ** CODE_LENGTH)
    letters = []
    for _ in range(CODE_LENGTH):
        value, digit = divmod(value, len(CODE_ALPHABET))
        letters.append(CODE_ALPHABET[digit])
    return "".join(letters)


def code_from_payload(payload: str | None) -> str | None:
    """The code of a ``/start ref_<code>`` payload, or None for anything else (never arbitrary text)."""
    if payload is None or not payload.startswith(LINK_PREFIX):
        return None
    code = payload.removeprefix(LINK_PREFIX)
    return code if REFERRAL_CODE.match(code) else None


def is_code(action: str) -> bool:
    return bool(REFERRAL_CODE.match(action))


# The newcomer's side.


def attribute(turn: Turn, invitation: Invitation | None) -> None:
    """At a new journey's first /start: the owner of a valid code (someone else's, checked in Postgres) invited this
    user; once."""
    state = turn.state
    if invitation is None or state.referral.referrer:
        return
    state.referral.referrer, state.referral.token = invitation.code, invitation.token
    _tell(turn, "joined")


def introduced(turn: Turn) -> None:
    """The newcomer finished the introduction."""
    if turn.state.referral.referrer:
        _tell(turn, "introduced")


def paid(turn: Turn, charge_id: str) -> None:
    """A Stars payment was applied: the first one of an invited newcomer starts the holding period."""
    referral = turn.state.referral
    if not referral.referrer or referral.holding != "none":
        return
    if not any(c.charge_id == charge_id for c in turn.state.subscription.charges):
        return  # not applied (Telegram told us twice, or it paid nothing new)
    referral.holding = "holding"
    referral.holding_charge = charge_id
    referral.holding_until = turn.now + timedelta(days=turn.content.referrals.holding_days)


def next_due(state: JourneyState) -> datetime | None:
    return state.referral.holding_until if state.referral.holding == "holding" else None


def due(turn: Turn) -> None:
    """A refund inside the holding period voids the referral; once the period is over, the referrer is told."""
    referral = turn.state.referral
    if referral.holding != "holding" or referral.holding_until is None:
        return
    charge = next((c for c in turn.state.subscription.charges if c.charge_id == referral.holding_charge), None)
    if charge is None or charge.refunded_at is not None:
        referral.holding = "voided"
    elif turn.now >= referral.holding_until:
        referral.holding = "paid"
        _tell(turn, "paid")


def _tell(turn: Turn, event: ReferralEvent) -> None:
    referral = turn.state.referral
    if event in referral.told or not referral.referrer:
        return
    referral.told = [*referral.told, event]
    turn.effects.append(TellReferrer(code=referral.referrer, newcomer=referral.token, event=event))


# The referrer's side.


@dataclass
class Outcome:
    state: JourneyState
    reply: ReferralReply
    effects: list[Effect] = field(default_factory=list)


def apply(state: JourneyState, request: ReferralRequest, now: datetime, content: Content) -> Outcome:
    """The referrer's journey hears of one event about one newcomer: applied once."""
    key = f"{request.newcomer}:{request.event}"
    if key in state.referral.applied:
        return Outcome(state=state, reply=ReferralReply(ok=True, duplicate=True))
    state = state.model_copy(deep=True)
    referral = state.referral
    referral.applied = [*referral.applied, key][-MAX_APPLIED:]
    turn = Turn(state=state, content=content, now=now, cause=f"referral:{key}")
    rules = content.referrals
    if request.event == "joined":
        referral.joined += 1
    elif request.event == "introduced":
        referral.introduced += 1
        today = local_day(now, content.calendar.timezone)
        if referral.rewarded_day != today:
            referral.rewarded_day, referral.rewarded_today = today, 0
        if rules.intro_besitos and referral.rewarded_today < rules.daily_cap:
            referral.rewarded_today += 1
            referral.besitos_earned += award(turn, action="referral", key=f"referral:{key}", amount=rules.intro_besitos,
                                             vip_bonus=False, context={"event": request.event})  # fmt: skip
    elif rules.payment_amount:
        referral.paid += 1
        if rules.payment_reward == "besitos":
            referral.besitos_earned += award(turn, action="referral", key=f"referral:{key}",
                                             amount=rules.payment_amount, vip_bonus=False,
                                             context={"event": request.event})  # fmt: skip
        else:
            plan = state.subscription.plan or (content.vip.plans[0].code if content.vip.plans else "referral")
            charge_id = f"{CHARGE_PREFIX}{request.newcomer}"
            subscription.grant(turn, Charge(charge_id=charge_id, payload=charge_id, plan=plan, stars=0,
                                            days=rules.payment_amount, paid_at=now))  # fmt: skip
            referral.vip_days_earned += rules.payment_amount
            turn.notices.append(Notice(key="notice.referral.vip_days", params={"days": rules.payment_amount}))
    else:
        referral.paid += 1
    settle(turn)
    leaderboard_effect(turn)
    news = turn.summary()
    # A reward is told even with notifications off (it is about what they earned); a bare "joined" only with them on.
    told = bool(news) or (request.event == "joined" and state.preferences.notifications)
    if told and state.stage == "active":
        screen = Screen(key=f"notify.referral.{request.event}", notices=news,
                        buttons=[[Button(label="referrals.open", action=OPEN)], [Button(label="menu.open", action="menu")]])  # fmt: skip
        turn.effects.append(notification(state, f"referral:{key}", screen))
    return Outcome(state=state, reply=ReferralReply(ok=True), effects=turn.effects)


def invite_screen(turn: Turn) -> Screen:
    """Invita: the user's link (drawn by the bot, which knows its own name), and what it brought."""
    state = turn.state
    referral = state.referral
    assert referral.code, "the journey makes the code before showing the screen"
    if not referral.code_saved:
        referral.code_saved = True
        turn.effects.append(SaveReferralCode(user_id=state.user_id, code=referral.code, created_at=turn.now))
    rules = turn.content.referrals
    return Screen(
        key="referrals.invite",
        params={
            "code": referral.code,
            "link": referral.code,  # the bot shows the whole link (it knows its own name)
            "joined": referral.joined,
            "introduced": referral.introduced,
            "paid": referral.paid,
            "besitos": referral.besitos_earned,
            "vip_days": referral.vip_days_earned,
            "intro_besitos": rules.intro_besitos,
        },  # fmt: skip
        buttons=[
            [Button(label="referrals.share", action=f"{SHARE}{referral.code}")],
            [Button(label="menu.besitos", action="besitos")],
            [Button(label="menu.back", action="menu")],
        ],  # fmt: skip
    )
