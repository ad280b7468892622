"""The journey's pure rules: no Temporal, no I/O, plain asserts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import request
from workflows import rules
from workflows.contracts import (
    AwardBesitos,
    JourneyError,
    JourneyRequest,
    JourneyState,
    SaveProfile,
    UnlockAchievement,
)
from workflows.economy import POINTS, level_cost, level_progress, progress_bar

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
USER = 555


def onboarded() -> JourneyState:
    """A journey walked through /start and the whole introduction."""
    state = JourneyState(user_id=USER)
    state = rules.decide(state, request(USER, "start"), NOW).state
    for _ in range(rules.ONBOARDING_SCREENS):
        state = rules.decide(
            state, request(USER, "button", action="onboarding_next", screen=state.screen_seq), NOW
        ).state
    return state


class TestEconomy:
    def test_points_are_the_seeds(self) -> None:
        assert POINTS == {
            "story_fragment_completion": 10,
            "decision_made": 5,
            "daily_login": 15,
            "mission_completed": 25,
            "achievement_unlocked": 50,
            "channel_reaction": 2,
        }

    @pytest.mark.parametrize(("level", "cost"), [(1, 100), (5, 100), (6, 200), (10, 200), (11, 500), (40, 500)])
    def test_level_costs(self, level: int, cost: int) -> None:
        assert level_cost(level) == cost

    @pytest.mark.parametrize(
        ("lifetime", "level", "into"),
        [(0, 1, 0), (99, 1, 99), (100, 2, 0), (399, 4, 99), (400, 5, 0), (500, 6, 0), (1300, 10, 0), (1499, 10, 199),
         (1500, 11, 0), (2000, 12, 0)],
    )  # fmt: skip
    def test_level_thresholds(self, lifetime: int, level: int, into: int) -> None:
        progress = level_progress(lifetime)
        assert (progress.level, progress.into_level) == (level, into)

    def test_bad_level_inputs(self) -> None:
        with pytest.raises(ValueError):
            level_cost(0)
        with pytest.raises(ValueError):
            level_progress(-1)

    def test_progress_bar(self) -> None:
        assert progress_bar(level_progress(150)) == "▰▰▰▰▰▱▱▱▱▱"


class TestOnboarding:
    def test_first_contact_starts_the_introduction_and_stores_the_profile(self) -> None:
        decision = rules.decide(JourneyState(user_id=USER), request(USER, "start"), NOW)
        assert decision.state.stage == "onboarding"
        assert decision.screen.key == "onboarding.1"
        assert decision.screen.buttons[0][0].action == "onboarding_next"
        assert [type(e) for e in decision.effects] == [SaveProfile]
        assert decision.state.joined_at == NOW

    def test_introduction_ends_in_the_menu_with_welcome_besitos(self) -> None:
        state = onboarded()
        assert state.stage == "active"
        assert state.screen is not None and state.screen.key == "menu.greeting.welcome"
        assert state.besitos == POINTS["achievement_unlocked"] == 50
        assert state.achievements == [rules.FIRST_STEPS]
        labels = [button.label for row in state.screen.buttons for button in row]
        assert labels == ["menu.story", "menu.besitos", "menu.missions", "menu.achievements", "menu.vip",
                          "menu.settings"]  # fmt: skip
        assert [n.key for n in state.screen.notices] == ["notice.achievement", "notice.besitos"]

    def test_last_step_effects_are_profile_achievement_and_ledger(self) -> None:
        state = JourneyState(user_id=USER)
        state = rules.decide(state, request(USER, "start"), NOW).state
        for _ in range(rules.ONBOARDING_SCREENS - 1):
            state = rules.decide(state, request(USER, "button", action="onboarding_next", screen=state.screen_seq),
                                 NOW).state  # fmt: skip
        last = rules.decide(state, request(USER, "button", action="onboarding_next", screen=state.screen_seq), NOW)
        assert [type(e) for e in last.effects] == [SaveProfile, UnlockAchievement, AwardBesitos]
        award = last.effects[2]
        assert isinstance(award, AwardBesitos)
        assert (award.amount, award.balance_after, award.action) == (50, 50, "achievement_unlocked")

    def test_start_during_introduction_resumes_it(self) -> None:
        state = rules.decide(JourneyState(user_id=USER), request(USER, "start"), NOW).state
        state = rules.decide(
            state, request(USER, "button", action="onboarding_next", screen=state.screen_seq), NOW
        ).state
        again = rules.decide(state, request(USER, "start"), NOW)
        assert again.screen.key == "onboarding.2"
        assert again.state.besitos == 0

    def test_start_again_after_onboarding_awards_nothing_more(self) -> None:
        decision = rules.decide(onboarded(), request(USER, "start"), NOW + timedelta(days=1))
        assert decision.screen.key == "menu.greeting.again"
        assert decision.state.besitos == 50
        assert not any(isinstance(e, AwardBesitos) for e in decision.effects)

    def test_language_follows_telegram_with_spanish_default(self) -> None:
        english = rules.decide(JourneyState(user_id=USER), request(USER, "start", language_code="en-GB"), NOW)
        other = rules.decide(JourneyState(user_id=USER), request(USER, "start", language_code="pt"), NOW)
        assert (english.state.language, other.state.language) == ("en", "es")


class TestMenu:
    def test_mis_besitos_shows_balance_level_and_progress(self) -> None:
        state = onboarded()
        decision = rules.decide(state, request(USER, "button", action="besitos", screen=state.screen_seq), NOW)
        assert decision.screen.key == "besitos.summary"
        assert decision.screen.params["balance"] == 50
        assert decision.screen.params["level"] == 1
        assert decision.screen.params["remaining"] == 50
        assert decision.screen.params["next_level"] == 2
        assert decision.effects == []

    @pytest.mark.parametrize("action", sorted(rules.COMING_SOON))
    def test_entries_not_shipped_yet_say_so(self, action: str) -> None:
        state = onboarded()
        decision = rules.decide(state, request(USER, "button", action=action, screen=state.screen_seq), NOW)
        assert decision.screen.key == f"coming_soon.{action}"
        assert decision.screen.buttons[0][0].action == "menu"

    def test_every_screen_gets_a_new_sequence_number(self) -> None:
        state = onboarded()
        before = state.screen_seq
        decision = rules.decide(state, request(USER, "menu"), NOW)
        assert decision.screen.seq == decision.state.screen_seq == before + 1


class TestBadInput:
    def reject(self, state: JourneyState, req: object) -> str:
        with pytest.raises(rules.Rejection) as caught:
            rules.decide(state, req, NOW)  # type: ignore[arg-type]
        return caught.value.kind

    def test_unknown_action(self) -> None:
        state = onboarded()
        assert self.reject(state, request(USER, "button", action="give_me_1000", screen=state.screen_seq)) == (
            JourneyError.UNKNOWN_ACTION
        )

    def test_stale_screen(self) -> None:
        state = onboarded()
        kind = self.reject(state, request(USER, "button", action="besitos", screen=state.screen_seq - 1))
        assert kind == JourneyError.STALE_SCREEN

    def test_onboarding_button_after_onboarding(self) -> None:
        state = onboarded()
        kind = self.reject(state, request(USER, "button", action="onboarding_next", screen=state.screen_seq))
        assert kind == JourneyError.STALE_SCREEN

    def test_menu_button_during_onboarding(self) -> None:
        state = rules.decide(JourneyState(user_id=USER), request(USER, "start"), NOW).state
        kind = self.reject(state, request(USER, "button", action="besitos", screen=state.screen_seq))
        assert kind == JourneyError.STALE_SCREEN

    def test_another_users_request(self) -> None:
        assert self.reject(onboarded(), request(USER + 1, "menu")) == JourneyError.FOREIGN_USER

    def test_button_before_the_journey_started(self) -> None:
        kind = self.reject(JourneyState(user_id=USER), request(USER, "button", action="menu", screen=0))
        assert kind == JourneyError.NOT_STARTED

    def test_oversized_text(self) -> None:
        assert self.reject(onboarded(), request(USER, "text", text="x" * 4097)) == JourneyError.INVALID_INPUT

    def test_rejection_leaves_the_state_untouched(self) -> None:
        state = onboarded()
        snapshot = state.model_copy(deep=True)
        self.reject(state, request(USER, "button", action="nope", screen=state.screen_seq))
        assert state == snapshot


class TestExactlyOnce:
    def test_a_redelivered_update_changes_nothing(self) -> None:
        state = rules.decide(JourneyState(user_id=USER), request(USER, "start"), NOW).state
        press = request(USER, "button", action="onboarding_next", screen=state.screen_seq)
        once = rules.decide(state, press, NOW)
        twice = rules.decide(once.state, press, NOW)
        assert twice.state == once.state
        assert twice.effects == []
        assert twice.screen == once.screen

    def test_the_window_of_applied_updates_is_bounded(self) -> None:
        state = onboarded()
        for _ in range(rules.RECENT_UPDATE_WINDOW + 20):
            state = rules.decide(state, request(USER, "menu"), NOW).state
        assert len(state.recent_deliveries) == rules.RECENT_UPDATE_WINDOW

    def test_a_reused_update_id_with_other_content_is_a_new_update(self) -> None:
        state = rules.decide(JourneyState(user_id=USER), request(USER, "start"), NOW).state
        first = request(USER, "text", text="hola", update_id=77).model_copy(update={"fingerprint": "aaaa"})
        reused = request(USER, "menu", update_id=77).model_copy(update={"fingerprint": "bbbb"})
        state = rules.decide(state, first, NOW).state
        assert rules.is_duplicate(state, first)
        assert not rules.is_duplicate(state, reused)
        assert rules.decide(state, reused, NOW).state.screen_seq == state.screen_seq + 1

    def test_ledger_keys_are_stable_for_the_same_cause(self) -> None:
        first = [e for e in rules.decide(*_last_step()).effects if isinstance(e, AwardBesitos)]
        second = [e for e in rules.decide(*_last_step()).effects if isinstance(e, AwardBesitos)]
        assert [e.idempotency_key for e in first] == [e.idempotency_key for e in second]


def _last_step() -> tuple[JourneyState, JourneyRequest, datetime]:
    state = JourneyState(user_id=USER)
    state = rules.decide(state, request(USER, "start", update_id=1), NOW).state
    for update_id in (2, 3):
        state = rules.decide(state, request(USER, "button", action="onboarding_next", screen=state.screen_seq,
                                            update_id=update_id), NOW).state  # fmt: skip
    return state, request(USER, "button", action="onboarding_next", screen=state.screen_seq, update_id=4), NOW


def test_search_attributes_carry_no_personal_data() -> None:
    values = rules.search_attribute_values(onboarded())
    assert values == {"JourneyStage": "active", "BesitosLevel": 1, "BesitosBalance": 50, "VipActive": False,
                      "LastSeenAt": NOW}  # fmt: skip


def test_last_seen_is_published_to_the_minute() -> None:
    state = onboarded().model_copy(update={"last_seen": NOW + timedelta(seconds=42, microseconds=5)})
    assert rules.search_attribute_values(state)["LastSeenAt"] == NOW
