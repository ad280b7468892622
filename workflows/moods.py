"""How Diana greets a user: one of seven moods, read from the journey's own history.

The design's "Diana Master System" without guesswork: a fixed order of plain rules over what the
journey knows (time since the last visit, the daily streak, how fast the user decides, which side
of the story they are on, VIP). The first rule that holds names the mood; the mood picks Diana's
greeting and which menu entry comes first (what she nudges the user towards).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

from workflows.contracts import JourneyState

Mood = Literal["longing", "reunion", "intense", "intimate", "guarded", "devoted", "curious"]

LONGING_AFTER: Final = timedelta(days=7)
REUNION_AFTER: Final = timedelta(days=2)
# Three decisions inside half an hour: the user is racing through the story.
INTENSE_DECISIONS: Final = 3
INTENSE_WINDOW: Final = timedelta(minutes=30)
DEVOTED_STREAK: Final = 3
INTIMATE_RELATIONSHIP: Final = 4

# The seed's menu, reordered per mood: what Diana wants the user to do next comes first.
SEED_ORDER: Final = ("story", "besitos", "shop", "missions", "achievements", "ranking", "vip", "settings")
MENU_ORDER: Final[dict[Mood, tuple[str, ...]]] = {
    "longing": SEED_ORDER,  # come back to the story where it stopped
    "reunion": SEED_ORDER,
    "intense": ("story", "achievements", "besitos", "shop", "missions", "ranking", "vip", "settings"),
    "intimate": ("story", "vip", "shop", "besitos", "missions", "achievements", "ranking", "settings"),
    "guarded": ("story", "missions", "besitos", "shop", "achievements", "ranking", "vip", "settings"),
    "devoted": ("missions", "story", "besitos", "shop", "ranking", "achievements", "vip", "settings"),
    "curious": SEED_ORDER,
}


def mood(state: JourneyState, previous_visit: datetime | None, now: datetime) -> Mood:
    """The mood for a user arriving ``now`` whose visit before this one was ``previous_visit``."""
    away = now - previous_visit if previous_visit is not None else timedelta(0)
    if away >= LONGING_AFTER:
        return "longing"
    if away >= REUNION_AFTER:
        return "reunion"
    recent = [moment for moment in state.story.recent_decisions if now - moment <= INTENSE_WINDOW]
    if len(recent) >= INTENSE_DECISIONS:
        return "intense"
    if state.vip or state.story.relationship >= INTIMATE_RELATIONSHIP:
        return "intimate"
    if state.story.relationship < 0:
        return "guarded"
    if state.devotion.streak >= DEVOTED_STREAK:
        return "devoted"
    return "curious"
