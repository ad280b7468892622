"""The journey's rules: pure functions from (state, request, now) to (state, effects, screen).

They never read the clock, randomness or I/O; the workflow passes ``now`` in and carries
out the returned effects as activities. Every screen the user sees is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from workflows.contracts import (
    MAX_TEXT_LENGTH,
    AwardBesitos,
    Button,
    Effect,
    JourneyError,
    JourneyRequest,
    JourneyState,
    Language,
    Notice,
    SaveProfile,
    Screen,
    UnlockAchievement,
)
from workflows.economy import POINTS, level_progress, progress_bar

ONBOARDING_SCREENS: Final = 3
RECENT_UPDATE_WINDOW: Final = 256
FIRST_STEPS: Final = "first_steps"

# The /diana menu, in the seed's order: (action, label key).
MENU_ENTRIES: Final[tuple[tuple[str, str], ...]] = (
    ("story", "menu.story"),
    ("besitos", "menu.besitos"),
    ("missions", "menu.missions"),
    ("achievements", "menu.achievements"),
    ("vip", "menu.vip"),
    ("settings", "menu.settings"),
)
# Menu entries whose capability has not shipped yet: they say so honestly.
COMING_SOON: Final = frozenset({"story", "missions", "achievements", "vip", "settings"})
ACTIONS: Final = frozenset({"onboarding_next", "menu"} | {action for action, _ in MENU_ENTRIES})


class Rejection(Exception):
    """The request must not enter the journey; ``kind`` is one of ``JourneyError``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Decision:
    state: JourneyState
    screen: Screen
    effects: list[Effect] = field(default_factory=list)


def language_for(language_code: str | None) -> Language:
    """Spanish first: English only for users whose Telegram speaks English."""
    return "en" if (language_code or "").lower().startswith("en") else "es"


def is_duplicate(state: JourneyState, request: JourneyRequest) -> bool:
    return request.delivery in state.recent_deliveries


def validate(state: JourneyState, request: JourneyRequest) -> None:
    """Raise ``Rejection`` for a request that must change nothing."""
    if is_duplicate(state, request):
        return  # answered with the current screen, applied once
    if request.user_id != state.user_id or request.profile.user_id != state.user_id:
        raise Rejection(JourneyError.FOREIGN_USER, "this journey belongs to another user")
    if request.update_id <= 0:
        raise Rejection(JourneyError.INVALID_INPUT, "update ids are positive")
    if len(request.text) > MAX_TEXT_LENGTH:
        raise Rejection(JourneyError.INVALID_INPUT, f"text longer than {MAX_TEXT_LENGTH} characters")
    if request.kind != "button":
        return
    if request.action not in ACTIONS:
        raise Rejection(JourneyError.UNKNOWN_ACTION, f"unknown action {request.action!r}")
    if state.stage == "new":
        raise Rejection(JourneyError.NOT_STARTED, "the journey has not started yet")
    if request.screen != state.screen_seq:
        raise Rejection(JourneyError.STALE_SCREEN, "the button belongs to an older screen")
    if request.action == "onboarding_next" and state.stage != "onboarding":
        raise Rejection(JourneyError.STALE_SCREEN, "onboarding is already over")
    if request.action != "onboarding_next" and state.stage != "active":
        raise Rejection(JourneyError.STALE_SCREEN, "the menu opens after the introduction")


def decide(state: JourneyState, request: JourneyRequest, now: datetime) -> Decision:
    """Apply one validated request. A duplicate returns the current screen and changes nothing."""
    if is_duplicate(state, request) and state.screen is not None:
        return Decision(state=state, screen=state.screen)
    validate(state, request)
    state = state.model_copy(deep=True)
    state.recent_deliveries = [*state.recent_deliveries, request.delivery][-RECENT_UPDATE_WINDOW:]
    state.last_seen = now
    effects: list[Effect] = []
    first_contact = state.profile is None
    if state.profile != request.profile:
        state.profile = request.profile
        if first_contact:
            state.language = language_for(request.profile.language_code)
            state.joined_at = now
    if state.stage == "new":
        state.stage = "onboarding"
        state.onboarding_step = 1
        screen = _onboarding_screen(state)
    elif state.stage == "onboarding":
        screen = _onboarding(state, request, now, effects)
    else:
        screen = _active(state, request)
    if first_contact or effects or request.kind == "start":
        # The projection's profile row follows every stage change and /start.
        effects.insert(0, _save_profile(state, now))
    state.screen_seq += 1
    screen = screen.model_copy(update={"seq": state.screen_seq})
    state.screen = screen
    return Decision(state=state, screen=screen, effects=effects)


def _save_profile(state: JourneyState, now: datetime) -> SaveProfile:
    assert state.profile is not None
    return SaveProfile(profile=state.profile, stage=state.stage, language=state.language, seen_at=now)


