"""Referrals' pure rules: attribution, the referrer's rewards and daily cap, the holding period, the Invita screen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import get_args

import pytest

from tests.helpers import request
from tests.test_rules import CONTENT, NOW, USER, decide, onboarded, press
from tests.test_subscription_rules import buy, paid
from workflows import referrals, rules
from workflows.contracts import AwardBesitos, JourneyError, JourneyState, Notify, OpenVipChannel, PaymentDetails
from workflows.referral_contracts import Invitation, ReferralEvent, ReferralRequest, SaveReferralCode, TellReferrer
from workflows.subscription import REFERRAL_PREFIX

REFERRER = 777
CODE = "abcdefgh23"
TOKEN = "newc0mer23"
INVITED = Invitation(code=CODE, token=TOKEN)


def told(effects: Sequence[object]) -> list[tuple[str, str, str]]:
    return [(e.code, e.newcomer, e.event) for e in effects if isinstance(e, TellReferrer)]


def started(invitation: Invitation | None, state: JourneyState | None = None, code: str = CODE) -> rules.Decision:
    return rules.decide(state or JourneyState(user_id=USER), request(USER, "start", action=code), NOW, CONTENT,
                        invitation=invitation)  # fmt: skip


def invited_newcomer() -> JourneyState:
    state = started(INVITED).state
    for _ in range(rules.ONBOARDING_SCREENS):
        state = press(state, "onboarding_next").state
    return state


def ledger(effects: Sequence[object]) -> int:
    return sum(e.amount for e in effects if isinstance(e, AwardBesitos))


class TestCodes:
    def test_a_code_is_ten_letters_and_digits_from_a_random_number(self) -> None:
        codes = {referrals.new_code(x / 1000) for x in range(1000)}
        assert len(codes) == 1000
        assert all(referrals.is_code(code) for code in codes)
        assert referrals.new_code(0.5) == referrals.new_code(0.5)

    @pytest.mark.parametrize(("payload", "code"), [("ref_abcdefgh23", "abcdefgh23"), ("ref_ABCDEFGH23", None),
                                                   ("ref_abc", None), ("ref_abcdefgh23'; drop", None),
                                                   ("vip_abcdefgh23", None), (None, None), ("", None)])  # fmt: skip
    def test_only_a_well_formed_payload_gives_a_code(self, payload: str | None, code: str | None) -> None:
        assert referrals.code_from_payload(payload) == code

    def test_a_start_carrying_anything_else_is_refused_before_it_enters(self) -> None:
        with pytest.raises(rules.Rejection) as caught:
            rules.validate(JourneyState(user_id=USER), request(USER, "start", action="hola, soy tu amiga"))
        assert caught.value.kind == JourneyError.INVALID_INPUT


class TestAttribution:
    def test_a_new_journey_is_attributed_to_the_code_owner_and_tells_them_once(self) -> None:
        decision = started(INVITED)
        assert decision.state.stage == "onboarding"
        assert (decision.state.referral.referrer, decision.state.referral.token) == (CODE, TOKEN)
        assert told(decision.effects) == [(CODE, TOKEN, "joined")]
        assert str(REFERRER) not in decision.state.model_dump_json(), "no other user's id in this journey"

    def test_the_first_link_wins(self) -> None:
        state = started(INVITED).state
        again = started(Invitation(code="zzzzzzzzzz", token="yyyyyyyyyy"), state, code="zzzzzzzzzz")
        assert again.state.referral.referrer == CODE
        assert told(again.effects) == []

    def test_a_user_who_already_had_a_journey_is_not_attributable(self) -> None:
        state = onboarded()
        decision = started(INVITED, state)
        assert decision.state.referral.referrer == ""
        assert told(decision.effects) == []
        assert decision.screen.key.startswith("mood.")

    def test_an_unknown_code_or_their_own_is_a_normal_start(self) -> None:
        decision = started(None)  # the activity found no such code, or the newcomer's own (``test_referrals``)
        assert (decision.state.stage, decision.state.referral.referrer) == ("onboarding", "")
        assert decision.screen.key == "onboarding.1"

    def test_finishing_the_introduction_tells_the_referrer(self) -> None:
        state = started(INVITED).state
        effects: list[object] = []
        for _ in range(rules.ONBOARDING_SCREENS):
            decision = press(state, "onboarding_next")
            state, effects = decision.state, [*effects, *decision.effects]
        assert state.stage == "active"
        assert told(effects) == [(CODE, TOKEN, "introduced")]


class TestHoldingPeriod:
    def first_payment(self) -> tuple[JourneyState, str]:
        state, invoice = buy(invited_newcomer())
        return paid(state, invoice, "ch-1").state, "ch-1"

    def test_the_first_payment_starts_a_holding_period_on_the_alarm(self) -> None:
        state, _ = self.first_payment()
        until = NOW + timedelta(days=CONTENT.referrals.holding_days)
        assert (state.referral.holding, state.referral.holding_until) == ("holding", until)
        assert rules.next_alarm(state, CONTENT, NOW) is not None
        assert rules.next_alarm(state, CONTENT, NOW) <= until  # type: ignore[operator]
        assert referrals.next_due(state) == until

    def test_not_refunded_by_then_the_referrer_is_told(self) -> None:
        state, _ = self.first_payment()
        assert told(rules.alarm(state, CONTENT, NOW + timedelta(days=1))) == []
        later = NOW + timedelta(days=CONTENT.referrals.holding_days)
        assert told(rules.alarm(state, CONTENT, later)) == [(CODE, TOKEN, "paid")]
        assert state.referral.holding == "paid"
        assert told(rules.alarm(state, CONTENT, later + timedelta(days=1))) == []

    def test_a_refund_inside_the_period_voids_it(self) -> None:
        state, charge = self.first_payment()
        refund = request(USER, "refunded").model_copy(update={"payment": PaymentDetails(
            payload="-", currency="XTR", total_amount=250, charge_id=charge)})  # fmt: skip
        state = decide(state, refund, NOW + timedelta(days=2)).state
        state = decide(state, request(USER, "menu"), NOW + timedelta(days=2, minutes=1)).state
        assert state.referral.holding == "voided"
        assert referrals.next_due(state) is None
        assert told(rules.alarm(state, CONTENT, NOW + timedelta(days=30))) == []

    def test_a_payment_of_someone_nobody_invited_holds_nothing(self) -> None:
        state, invoice = buy(onboarded())
        state = paid(state, invoice, "ch-1").state
        assert state.referral.holding == "none"


def referrer_state() -> JourneyState:
    return onboarded().model_copy(update={"user_id": REFERRER})


def tell(state: JourneyState, newcomer: int, event: ReferralEvent, now: datetime = NOW) -> referrals.Outcome:
    request = ReferralRequest(referrer=REFERRER, newcomer=token(newcomer), event=event)
    return referrals.apply(state, request, now, CONTENT)


def token(newcomer: int) -> str:
    return f"tok{newcomer:07d}"


class TestReferrer:
    def test_joined_counts_and_introduced_earns_besitos_once(self) -> None:
        state = referrer_state()
        before = state.besitos
        joined = tell(state, 1, "joined")
        state = joined.state
        assert (state.referral.joined, state.besitos) == (1, before)
        assert [e.screen.key for e in joined.effects if isinstance(e, Notify)] == ["notify.referral.joined"]
        outcome = tell(state, 1, "introduced")
        state = outcome.state
        assert state.referral.introduced == 1
        assert state.besitos == before + ledger(outcome.effects)  # with what the new total unlocks
        rows = [e for e in outcome.effects if isinstance(e, AwardBesitos) and e.action == "referral"]
        assert [e.amount for e in rows] == [CONTENT.referrals.intro_besitos]
        assert state.referral.besitos_earned == CONTENT.referrals.intro_besitos
        assert any(isinstance(e, Notify) for e in outcome.effects)
        again = tell(state, 1, "introduced")
        assert again.reply.duplicate and again.state is state and again.effects == []

    def test_the_daily_cap(self) -> None:
        state = referrer_state()
        cap = CONTENT.referrals.daily_cap
        for newcomer in range(1, cap + 3):
            state = tell(state, newcomer, "introduced").state
        assert state.referral.introduced == cap + 2
        assert state.referral.besitos_earned == cap * CONTENT.referrals.intro_besitos
        tomorrow = tell(state, 99, "introduced", NOW + timedelta(days=1)).state
        assert tomorrow.referral.besitos_earned == (cap + 1) * CONTENT.referrals.intro_besitos

    def test_invitations_unlock_the_achievement(self) -> None:
        state = referrer_state()
        for newcomer in (1, 2, 3):
            state = tell(state, newcomer, "introduced").state
        assert "dianas_messenger" in state.achievements

    def test_a_paid_referral_earns_vip_days_that_are_never_a_stars_refund(self) -> None:
        outcome = tell(referrer_state(), 1, "paid")
        state = outcome.state
        assert state.vip and state.referral.vip_days_earned == CONTENT.referrals.payment_amount
        assert state.subscription.expires_at == NOW + timedelta(days=CONTENT.referrals.payment_amount)
        assert [c.charge_id for c in state.subscription.charges] == [f"{REFERRAL_PREFIX}{token(1)}"]
        assert any(isinstance(e, OpenVipChannel) for e in outcome.effects)
        with pytest.raises(rules.Rejection):
            rules.validate(state, request(REFERRER, "refunded"))  # no payment details: refused
        from workflows import subscription
        from workflows.progress import Turn

        turn = Turn(state=state, content=CONTENT, now=NOW, cause="x")
        with pytest.raises(subscription.SubscriptionRejection):
            subscription.refund(turn, f"{REFERRAL_PREFIX}{token(1)}", "admin:1", "asked for it")

    def test_or_besitos_as_content_says(self) -> None:
        content = CONTENT.model_copy(update={"referrals": CONTENT.referrals.model_copy(
            update={"payment_reward": "besitos", "payment_amount": 300})})  # fmt: skip
        state = referrer_state()
        outcome = referrals.apply(
            state, ReferralRequest(referrer=REFERRER, newcomer=token(1), event="paid"), NOW, content
        )
        assert outcome.state.besitos - state.besitos == ledger(outcome.effects)
        assert outcome.state.referral.besitos_earned == 300
        assert not outcome.state.vip


class TestInviteScreen:
    def test_a_button_on_mis_besitos_opens_invita_with_the_counts(self) -> None:
        state = onboarded()
        besitos = press(state, "besitos")
        assert referrals.OPEN in [b.action for row in besitos.screen.buttons for b in row]
        state = besitos.state
        state.referral.code = CODE  # the journey makes it before the screen
        state.referral.joined = 2
        decision = press(state, referrals.OPEN)
        assert decision.screen.key == "referrals.invite"
        assert (decision.screen.params["joined"], decision.screen.params["code"]) == (2, CODE)
        assert decision.screen.buttons[0][0].action == f"{referrals.SHARE}{CODE}"
        assert [e.code for e in decision.effects if isinstance(e, SaveReferralCode)] == [CODE]
        again = press(decision.state, referrals.OPEN)
        assert not any(isinstance(e, SaveReferralCode) for e in again.effects)

    def test_the_content_defaults_let_older_content_load(self) -> None:
        older = CONTENT.model_dump(mode="json")
        del older["referrals"]
        loaded = type(CONTENT).model_validate(older)
        assert loaded.referrals.payment_reward == "vip_days"


def test_every_referral_text_exists_and_renders_in_both_languages() -> None:
    from adapters.texts import catalog, render

    keys = {"referrals.open", "referrals.share", "referrals.invite", "notice.referral.vip_days"}
    keys |= {f"notify.referral.{event}" for event in get_args(ReferralEvent)}
    state = onboarded()
    state.referral.code = CODE
    screen = press(state, referrals.OPEN).screen
    for language in ("es", "en"):
        assert keys <= catalog(language).keys()
        text, markup = render(screen, language)
        assert CODE in text and markup is not None
