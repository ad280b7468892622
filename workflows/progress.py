"""Earning besitos and what they lead to: awards, daily visits, missions, achievements, reactions.

Everything here works on one ``Turn``: the state being changed by one request, the effects it
asks for, and what the user is told about it. Pure functions; no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from workflows.content import Content, Goal, Metric
from workflows.contracts import (
    AwardBesitos,
    Button,
    CompleteMission,
    Effect,
    JourneyState,
    Notice,
    Notify,
    Screen,
    UnlockAchievement,
    UpdateLeaderboard,
)
from workflows.days import iso_week, local_day
from workflows.economy import POINTS, level_progress, with_vip_bonus

# Missions and achievements unlock each other (an achievement's besitos may complete a mission);
# settling stops after this many rounds, far more than the content can chain.
MAX_SETTLE_ROUNDS: Final = 20


@dataclass
class Turn:
    """One request being applied: the changing state and everything it produces."""

    state: JourneyState
    content: Content
    now: datetime
    cause: str  # what makes this turn's ledger keys unique (the Telegram update)
    effects: list[Effect] = field(default_factory=list)
    besitos: int = 0
    achievements: list[str] = field(default_factory=list)
    missions: list[str] = field(default_factory=list)
    level_reached: int | None = None
    notices: list[Notice] = field(default_factory=list)
    spent: int = 0
    # Shop items earned by missions and achievements this turn, handed out by ``shop.settle``.
    gifts: list[tuple[str, str]] = field(default_factory=list)  # (item code, "mission" | "achievement")

    def summary(self) -> list[Notice]:
        """What the user is told about this turn, most exciting first."""
        language = self.state.language
        lines = [
            Notice(
                key="notice.achievement", params={"title": self.content.achievements_by_code[code].title.get(language)}
            )
            for code in self.achievements
        ]
        lines += [
            Notice(key="notice.mission", params={"title": self.content.missions_by_code[code].title.get(language)})
            for code in self.missions
        ]
        if self.level_reached is not None:
            lines.append(Notice(key="notice.level_up", params={"level": self.level_reached}))
        lines += self.notices
        if self.besitos:
            lines.append(Notice(key="notice.besitos", params={"amount": self.besitos}))
        if self.spent:
            lines.append(Notice(key="notice.spent", params={"amount": self.spent}))
        return lines


def notification(state: JourneyState, key: str, screen: Screen) -> Notify:
    """A message Diana sends on her own (not as an answer), sent once per ``key``: what caused it (``notify:<update>``,
    ``reminder:<day>``, ``vip:<event>``)."""
    return Notify(user_id=state.user_id, idempotency_key=f"journey-{state.user_id}:{key}", language=state.language,
                  screen=screen)  # fmt: skip


def award(turn: Turn, *, action: str, key: str, context: dict[str, str | int] | None = None,
          amount: int | None = None, vip_bonus: bool = True) -> int:  # fmt: skip
    """Credit the seed's points for ``action`` (VIP bonus included unless told); ``key`` names the cause, once per user.
    The week's board starts again in a new ISO week; a new level is announced in the turn's summary."""
    state = turn.state
    earned = POINTS[action] if amount is None else amount
    earned = with_vip_bonus(earned, state.vip) if vip_bonus else earned
    level_before = level_progress(state.lifetime_besitos).level
    state.besitos += earned
    state.lifetime_besitos += earned
    week = iso_week(local_day(turn.now, turn.content.calendar.timezone))
    if state.leaderboard.week != week:
        state.leaderboard.week, state.leaderboard.week_besitos = week, 0
    state.leaderboard.week_besitos += earned
    turn.effects.append(
        AwardBesitos(
            user_id=state.user_id,
            idempotency_key=f"journey-{state.user_id}:{key}",
            action=action,
            amount=earned,
            balance_after=state.besitos,
            context=context or {},
            awarded_at=turn.now,
        )
    )
    turn.besitos += earned
    level_after = level_progress(state.lifetime_besitos).level
    if level_after > level_before:
        turn.level_reached = level_after
    return earned


def spendable(state: JourneyState) -> int:
    """Besitos the user may spend now: the balance less what leading auction bids hold."""
    return state.besitos - state.wallet.reserved


def spend(turn: Turn, *, amount: int, action: str, key: str, context: dict[str, str | int] | None = None) -> None:
    """Take ``amount`` spendable besitos (checked by the caller): a negative ledger row named by ``key`` (its cause,
    once per user). The balance falls; lifetime besitos, and so the level and the boards, do not."""
    state = turn.state
    assert 0 < amount <= spendable(state), f"cannot spend {amount} of {spendable(state)} spendable besitos"
    state.besitos -= amount
    state.wallet.spent += amount
    turn.effects.append(AwardBesitos(user_id=state.user_id, idempotency_key=f"journey-{state.user_id}:{key}",
                                     action=action, amount=-amount, balance_after=state.besitos,
                                     context=context or {}, awarded_at=turn.now))  # fmt: skip
    turn.spent += amount


def give_back(turn: Turn, *, amount: int, action: str, key: str, context: dict[str, str | int] | None = None) -> None:
    """Return besitos spent (a refund): a positive ledger row that raises the balance, not lifetime besitos."""
    state = turn.state
    state.besitos += amount
    state.wallet.spent = max(0, state.wallet.spent - amount)
    turn.effects.append(AwardBesitos(user_id=state.user_id, idempotency_key=f"journey-{state.user_id}:{key}",
                                     action=action, amount=amount, balance_after=state.besitos,
                                     context=context or {}, awarded_at=turn.now))  # fmt: skip


def leaderboard_effect(turn: Turn) -> None:
    """After any award, the boards get the user's new totals."""
    if not turn.besitos:
        return
    state = turn.state
    turn.effects.append(
        UpdateLeaderboard(
            user_id=state.user_id,
            name=state.profile.first_name if state.profile else "",
            lifetime_besitos=state.lifetime_besitos,
            week=state.leaderboard.week,
            week_besitos=state.leaderboard.week_besitos,
        )
    )


