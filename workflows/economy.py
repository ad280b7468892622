"""The besitos economy: points per action and levels. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The seed's POINTS_CONFIG, exactly.
POINTS: Final[dict[str, int]] = {
    "story_fragment_completion": 10,
    "decision_made": 5,
    "daily_login": 15,
    "mission_completed": 25,
    "achievement_unlocked": 50,
    "channel_reaction": 2,
}
VIP_MULTIPLIER_NUMERATOR: Final = 3
VIP_MULTIPLIER_DENOMINATOR: Final = 2  # 1.5 as an exact fraction


def with_vip_bonus(amount: int, vip: bool) -> int:
    """Besitos are whole: VIP earns 1.5× rounded down (5 → 7, 25 → 37, 2 → 3, 15 → 22, 50 → 75)."""
    if not vip:
        return amount
    return amount * VIP_MULTIPLIER_NUMERATOR // VIP_MULTIPLIER_DENOMINATOR


def level_cost(level: int) -> int:
    """Besitos needed to go from ``level`` to the next one (seed: 1–5: 100, 6–10: 200, 11+: 500)."""
    if level < 1:
        raise ValueError(f"levels start at 1, got {level}")
    if level <= 5:
        return 100
    if level <= 10:
        return 200
    return 500


@dataclass(frozen=True, slots=True)
class LevelProgress:
    level: int
    into_level: int
    cost: int

    @property
    def remaining(self) -> int:
        return self.cost - self.into_level

    @property
    def percent(self) -> int:
        return self.into_level * 100 // self.cost


def level_progress(lifetime_besitos: int) -> LevelProgress:
    """The level reached with ``lifetime_besitos`` earned in total, and how far into the next one.

    Levels follow lifetime earnings, so spending besitos never lowers a level.
    """
    if lifetime_besitos < 0:
        raise ValueError("lifetime besitos cannot be negative")
    level, left = 1, lifetime_besitos
    while left >= level_cost(level):
        left -= level_cost(level)
        level += 1
    return LevelProgress(level=level, into_level=left, cost=level_cost(level))


def progress_bar(progress: LevelProgress, width: int = 10) -> str:
    filled = progress.into_level * width // progress.cost
    return "▰" * filled + "▱" * (width - filled)
