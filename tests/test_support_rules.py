"""Staff changes to a journey (support CLI, admins in Telegram) as pure rules: applied once, refused cleanly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import request
from tests.test_rules import CONTENT, NOW, USER, decide, ledger, onboarded, play
from tests.test_subscription_rules import vip_user
from workflows import rules, support
from workflows.contracts import (
    AwardBesitos,
    CloseVipChannel,
    EraseData,
    JourneyError,
    JourneyState,
    Notify,
    PaymentDetails,
    RefundPayment,
    SaveProfile,
    SaveStoryProgress,
    SupportAction,
    SupportRequest,
    UpdateLeaderboard,
)
from workflows.days import iso_week, local_day
from workflows.economy import level_cost, level_progress


def staff(action: SupportAction, request_id: str = "r1", **fields: object) -> SupportRequest:
    return SupportRequest(request_id=request_id, user_id=USER, actor="support:ana", action=action,
                          reason="a reason for the log", **fields)  # fmt: skip


def apply(state: JourneyState, change: SupportRequest) -> support.SupportOutcome:
    return support.apply(state, change, NOW, CONTENT)


def refused(kind: str, state: JourneyState, change: SupportRequest) -> None:
    with pytest.raises(rules.Rejection) as caught:
        apply(state, change)
    assert caught.value.kind == kind


def test_a_grant_adds_besitos_towards_levels_writes_the_ledger_and_tells_the_user() -> None:
    state = onboarded()
    outcome = apply(state, staff("grant", amount=500))
    after = outcome.state
    assert after.besitos - state.besitos == ledger(outcome.effects) >= 500
    assert after.lifetime_besitos - state.lifetime_besitos == after.besitos - state.besitos
    grant = next(e for e in outcome.effects if isinstance(e, AwardBesitos) and e.action == "support_grant")
    assert (grant.amount, grant.idempotency_key) == (500, f"journey-{USER}:support:r1")
    note = next(e for e in outcome.effects if isinstance(e, Notify))
    assert note.screen.key == "notify.support.granted" and note.screen.params["amount"] == 500
    assert isinstance(outcome.effects[0], SaveProfile)
    assert "granted 500 besitos" in outcome.message


def test_a_grant_in_a_new_week_lands_on_this_weeks_board_and_announces_a_new_level() -> None:
    state = onboarded()
    state.leaderboard.week_besitos = 40  # earned last week
    next_week = NOW + timedelta(days=7)
    outcome = support.apply(state, staff("grant", amount=level_cost(1) * 3), next_week, CONTENT)
    this_week = iso_week(local_day(next_week, CONTENT.calendar.timezone))
    assert this_week != state.leaderboard.week
    earned = outcome.state.lifetime_besitos - state.lifetime_besitos  # the grant, and what it unlocked
    assert earned >= level_cost(1) * 3
    assert (outcome.state.leaderboard.week, outcome.state.leaderboard.week_besitos) == (this_week, earned)
    board = next(e for e in outcome.effects if isinstance(e, UpdateLeaderboard))
    assert (board.week, board.week_besitos) == (this_week, earned)
    note = next(e for e in outcome.effects if isinstance(e, Notify))
    reached = level_progress(outcome.state.lifetime_besitos).level
    assert reached > level_progress(state.lifetime_besitos).level
    assert {"key": "notice.level_up", "params": {"level": reached}} in [n.model_dump() for n in note.screen.notices]


def test_the_same_request_applies_once() -> None:
    first = apply(onboarded(), staff("grant", amount=50))
    again = apply(first.state, staff("grant", amount=50))
    assert again.duplicate and again.effects == [] and again.state.besitos == first.state.besitos


def test_taking_back_lowers_the_balance_not_the_level_and_never_below_zero() -> None:
    state = apply(onboarded(), staff("grant", amount=100)).state
    outcome = apply(state, staff("grant", "r2", amount=-40))
    assert outcome.state.besitos == state.besitos - 40
    assert outcome.state.lifetime_besitos == state.lifetime_besitos
    assert [e.amount for e in outcome.effects if isinstance(e, AwardBesitos)] == [-40]
    refused(JourneyError.SUPPORT_REFUSED, outcome.state, staff("grant", "r3", amount=-(outcome.state.besitos + 1)))


@pytest.mark.parametrize("amount", [0, support.MAX_GRANT + 1, -support.MAX_GRANT - 1])
def test_grants_out_of_bounds_are_refused(amount: int) -> None:
    refused(JourneyError.SUPPORT_REFUSED, onboarded(), staff("grant", amount=amount))


def test_restarting_the_story_keeps_what_was_earned() -> None:
    state = play(onboarded(), "story", "pick.c01_follow")
    outcome = apply(state, staff("restart_story"))
    story = outcome.state.story
    assert story.fragment_id == CONTENT.story.start and story.playthrough == state.story.playthrough + 1
    assert story.completed == state.story.completed and outcome.state.besitos == state.besitos
    assert [e.fragment_id for e in outcome.effects if isinstance(e, SaveStoryProgress)] == [CONTENT.story.start]
    refused(JourneyError.SUPPORT_REFUSED, onboarded(), staff("restart_story"))


def test_a_banned_user_is_refused_everything_but_a_payment_until_unbanned() -> None:
    state = play(onboarded(), "menu")
    banned = apply(state, staff("ban")).state
    assert banned.banned
    with pytest.raises(rules.Rejection) as caught:
        decide(banned, request(USER, "button", action="besitos", screen=banned.screen_seq))
    assert caught.value.kind == JourneyError.BANNED
    payment = request(USER, "payment").model_copy(
        update={"payment": PaymentDetails(payload="x", currency="XTR", total_amount=1, charge_id="c")}
    )
    with pytest.raises(rules.Rejection) as caught:
        rules.validate(banned, payment, CONTENT)
    assert caught.value.kind != JourneyError.BANNED  # refused for its own reasons, not for the ban
    refused(JourneyError.SUPPORT_REFUSED, banned, staff("ban", "r2"))
    unbanned = apply(banned, staff("unban", "r3")).state
    assert not unbanned.banned
    assert decide(unbanned, request(USER, "button", action="besitos", screen=unbanned.screen_seq)).screen.key == (
        "besitos.summary"
    )


def test_erasing_by_support_ends_the_journey_like_the_users_own_wish() -> None:
    outcome = apply(onboarded(), staff("erase"))
    assert outcome.state.stage == "erased" and any(isinstance(e, EraseData) for e in outcome.effects)
    refused(JourneyError.ERASED, outcome.state, staff("grant", "r2", amount=5))


def test_a_refund_still_ends_vip() -> None:
    outcome = apply(vip_user(), staff("refund", charge_id="ch-1"))
    assert not outcome.state.vip
    assert {type(e) for e in outcome.effects} >= {RefundPayment, CloseVipChannel}


def test_changes_for_another_user_or_a_journey_not_begun_are_refused() -> None:
    refused(JourneyError.FOREIGN_USER, onboarded(), staff("grant", amount=5).model_copy(update={"user_id": USER + 1}))
    refused(JourneyError.NOT_STARTED, JourneyState(user_id=USER), staff("grant", amount=5))