def _onboarding(state: JourneyState, request: JourneyRequest, now: datetime, effects: list[Effect]) -> Screen:
    if request.kind != "button":
        # /start, /diana or text during the introduction: resume it where it was.
        return _onboarding_screen(state)
    if state.onboarding_step < ONBOARDING_SCREENS:
        state.onboarding_step += 1
        return _onboarding_screen(state)
    state.stage = "active"
    notices = unlock_achievement(state, FIRST_STEPS, request.update_id, now, effects)
    return main_menu(state, greeting="menu.greeting.welcome", notices=notices)


def _onboarding_screen(state: JourneyState) -> Screen:
    step = state.onboarding_step
    name = state.profile.first_name if state.profile else ""
    label = "onboarding.next" if step < ONBOARDING_SCREENS else "onboarding.finish"
    return Screen(
        key=f"onboarding.{step}",
        params={"name": name, "step": step, "steps": ONBOARDING_SCREENS},
        buttons=[[Button(label=label, action="onboarding_next")]],
    )


def _active(state: JourneyState, request: JourneyRequest) -> Screen:
    if request.kind == "start":
        return main_menu(state, greeting="menu.greeting.again")
    if request.kind == "menu":
        return main_menu(state, greeting="menu.greeting")
    if request.kind == "text":
        return Screen(key="conversation.free_text", buttons=[_back_row()])
    if request.action == "menu":
        return main_menu(state, greeting="menu.greeting")
    if request.action == "besitos":
        return besitos_screen(state)
    assert request.action in COMING_SOON
    return Screen(key=f"coming_soon.{request.action}", buttons=[_back_row()])


def main_menu(state: JourneyState, *, greeting: str, notices: list[Notice] | None = None) -> Screen:
    name = state.profile.first_name if state.profile else ""
    rows = [
        [Button(label=label, action=action) for action, label in MENU_ENTRIES[i : i + 2]]
        for i in range(0, len(MENU_ENTRIES), 2)
    ]
    return Screen(key=greeting, params={"name": name}, notices=notices or [], buttons=rows)


def besitos_screen(state: JourneyState) -> Screen:
    progress = level_progress(state.lifetime_besitos)
    return Screen(
        key="besitos.summary",
        params={
            "balance": state.besitos,
            "level": progress.level,
            "next_level": progress.level + 1,
            "into_level": progress.into_level,
            "level_cost": progress.cost,
            "remaining": progress.remaining,
            "percent": progress.percent,
            "bar": progress_bar(progress),
        },
        buttons=[_back_row()],
    )


def _back_row() -> list[Button]:
    return [Button(label="menu.back", action="menu")]


def award_besitos(
    state: JourneyState,
    *,
    action: str,
    amount: int,
    cause: str,
    now: datetime,
    effects: list[Effect],
    context: dict[str, str | int] | None = None,
) -> Notice:
    """Credit ``amount`` besitos; ``cause`` makes the ledger row's idempotency key unique and stable."""
    level_before = level_progress(state.lifetime_besitos).level
    state.besitos += amount
    state.lifetime_besitos += amount
    effects.append(
        AwardBesitos(
            user_id=state.user_id,
            idempotency_key=f"journey-{state.user_id}:{cause}:{action}",
            action=action,
            amount=amount,
            balance_after=state.besitos,
            context=context or {},
            awarded_at=now,
        )
    )
    level_after = level_progress(state.lifetime_besitos).level
    if level_after > level_before:
        return Notice(key="notice.level_up", params={"amount": amount, "level": level_after})
    return Notice(key="notice.besitos", params={"amount": amount})


def unlock_achievement(
    state: JourneyState, code: str, update_id: int, now: datetime, effects: list[Effect]
) -> list[Notice]:
    if code in state.achievements:
        return []
    state.achievements = [*state.achievements, code]
    effects.append(UnlockAchievement(user_id=state.user_id, code=code, unlocked_at=now))
    award = award_besitos(
        state,
        action="achievement_unlocked",
        amount=POINTS["achievement_unlocked"],
        cause=f"achievement:{code}",
        now=now,
        effects=effects,
        context={"achievement": code, "update_id": update_id},
    )
    return [Notice(key="notice.achievement", params={"achievement_key": f"achievement.{code}"}), award]


def search_attribute_values(state: JourneyState) -> dict[str, str | int | bool | datetime | None]:
    """What the Temporal UI filters on, derived from the state (no personal data).

    Last seen is kept to the minute: operators ask "idle for days", and a finer value would add
    a history event to every single update.
    """
    last_seen = state.last_seen.replace(second=0, microsecond=0) if state.last_seen else None
    return {
        "JourneyStage": state.stage,
        "BesitosLevel": level_progress(state.lifetime_besitos).level,
        "BesitosBalance": state.besitos,
        "VipActive": False,
        "LastSeenAt": last_seen,
    }