def register_visit(turn: Turn) -> None:
    """The first visit of a calendar day: daily besitos, and the streak grows or starts again."""
    devotion = turn.state.devotion
    today = local_day(turn.now, turn.content.calendar.timezone)
    if devotion.last_day == today:
        return
    devotion.streak = devotion.streak + 1 if devotion.last_day == today - timedelta(days=1) else 1
    devotion.longest = max(devotion.longest, devotion.streak)
    devotion.last_day = today
    award(turn, action="daily_login", key=f"daily:{today.isoformat()}", context={"streak": devotion.streak})
    turn.notices.append(Notice(key="notice.streak", params={"days": devotion.streak}))


def open_to(state: JourneyState, content: Content) -> list[str]:
    """The fragments this user may complete: every free one, and the VIP ones while VIP."""
    return [fragment.id for fragment in content.story.fragments if state.vip or not fragment.vip]


def metric(state: JourneyState, content: Content, name: Metric) -> int:
    """Where the user stands on ``name``; the single source of every mission's and achievement's count."""
    values: dict[Metric, int] = {
        "registration": int(state.stage == "active"),
        "fragments_completed": len(state.story.completed),
        "decisions_made": state.story.decisions,
        "login_streak": state.devotion.longest,
        "reactions": state.community.reactions,
        "vip": int(state.vip),
        "achievements": len(state.achievements),
        "channels_joined": len(state.community.channels),
        "lifetime_besitos": state.lifetime_besitos,
        "level": level_progress(state.lifetime_besitos).level,
        "missions_completed": len(state.missions),
        "all_content": int(set(open_to(state, content)) <= set(state.story.completed)),
        "besitos_spent": state.wallet.spent,
        "items_bought": sum(
            1 for p in state.wallet.purchases if p.source in ("shop", "auction") and p.status != "refunded"
        ),  # fmt: skip
        "invitations": state.referral.introduced,
    }
    return values[name]


def settle(turn: Turn) -> None:
    """Complete every mission and unlock every achievement the state now meets, until nothing changes."""
    state, content = turn.state, turn.content
    for _ in range(MAX_SETTLE_ROUNDS):
        changed = False
        for mission in content.missions:
            if mission.code not in state.missions and metric(state, content, mission.metric) >= mission.target:
                state.missions = [*state.missions, mission.code]
                turn.missions.append(mission.code)
                turn.effects.append(CompleteMission(user_id=state.user_id, code=mission.code, completed_at=turn.now))
                award(
                    turn, action="mission_completed", key=f"mission:{mission.code}", context={"mission": mission.code}
                )
                if mission.reward_item is not None:
                    turn.gifts.append((mission.reward_item, "mission"))
                changed = True
        for achievement in content.achievements:
            code = achievement.code
            if code not in state.achievements and metric(state, content, achievement.metric) >= achievement.target:
                state.achievements = [*state.achievements, code]
                turn.achievements.append(code)
                turn.effects.append(UnlockAchievement(user_id=state.user_id, code=code, unlocked_at=turn.now))
                award(turn, action="achievement_unlocked", key=f"achievement:{code}", context={"achievement": code})
                if achievement.reward_item is not None:
                    turn.gifts.append((achievement.reward_item, "achievement"))
                changed = True
        if not changed:
            return


def goals_screen(state: JourneyState, content: Content, kind: str) -> Screen:
    """Misiones or Logros: each goal done, in progress (with counts) or locked."""
    goals = content.missions if kind == "missions" else content.achievements
    done = state.missions if kind == "missions" else state.achievements
    lines = [_goal_line(state, content, goal, goal.code in done) for goal in goals]
    return Screen(
        key=f"{kind}.list",
        params={"lines": "\n".join(lines), "done": sum(1 for goal in goals if goal.code in done), "total": len(goals)},
        buttons=[[Button(label="menu.back", action="menu")]],
    )


def _goal_line(state: JourneyState, content: Content, goal: Goal, done: bool) -> str:
    title = goal.title.get(state.language)
    description = goal.description.get(state.language)
    if done:
        return f"✅ {title}"
    value = min(metric(state, content, goal.metric), goal.target)
    # Locked: nothing done towards it yet, or it needs what the user does not have (VIP).
    if value == 0 or (goal.metric == "vip" and not state.vip):
        return f"🔒 {title} — {description}"
    return f"⏳ {title} — {value}/{goal.target}"


def react(turn: Turn, post: str) -> Notice:
    """A reaction to a community post: counted once per post, besitos under the daily cap."""
    community = turn.state.community
    if post in community.reacted_posts:
        return Notice(key="toast.reaction.again")
    community.reacted_posts = [*community.reacted_posts, post]
    community.reactions += 1
    today = local_day(turn.now, turn.content.calendar.timezone)
    if community.rewarded_day != today:
        community.rewarded_day, community.rewarded_today = today, 0
    if community.rewarded_today >= turn.content.community.reaction_daily_cap:
        return Notice(key="toast.reaction.capped", params={"cap": turn.content.community.reaction_daily_cap})
    community.rewarded_today += 1
    earned = award(turn, action="channel_reaction", key=f"reaction:{post}", context={"post": post})
    return Notice(key="toast.reaction.rewarded", params={"amount": earned})


def join_channel(turn: Turn, chat_id: int) -> None:
    """Joining a community channel counts once per channel, ever (leaving and rejoining earns nothing)."""
    if chat_id not in turn.state.community.channels:
        turn.state.community.channels = [*turn.state.community.channels, chat_id]
