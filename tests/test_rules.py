"""The journey's pure rules: no Temporal, no I/O, plain asserts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import request, shipped_content
from workflows import moods, rules, story
from workflows.content import Condition, Content, content_problems
from workflows.contracts import (
    AwardBesitos,
    Charge,
    CompleteMission,
    EraseData,
    ExportData,
    JourneyError,
    JourneyRequest,
    JourneyState,
    Notify,
    RecordDecision,
    SaveProfile,
    SaveStoryProgress,
    UnlockAchievement,
    UpdateLeaderboard,
)
from workflows.economy import POINTS, level_cost, level_progress, progress_bar, with_vip_bonus
from workflows.progress import metric

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 14:00 in Mexico City, the content's time zone
USER = 555
CONTENT = shipped_content()
WELCOME = POINTS["achievement_unlocked"] + POINTS["daily_login"]  # First Steps and the first daily visit


def decide(state: JourneyState, req: JourneyRequest, now: datetime = NOW) -> rules.Decision:
    return rules.decide(state, req, now, CONTENT)


def press(state: JourneyState, action: str, now: datetime = NOW) -> rules.Decision:
    return decide(state, request(USER, "button", action=action, screen=state.screen_seq), now)


def onboarded(now: datetime = NOW) -> JourneyState:
    """A journey walked through /start and the whole introduction."""
    state = decide(JourneyState(user_id=USER), request(USER, "start"), now).state
    for _ in range(rules.ONBOARDING_SCREENS):
        state = press(state, "onboarding_next", now).state
    return state


def play(state: JourneyState, *actions: str, now: datetime = NOW) -> JourneyState:
    for action in actions:
        state = press(state, action, now).state
    return state


def ledger(effects: Sequence[object]) -> int:
    return sum(e.amount for e in effects if isinstance(e, AwardBesitos))


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

    @pytest.mark.parametrize(("amount", "vip", "earned"),
                             [(10, False, 10), (10, True, 15), (5, True, 7), (25, True, 37), (15, True, 22),
                              (2, True, 3), (50, True, 75), (1, True, 1)])  # fmt: skip
    def test_vip_multiplier_rounds_down_to_whole_besitos(self, amount: int, vip: bool, earned: int) -> None:
        assert with_vip_bonus(amount, vip) == earned

    def test_a_vip_earns_the_bonus_on_every_award(self) -> None:
        state = onboarded().model_copy(update={"vip": True})
        decision = press(state, "story")  # enters f01, completes nothing yet
        decision = press(decision.state, "pick.c01_follow")
        awards = [e for e in decision.effects if isinstance(e, AwardBesitos)]
        assert {e.action: e.amount for e in awards}["decision_made"] == 7
        assert {e.action: e.amount for e in awards}["story_fragment_completion"] == 15


class TestOnboarding:
    def test_first_contact_starts_the_introduction_and_stores_the_profile(self) -> None:
        decision = decide(JourneyState(user_id=USER), request(USER, "start"))
        assert decision.state.stage == "onboarding"
        assert decision.screen.key == "onboarding.1"
        assert decision.screen.buttons[0][0].action == "onboarding_next"
        assert [type(e) for e in decision.effects] == [SaveProfile]
        assert decision.state.joined_at == NOW

    def test_introduction_ends_in_the_menu_with_first_steps_and_the_first_daily_visit(self) -> None:
        state = onboarded()
        assert state.stage == "active"
        assert state.screen is not None and state.screen.key == "menu.greeting.welcome"
        assert state.besitos == WELCOME == 65
        assert state.achievements == ["first_steps"]
        assert state.devotion.streak == 1
        labels = [button.label for row in state.screen.buttons for button in row]
        assert labels == ["menu.story", "menu.besitos", "menu.shop", "menu.missions", "menu.achievements",
                          "menu.ranking", "menu.vip", "menu.settings"]  # fmt: skip
        assert [n.key for n in state.screen.notices] == ["notice.achievement", "notice.streak", "notice.besitos"]
        assert state.screen.notices[0].params == {"title": "Primeros Pasos"}

    def test_last_step_effects(self) -> None:
        last = rules.decide(*_last_step(), CONTENT)
        kinds = [type(e) for e in last.effects]
        assert kinds == [SaveProfile, AwardBesitos, UnlockAchievement, AwardBesitos, UpdateLeaderboard]
        assert ledger(last.effects) == last.state.besitos == 65

    def test_start_during_introduction_resumes_it(self) -> None:
        state = decide(JourneyState(user_id=USER), request(USER, "start")).state
        state = press(state, "onboarding_next").state
        again = decide(state, request(USER, "start"))
        assert again.screen.key == "onboarding.2"
        assert again.state.besitos == 0

    def test_start_again_the_same_day_awards_nothing_more(self) -> None:
        decision = decide(onboarded(), request(USER, "start"))
        assert decision.screen.key.startswith("mood.")
        assert decision.state.besitos == WELCOME
        assert not any(isinstance(e, AwardBesitos) for e in decision.effects)

    def test_language_follows_telegram_with_spanish_default(self) -> None:
        english = decide(JourneyState(user_id=USER), request(USER, "start", language_code="en-GB"))
        other = decide(JourneyState(user_id=USER), request(USER, "start", language_code="pt"))
        assert (english.state.language, other.state.language) == ("en", "es")


class TestStory:
    def test_continuar_historia_begins_at_the_start_and_resumes_where_the_user_left(self) -> None:
        state = press(onboarded(), "story").state
        assert state.story.fragment_id == "f01"
        assert state.screen is not None and state.screen.params["title"] == "La invitación"
        assert [b.action for row in state.screen.buttons for b in row] == ["pick.c01_follow", "pick.c01_ask", "menu"]
        state = play(state, "pick.c01_ask", "menu")
        resumed = press(state, "story")
        assert resumed.state.story.fragment_id == "f03"
        assert resumed.screen.params["title"] == "¿Quién eres?"
        assert ledger(resumed.effects) == 0

    def test_the_warm_path_reaches_amanecer(self) -> None:
        state = play(onboarded(), "story", "pick.c01_follow", story.NEXT, "pick.c04_keep", story.NEXT,
                     "pick.c07_open", story.NEXT, "pick.c10_stay", story.NEXT)  # fmt: skip
        assert state.story.fragment_id == "f12"
        assert state.story.endings == ["amanecer"]
        assert state.story.relationship == 5
        assert state.story.flags == ["follows", "keeps_secret", "vulnerable"]
        assert state.screen is not None and state.screen.key == "story.ending"
        assert [b.action for row in state.screen.buttons for b in row] == [story.RESTART, "menu"]
        assert state.story.completed == ["f01", "f02", "f04", "f05", "f07", "f08", "f10", "f11", "f12"]

    def test_the_shadow_path_reaches_the_other_ending_and_its_past_closes_a_way_back(self) -> None:
        state = play(onboarded(), "story", "pick.c01_ask", story.NEXT, "pick.c04_press", story.NEXT,
                     "pick.c07_guard", story.NEXT, "pick.c10_leave")  # fmt: skip
        assert state.story.fragment_id == "f13"
        assert state.screen is not None
        # Demanding the truth in f04 closed "go back for her": the choice is not even shown.
        assert [b.action for row in state.screen.buttons for b in row] == ["pick.c13_walk", "menu"]
        with pytest.raises(rules.Rejection):
            press(state, "pick.c13_return")
        state = press(state, "pick.c13_walk").state
        assert state.story.endings == ["puerta_entreabierta"]
        assert state.story.relationship == -2

    def test_a_choice_needing_more_trust_is_shown_locked_and_changes_nothing(self) -> None:
        state = play(onboarded(), "story", "pick.c01_ask", story.NEXT, "pick.c04_keep", story.NEXT,
                     "pick.c07_guard", story.NEXT)  # fmt: skip
        assert state.story.fragment_id == "f10" and state.story.relationship == 1
        assert state.screen is not None
        labels = {b.action: b.text for row in state.screen.buttons for b in row}
        assert labels["pick.c10_stay"] is not None and labels["pick.c10_stay"].startswith("🔒")
        locked = press(state, "pick.c10_stay")
        assert locked.screen.key == "story.locked.relationship"
        assert locked.state.story == state.story
        assert ledger(locked.effects) == 0

    def test_the_vip_door_shows_a_teaser_to_free_users_and_opens_for_vips(self) -> None:
        state = play(onboarded(), "story", "pick.c01_ask", story.NEXT, "pick.c04_keep", story.NEXT,
                     "pick.c07_guard", story.NEXT)  # fmt: skip
        teaser = press(state, "pick.c10_door")
        assert teaser.screen.key == "story.locked.vip"
        assert teaser.screen.params["teaser"] == CONTENT.story.by_id["f15"].teaser.es  # type: ignore[union-attr]
        assert [b.action for row in teaser.screen.buttons for b in row] == ["vip", "story"]
        assert teaser.state.story.fragment_id == "f10"
        vip = press(state.model_copy(update={"vip": True}), "pick.c10_door")
        assert vip.state.story.fragment_id == "f15"

    def test_a_level_gate_waits_for_the_level(self) -> None:
        state = play(onboarded(), "story", "pick.c01_ask", story.NEXT, "pick.c04_keep")
        assert state.story.fragment_id == "f05"
        poor = state.model_copy(update={"lifetime_besitos": 50, "besitos": 50})
        locked = press(poor, story.NEXT)
        assert locked.screen.key == "story.locked.level"
        assert locked.screen.params["level"] == 2
        assert locked.state.story.fragment_id == "f05"

    def test_a_besitos_gate_names_what_is_missing(self) -> None:
        state = play(onboarded(), "story", "pick.c01_follow", story.NEXT, "pick.c04_keep", story.NEXT,
                     "pick.c07_open", story.NEXT)  # fmt: skip
        poor = state.model_copy(update={"besitos": 200})
        locked = press(poor, "pick.c10_stay")
        assert locked.screen.key == "story.locked.besitos"
        assert (locked.screen.params["besitos"], locked.screen.params["missing"]) == (250, 50)

    def test_living_it_again_counts_decisions_but_never_pays_twice(self) -> None:
        path = ("pick.c01_follow", story.NEXT, "pick.c04_keep", story.NEXT, "pick.c07_open", story.NEXT,
                "pick.c10_stay", story.NEXT)  # fmt: skip
        state = play(onboarded(), "story", *path)
        state = restarted = press(state, story.RESTART).state
        assert (state.story.fragment_id, state.story.playthrough, state.story.flags) == ("f01", 2, [])
        assert state.story.relationship == 0
        effects: list[object] = []
        for action in path[:2]:
            decision = press(state, action)
            state, effects = decision.state, effects + decision.effects
        assert state.story.decisions == 5
        story_awards = [e for e in effects if isinstance(e, AwardBesitos) and e.action in
                        ("decision_made", "story_fragment_completion")]  # fmt: skip
        assert story_awards == [], "the same fragments and choices earn nothing the second time"
        assert "exploradora_curiosa" in state.missions, "but the fifth decision still counts for its mission"
        fresh = press(restarted, "pick.c01_ask")
        assert ledger(fresh.effects) >= POINTS["decision_made"], "a choice never made before still earns"

    def test_each_decision_is_recorded_and_progress_saved_in_order(self) -> None:
        state = press(onboarded(), "story").state
        decision = press(state, "pick.c01_follow")
        records = [e for e in decision.effects if isinstance(e, RecordDecision)]
        saves = [e for e in decision.effects if isinstance(e, SaveStoryProgress)]
        assert [(r.fragment_id, r.choice_id, r.playthrough) for r in records] == [("f01", "c01_follow", 1)]
        assert saves[-1].fragment_id == "f02" and saves[-1].seq == decision.state.story.saves == 2

    @pytest.mark.parametrize(
        ("actions", "action", "kind"),
        [((), "pick.c04_keep", JourneyError.UNKNOWN_ACTION), ((), story.NEXT, JourneyError.STALE_SCREEN),
         ((), story.RESTART, JourneyError.STALE_SCREEN), (("pick.c01_follow",), "pick.c01_ask",
          JourneyError.UNKNOWN_ACTION), ((), "pick.", JourneyError.UNKNOWN_ACTION)],
    )  # fmt: skip
    def test_buttons_that_do_not_belong_here_are_refused(self, actions: tuple[str, ...], action: str,
                                                         kind: str) -> None:  # fmt: skip
        state = play(onboarded(), "story", *actions)
        with pytest.raises(rules.Rejection) as caught:
            press(state, action)
        assert caught.value.kind == kind

    def test_story_button_before_the_story_began(self) -> None:
        with pytest.raises(rules.Rejection) as caught:
            press(onboarded(), story.NEXT)
        assert caught.value.kind == JourneyError.STALE_SCREEN


class TestMissionsAndAchievements:
    def test_the_first_decision_settles_a_cascade_exactly(self) -> None:
        state = press(onboarded(), "story").state
        decision = press(state, "pick.c01_follow")
        after = decision.state
        assert after.achievements == ["first_steps", "dianas_interest", "decision_maker", "point_collector",
                                      "level_up", "mission_accomplished"]  # fmt: skip
        assert after.missions == ["achievement_hunter"]
        # 65 + decision 5 + fragment 10 + 4 achievements × 50 + mission 25 + Mission Accomplished 50
        assert after.besitos == 355
        assert level_progress(after.lifetime_besitos).level == 4
        keys = [n.key for n in decision.screen.notices]
        assert keys.count("notice.achievement") == 5 and keys.count("notice.mission") == 1
        assert "notice.level_up" in keys
        assert [e.code for e in decision.effects if isinstance(e, CompleteMission)] == ["achievement_hunter"]

    def test_the_ledger_always_adds_up_to_the_balance(self) -> None:
        state = JourneyState(user_id=USER)
        effects: list[object] = []
        steps = [request(USER, "start")]
        for req in steps:
            decision = decide(state, req)
            state, effects = decision.state, effects + decision.effects
        for action in ("onboarding_next",) * 3 + ("story", "pick.c01_follow", story.NEXT, "pick.c04_keep"):
            decision = press(state, action)
            state, effects = decision.state, effects + decision.effects
        assert ledger(effects) == state.besitos == state.lifetime_besitos
        keys = [e.idempotency_key for e in effects if isinstance(e, AwardBesitos)]
        assert len(keys) == len(set(keys))

    def test_goal_screens_show_done_in_progress_and_locked(self) -> None:
        state = play(onboarded(), "story", "pick.c01_follow")
        missions = press(state, "missions").screen
        lines = str(missions.params["lines"]).splitlines()
        assert lines[0].startswith("⏳ Primera Conversación — 1/3")
        assert any(line.startswith("✅ Cazadora de Logros") for line in lines)
        assert any(line.startswith("🔒 Experiencia VIP") for line in lines)
        assert (missions.params["done"], missions.params["total"]) == (1, 11)
        achievements = press(state, "achievements").screen
        assert (achievements.params["done"], achievements.params["total"]) == (6, 18)
        assert "✅ Primeros Pasos" in str(achievements.params["lines"])

    def test_ultimate_explorer_needs_every_fragment_open_to_the_user(self) -> None:
        free = [f.id for f in CONTENT.story.fragments if not f.vip]
        state = onboarded()
        state.story.completed = free[:-1]
        assert metric(state, CONTENT, "all_content") == 0
        state.story.completed = free
        assert metric(state, CONTENT, "all_content") == 1
        assert metric(state.model_copy(update={"vip": True}), CONTENT, "all_content") == 0, "VIP opens more"

    def test_every_metric_of_the_content_is_counted(self) -> None:
        state = onboarded()
        for goal in (*CONTENT.missions, *CONTENT.achievements):
            assert metric(state, CONTENT, goal.metric) >= 0


class TestDailyVisits:
    def test_each_calendar_day_pays_once_and_grows_the_streak(self) -> None:
        state = onboarded()
        same_day = decide(state, request(USER, "menu"), NOW + timedelta(hours=3))
        assert ledger(same_day.effects) == 0
        next_day = decide(state, request(USER, "menu"), NOW + timedelta(days=1))
        assert next_day.state.devotion.streak == 2
        assert ledger([e for e in next_day.effects if isinstance(e, AwardBesitos) and e.action == "daily_login"]) == 15

    def test_days_are_calendar_days_in_the_community_time_zone(self) -> None:
        late = datetime(2026, 11, 24, 5, 50, tzinfo=UTC)  # 23:50 on the 23rd in Mexico City
        state = onboarded(late)
        after_midnight = decide(state, request(USER, "menu"), late + timedelta(minutes=20))  # 00:10 on the 24th
        assert after_midnight.state.devotion.streak == 2
        rolling = decide(state, request(USER, "menu"), late + timedelta(hours=5))  # same local day (05:50 UTC+5h)
        assert rolling.state.devotion.streak == 2

    def test_missing_a_day_resets_the_streak_but_not_the_longest(self) -> None:
        state = onboarded()
        for day in (1, 2):
            state = decide(state, request(USER, "menu"), NOW + timedelta(days=day)).state
        assert (state.devotion.streak, state.devotion.longest) == (3, 3)
        assert "devotion_daily" in state.missions
        state = decide(state, request(USER, "menu"), NOW + timedelta(days=4)).state
        assert (state.devotion.streak, state.devotion.longest) == (1, 3)

    def test_seven_days_in_a_row_is_daily_devotion(self) -> None:
        state = onboarded()
        for day in range(1, 7):
            state = decide(state, request(USER, "menu"), NOW + timedelta(days=day)).state
        assert "daily_devotion" in state.achievements


def _react(state: JourneyState, post: str, now: datetime = NOW) -> rules.Decision:
    return decide(state, request(USER, "reaction", action=post), now)


class TestCommunity:
    def test_a_reaction_pays_once_per_post_and_leaves_the_chat_screen_alone(self) -> None:
        state = onboarded()
        first = _react(state, "-1001:10")
        assert first.toast is not None and first.toast.key == "toast.reaction.rewarded"
        assert first.state.screen_seq == state.screen_seq and first.screen == state.screen
        awards = {e.action: e.amount for e in first.effects if isinstance(e, AwardBesitos)}
        assert awards["channel_reaction"] == 2
        assert "community_member" in first.state.achievements
        notify = [e for e in first.effects if isinstance(e, Notify)]
        assert len(notify) == 1 and notify[0].screen.key == "notify.progress"
        again = _react(first.state, "-1001:10")
        assert again.toast is not None and again.toast.key == "toast.reaction.again"
        assert again.effects == []

    def test_reactions_earn_under_a_daily_cap_and_still_count_for_missions(self) -> None:
        state = onboarded()
        cap = CONTENT.community.reaction_daily_cap
        for n in range(cap):
            state = _react(state, f"-1001:{n}").state
        capped = _react(state, "-1001:999")
        assert capped.toast is not None and capped.toast.key == "toast.reaction.capped"
        assert not [e for e in capped.effects if isinstance(e, AwardBesitos) and e.action == "channel_reaction"]
        assert capped.state.community.reactions == cap + 1
        assert "social_butterfly" in capped.state.missions
        tomorrow = _react(capped.state, "-1001:1000", NOW + timedelta(days=1))
        assert tomorrow.toast is not None and tomorrow.toast.key == "toast.reaction.rewarded"

    def test_joining_two_channels_completes_community_member(self) -> None:
        state = onboarded()
        for chat in ("-1001", "-1001", "-1002"):
            state = decide(state, request(USER, "joined", action=chat)).state
        assert state.community.channels == [-1001, -1002]
        assert "channel_member" in state.missions

    def test_notifications_off_means_no_push(self) -> None:
        state = play(onboarded(), "settings", "notifications_toggle")
        assert state.preferences.notifications is False
        assert not [e for e in _react(state, "-1001:1").effects if isinstance(e, Notify)]

    @pytest.mark.parametrize(("kind", "action"), [("reaction", "abc"), ("reaction", "-1:2:3"), ("joined", "x"),
                                                  ("reaction", "")])  # fmt: skip
    def test_malformed_channel_references_are_refused(self, kind: str, action: str) -> None:
        with pytest.raises(rules.Rejection) as caught:
            decide(onboarded(), request(USER, kind, action=action))  # type: ignore[arg-type]
        assert caught.value.kind == JourneyError.INVALID_INPUT

    def test_channel_activity_before_the_journey_began_is_refused(self) -> None:
        with pytest.raises(rules.Rejection) as caught:
            decide(JourneyState(user_id=USER), request(USER, "reaction", action="-1001:1"))
        assert caught.value.kind == JourneyError.NOT_STARTED

    def test_awards_feed_the_weekly_and_all_time_boards(self) -> None:
        decision = _react(onboarded(), "-1001:1")
        board = [e for e in decision.effects if isinstance(e, UpdateLeaderboard)]
        assert len(board) == 1, "one write per turn, with the totals after every award"
        assert board[0].week == "2026-W48"
        assert board[0].lifetime_besitos == board[0].week_besitos == decision.state.lifetime_besitos


class TestMoods:
    def base(self) -> JourneyState:
        return onboarded()

    @pytest.mark.parametrize(
        ("away", "change", "expected"),
        [(timedelta(days=8), {}, "longing"), (timedelta(days=3), {}, "reunion"), (timedelta(hours=1), {}, "curious"),
         (timedelta(hours=1), {"vip": True}, "intimate"), (timedelta(hours=1), {"relationship": -1}, "guarded"),
         (timedelta(hours=1), {"relationship": 4}, "intimate"), (timedelta(hours=1), {"streak": 3}, "devoted"),
         (timedelta(hours=1), {"decisions": 3}, "intense"), (timedelta(days=8), {"vip": True}, "longing")],
    )  # fmt: skip
    def test_one_of_seven_moods_in_a_fixed_order(self, away: timedelta, change: dict[str, object],
                                                 expected: str) -> None:  # fmt: skip
        state = self.base()
        now = NOW + timedelta(days=10)
        if change.get("vip"):
            state.vip = True
        if "relationship" in change:
            state.story.relationship = int(change["relationship"])  # type: ignore[call-overload]
        if "streak" in change:
            state.devotion.streak = int(change["streak"])  # type: ignore[call-overload]
        if "decisions" in change:
            state.story.recent_decisions = [now - timedelta(minutes=m) for m in (1, 5, 20)]
        assert moods.mood(state, now - away, now) == expected

    def test_the_mood_picks_the_greeting_and_the_first_menu_entry(self) -> None:
        state = onboarded()
        state.devotion.streak = 3
        menu = decide(state, request(USER, "menu"), NOW + timedelta(hours=1)).screen
        assert menu.key == "mood.devoted"
        assert menu.buttons[0][0].action == "missions"
        back = decide(onboarded(), request(USER, "menu"), NOW + timedelta(days=8)).screen
        assert back.key == "mood.longing" and back.buttons[0][0].action == "story"

    def test_seven_moods_each_with_a_complete_menu(self) -> None:
        assert len(moods.MENU_ORDER) == 7
        for order in moods.MENU_ORDER.values():
            assert sorted(order) == sorted(moods.SEED_ORDER)


class TestSettings:
    def test_language_and_notifications_are_saved(self) -> None:
        state = play(onboarded(), "settings", "language.en")
        assert state.language == "en" and state.preferences.language_chosen
        saved = [e for e in press(state, "notifications_toggle").effects if isinstance(e, SaveProfile)]
        assert saved and saved[-1].notifications is False

    def test_export_asks_for_a_document_with_the_whole_journey(self) -> None:
        decision = press(play(onboarded(), "settings"), "export")
        export = [e for e in decision.effects if isinstance(e, ExportData)]
        assert len(export) == 1
        assert export[0].journey["besitos"] == WELCOME and "pending_effects" not in export[0].journey
        assert decision.screen.key == "settings.export.sent"

    def test_erasing_needs_the_confirmation_screen(self) -> None:
        state = play(onboarded(), "settings")
        with pytest.raises(rules.Rejection):
            press(state, "erase_confirm")
        asked = press(state, "erase").state
        erased = press(asked, "erase_confirm")
        assert erased.state.stage == "erased"
        assert [type(e) for e in erased.effects][-2:] == [UpdateLeaderboard, EraseData]
        with pytest.raises(rules.Rejection) as caught:
            decide(erased.state, request(USER, "menu"))
        assert caught.value.kind == JourneyError.ERASED


class TestReminders:
    def test_the_reminder_waits_for_the_local_hour_and_skips_visitors(self) -> None:
        state = onboarded()
        due = rules.next_reminder(state, CONTENT, NOW)
        assert due is not None and due.hour == 20 and due.utcoffset() == timedelta(hours=-6)
        assert rules.remind(state, CONTENT, due) == [], "visited today"
        tomorrow = due + timedelta(days=1)
        sent = rules.remind(state, CONTENT, tomorrow)
        assert len(sent) == 1 and isinstance(sent[0], Notify) and sent[0].screen.key == "notify.reminder"
        assert rules.remind(state, CONTENT, tomorrow + timedelta(minutes=5)) == [], "once a day"

    def test_no_reminders_when_turned_off(self) -> None:
        state = play(onboarded(), "settings", "notifications_toggle")
        assert rules.next_reminder(state, CONTENT, NOW) is None
        assert rules.remind(state, CONTENT, NOW + timedelta(days=2)) == []

    def test_the_daily_wave_spreads_users_over_two_hours_each_at_a_stable_moment(self) -> None:
        from collections import Counter
        from zoneinfo import ZoneInfo

        zone = CONTENT.calendar.timezone
        users = range(7_000_000, 7_010_000)
        times = {user: rules.reminder_time(user, NOW, zone, 20) for user in users}
        local = [moment.astimezone(ZoneInfo(zone)) for moment in times.values()]
        assert {moment.date() for moment in local} == {NOW.astimezone(ZoneInfo(zone)).date()}
        assert all(20 <= moment.hour < 22 for moment in local), "within the two hours after the reminder hour"
        per_minute = Counter(moment.strftime("%H:%M") for moment in local)
        assert len(per_minute) == 120 and max(per_minute.values()) < 2 * len(users) / 120, "spread evenly"
        assert max(Counter(times.values()).values()) <= 2, "never a crowd in one second"
        user, first = next(iter(times.items()))
        assert rules.reminder_time(user, first, zone, 20) == first + timedelta(days=1), "the same moment every day"
        late = rules.reminder_time(user, NOW, zone, 23)
        assert late.astimezone(ZoneInfo(zone)).hour == 23, "a late reminder hour's wave ends by midnight"

    def test_reminders_stop_after_three_blocked_answers_until_the_user_writes(self) -> None:
        state = onboarded()
        for _ in range(rules.MAX_BLOCKED_ANSWERS - 1):
            rules.message_refused(state, blocked=True)
        rules.message_refused(state, blocked=False)  # a refusal that is not "blocked" does not count
        assert rules.next_reminder(state, CONTENT, NOW) is not None
        rules.message_refused(state, blocked=True)
        assert rules.next_reminder(state, CONTENT, NOW) is None
        assert rules.remind(state, CONTENT, NOW + timedelta(days=2)) == []
        state = decide(state, request(USER, "text", text="hola")).state
        assert state.blocked_answers == 0 and rules.next_reminder(state, CONTENT, NOW) is not None


class TestUnfinishedIntroductions:
    def test_an_introduction_left_unfinished_ends_after_the_contents_days_and_forgets_the_profile(self) -> None:
        state = decide(JourneyState(user_id=USER), request(USER, "start")).state
        days = CONTENT.community.introduction_days
        due = rules.lapse_due(state, CONTENT)
        assert due == NOW + timedelta(days=days) and rules.next_alarm(state, CONTENT, NOW) == due
        assert rules.alarm(state, CONTENT, due - timedelta(minutes=1)) == [] and state.stage == "onboarding"
        effects = rules.alarm(state, CONTENT, due)
        assert [e.kind for e in effects] == ["erase_data"]
        assert state.model_dump()["stage"] == "lapsed"
        with pytest.raises(rules.Rejection) as caught:
            rules.validate(state, request(USER, "start"), CONTENT)
        assert caught.value.kind == JourneyError.LAPSED

    def test_a_journey_opened_by_a_refused_update_ends_too_and_a_finished_introduction_never_does(self) -> None:
        opened = JourneyState(user_id=USER, opened_at=NOW)
        assert rules.next_alarm(opened, None, NOW) == NOW + timedelta(days=CONTENT.community.introduction_days)
        assert rules.lapse_due(onboarded(), CONTENT) is None

    def test_a_vip_pass_redeemed_during_the_introduction_keeps_the_journey(self) -> None:
        state = decide(JourneyState(user_id=USER), request(USER, "start")).state
        state.subscription.charges = [Charge(charge_id="pass:abc", payload="pass:abc", plan="mensual", stars=0, days=30,
                                             paid_at=NOW)]  # fmt: skip
        assert rules.lapse_due(state, CONTENT) is None


class TestContentChecks:
    def broken(self, change: dict[str, object]) -> list[str]:
        document = CONTENT.model_dump(mode="json")
        fragments = {f["id"]: f for f in document["story"]["fragments"]}
        for fragment_id, fields in change.items():
            fragments[fragment_id].update(fields)
        return content_problems(Content.model_validate(document))

    def test_the_shipped_content_has_no_problems(self) -> None:
        assert content_problems(CONTENT) == []

    def test_a_missing_target(self) -> None:
        assert any("does not exist" in p for p in self.broken({"f02": {"next": "f99"}}))

    def test_an_unreachable_fragment(self) -> None:
        problems = self.broken({"f01": {"choices": [CONTENT.story.by_id["f01"].choices[0].model_dump()]}})
        assert any("f03 can never be reached" in p for p in problems)

    def test_a_dead_end_for_free_users(self) -> None:
        only_vip = [c.model_dump() for c in CONTENT.story.by_id["f10"].choices if c.id == "c10_door"]
        problems = self.broken({"f10": {"choices": only_vip}})
        assert any("dead end for a free user" in p for p in problems)

    def test_every_dead_end_is_reported_not_only_the_first(self) -> None:
        problems = self.broken({"f08": {"next": "f15"}, "f09": {"next": "f15"}})
        stranded = [p.split()[1] for p in problems if "dead end for a free user" in p]
        assert stranded == ["f08", "f09"], "one line per stranding fragment"

    def test_an_unsatisfiable_condition(self) -> None:
        choices = [c.model_dump() for c in CONTENT.story.by_id["f13"].choices]
        choices[0]["requires"] = {"flags_all": ["never_set"]}
        assert any("c13_return can never be taken" in p for p in self.broken({"f13": {"choices": choices}}))

    def test_one_ending_is_not_enough(self) -> None:
        assert any("two distinct" in p for p in self.broken({"f14": {"ending": "amanecer"},
                                                              "f17": {"ending": "amanecer"},
                                                              "f18": {"ending": "amanecer"}}))  # fmt: skip

    def test_schema_errors_are_refused(self) -> None:
        with pytest.raises(ValueError):
            Condition(min_level=0)
        with pytest.raises(ValueError):
            self.broken({"f02": {"ending": "x"}})  # next and ending at once


class TestBadInput:
    def reject(self, state: JourneyState, req: object) -> str:
        with pytest.raises(rules.Rejection) as caught:
            decide(state, req)  # type: ignore[arg-type]
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

    def test_menu_and_story_are_ways_in_from_any_screen(self) -> None:
        state = onboarded()
        for action in ("menu", "story"):
            assert decide(state, request(USER, "button", action=action, screen=1)).state.screen_seq > state.screen_seq

    def test_onboarding_button_after_onboarding(self) -> None:
        state = onboarded()
        kind = self.reject(state, request(USER, "button", action="onboarding_next", screen=state.screen_seq))
        assert kind == JourneyError.STALE_SCREEN

    def test_menu_button_during_onboarding(self) -> None:
        state = decide(JourneyState(user_id=USER), request(USER, "start")).state
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
        state = decide(JourneyState(user_id=USER), request(USER, "start")).state
        tap = request(USER, "button", action="onboarding_next", screen=state.screen_seq)
        once = decide(state, tap)
        twice = decide(once.state, tap)
        assert twice.state == once.state
        assert twice.effects == []
        assert twice.screen == once.screen

    def test_a_redelivered_reaction_changes_nothing(self) -> None:
        reaction = request(USER, "reaction", action="-1001:5")
        once = decide(onboarded(), reaction)
        twice = decide(once.state, reaction)
        assert twice.state == once.state and twice.effects == []

    def test_the_window_of_applied_updates_is_bounded(self) -> None:
        state = onboarded()
        for _ in range(rules.RECENT_UPDATE_WINDOW + 20):
            state = decide(state, request(USER, "menu")).state
        assert len(state.recent_deliveries) == rules.RECENT_UPDATE_WINDOW

    def test_a_reused_update_id_with_other_content_is_a_new_update(self) -> None:
        state = decide(JourneyState(user_id=USER), request(USER, "start")).state
        first = request(USER, "text", text="hola", update_id=77).model_copy(update={"fingerprint": "aaaa"})
        reused = request(USER, "menu", update_id=77).model_copy(update={"fingerprint": "bbbb"})
        state = decide(state, first).state
        assert rules.is_duplicate(state, first)
        assert not rules.is_duplicate(state, reused)
        assert decide(state, reused).state.screen_seq == state.screen_seq + 1

    def test_ledger_keys_are_stable_for_the_same_cause(self) -> None:
        first = [e for e in rules.decide(*_last_step(), CONTENT).effects if isinstance(e, AwardBesitos)]
        second = [e for e in rules.decide(*_last_step(), CONTENT).effects if isinstance(e, AwardBesitos)]
        assert [e.idempotency_key for e in first] == [e.idempotency_key for e in second]
        assert [e.idempotency_key for e in first] == [f"journey-{USER}:daily:2026-11-23",
                                                       f"journey-{USER}:achievement:first_steps"]  # fmt: skip


def _last_step() -> tuple[JourneyState, JourneyRequest, datetime]:
    state = JourneyState(user_id=USER)
    state = decide(state, request(USER, "start", update_id=1)).state
    for update_id in (2, 3):
        state = decide(state, request(USER, "button", action="onboarding_next", screen=state.screen_seq,
                                      update_id=update_id)).state  # fmt: skip
    return state, request(USER, "button", action="onboarding_next", screen=state.screen_seq, update_id=4), NOW


def test_search_attributes_carry_no_personal_data() -> None:
    values = rules.search_attribute_values(onboarded())
    assert values == {"JourneyStage": "active", "BesitosLevel": 1, "BesitosBalance": WELCOME, "VipActive": False,
                      "LastSeenAt": NOW, "VipExpiresAt": None, "VipStatus": "none", "StoryFragment": None,
                      "JoinedAt": NOW}  # fmt: skip
    assert rules.memo_values(onboarded()) == {"language": "es"}, "who the user is stays out of the memo"
    assert rules.memo_values(onboarded(), profile=True) == {"username": "@ana", "first_name": "Ana", "language": "es"}
    state = play(onboarded(), "story")
    assert rules.search_attribute_values(state)["StoryFragment"] == CONTENT.story.start


def test_last_seen_is_published_to_the_minute() -> None:
    state = onboarded().model_copy(update={"last_seen": NOW + timedelta(seconds=42, microseconds=5)})
    assert rules.search_attribute_values(state)["LastSeenAt"] == NOW
