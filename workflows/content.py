"""The content Diana plays: story fragments, missions, achievements and community settings.

Content is data, not code. A content document is a versioned YAML file validated by these
pydantic models and by ``content_problems`` (the graph checks), loaded into Postgres, and
read by the journey through an activity, so a new version can be activated while journeys run.
"""

from __future__ import annotations

from collections import deque
from functools import cached_property
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.contracts import Language

Code = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,24}$")]
# Relationship with Diana moves between these bounds; content may not ask for more.
RELATIONSHIP_BOUNDS: Final = (-10, 10)
# A level condition above this cannot be reached by a real user in reasonable time.
MAX_UNLOCK_LEVEL: Final = 30

Metric = Literal[
    "registration",  # onboarding finished (1)
    "fragments_completed",  # distinct story fragments completed
    "decisions_made",  # story decisions made, replays included
    "login_streak",  # consecutive calendar days visited (longest streak counts)
    "reactions",  # channel posts reacted to
    "vip",  # VIP active (1)
    "achievements",  # achievements unlocked
    "channels_joined",  # configured community channels joined
    "lifetime_besitos",  # besitos earned in total
    "level",  # level reached
    "missions_completed",  # missions completed
    "all_content",  # every fragment open to the user completed (1)
]


class ContentNotReadable(Exception):
    """The worker cannot read a content version *now* (Postgres slow or away): the workflow task that asked fails,
    and Temporal retries it. A version it can never read is an ``ApplicationError`` (``ContentUnavailable``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(_Strict):
    """A text in Spanish (always) and English (optional: Spanish is shown instead)."""

    es: str = Field(min_length=1)
    en: str | None = Field(default=None, min_length=1)

    def get(self, language: Language) -> str:
        return (self.en or self.es) if language == "en" else self.es


class Condition(_Strict):
    """What a user needs to enter a fragment or take a choice. Every field must hold."""

    min_level: int | None = Field(default=None, ge=1, le=MAX_UNLOCK_LEVEL)
    min_besitos: int | None = Field(default=None, ge=0)
    min_relationship: int | None = Field(default=None, ge=RELATIONSHIP_BOUNDS[0], le=RELATIONSHIP_BOUNDS[1])
    flags_all: tuple[Code, ...] = ()
    flags_none: tuple[Code, ...] = ()
    vip: bool = False


class Choice(_Strict):
    id: Code
    label: Localized
    next: Code
    requires: Condition | None = None
    relationship: int = Field(default=0, ge=-3, le=3)
    set_flags: tuple[Code, ...] = ()
    clear_flags: tuple[Code, ...] = ()


class Fragment(_Strict):
    """One screen of the story. It continues (``next``), branches (``choices``) or ends (``ending``)."""

    id: Code
    chapter: int = Field(ge=1)
    title: Localized
    text: Localized
    requires: Condition | None = None
    # What a user who may not enter yet reads instead (required for VIP fragments).
    teaser: Localized | None = None
    next: Code | None = None
    choices: tuple[Choice, ...] = ()
    ending: Code | None = None

    @model_validator(mode="after")
    def _one_way_out(self) -> Fragment:
        ways = sum((self.next is not None, bool(self.choices), self.ending is not None))
        if ways != 1:
            raise ValueError(f"fragment {self.id}: exactly one of next, choices or ending (found {ways})")
        if self.requires is not None and self.requires.vip and self.teaser is None:
            raise ValueError(f"fragment {self.id}: a VIP fragment needs a teaser for free users")
        return self

    @property
    def vip(self) -> bool:
        return self.requires is not None and self.requires.vip


class Story(_Strict):
    start: Code
    fragments: tuple[Fragment, ...] = Field(min_length=1)

    @cached_property
    def by_id(self) -> dict[str, Fragment]:
        return {fragment.id: fragment for fragment in self.fragments}


class Goal(_Strict):
    """A mission or an achievement: done when ``metric`` reaches ``target``."""

    code: Code
    title: Localized
    description: Localized
    metric: Metric
    target: int = Field(ge=1)


class Calendar(_Strict):
    # Days (streaks, daily login, reaction caps, weekly leaderboard) follow this time zone.
    timezone: str = "America/Mexico_City"
    # Local hour of the daily reminder for users who have not visited that day.
    reminder_hour: int = Field(default=20, ge=0, le=23)


class Community(_Strict):
    # Channel reactions that earn besitos per calendar day.
    reaction_daily_cap: int = Field(default=10, ge=0)


class Plan(_Strict):
    """A VIP plan sold for Telegram Stars."""

    code: Code
    name: Localized
    description: Localized
    days: int = Field(ge=1, le=366)
    stars: int = Field(ge=1, le=10_000)


class Vip(_Strict):
    # Content stored before VIP existed has none: it still loads (live journeys may play it), sells nothing.
    plans: tuple[Plan, ...] = ()
    # Days before expiry on which the user is reminded to renew.
    reminder_days_before: tuple[int, ...] = (3, 1)
    # Days after expiry during which the perks continue and a renewal still extends the old expiry.
    grace_days: int = Field(default=3, ge=0, le=30)
    # An admin's VIP pass can be redeemed for this many days after it is made.
    pass_valid_days: int = Field(default=7, ge=1, le=90)
    # Where a user standing in a VIP fragment goes back to when VIP ends.
    story_return: Code | None = None

    @cached_property
    def plans_by_code(self) -> dict[str, Plan]:
        return {plan.code: plan for plan in self.plans}


class Content(_Strict):
    version: str = Field(min_length=1, max_length=64)
    calendar: Calendar = Calendar()
    community: Community = Community()
    vip: Vip = Vip()
    story: Story
    missions: tuple[Goal, ...]
    achievements: tuple[Goal, ...]

    @cached_property
    def missions_by_code(self) -> dict[str, Goal]:
        return {goal.code: goal for goal in self.missions}

    @cached_property
    def achievements_by_code(self) -> dict[str, Goal]:
        return {goal.code: goal for goal in self.achievements}


# Graph checks: the story a user can actually live, not only its schema.


def _exits(fragment: Fragment) -> list[tuple[Condition | None, str, Choice | None]]:
    if fragment.next is not None:
        return [(None, fragment.next, None)]
    return [(choice.requires, choice.next, choice) for choice in fragment.choices]


def _holds_ignoring_growth(condition: Condition | None, flags: frozenset[str], relationship: int, vip: bool) -> bool:
    """Whether ``condition`` holds in a story state; level and besitos always grow, so they are not blockers."""
    if condition is None:
        return True
    if condition.vip and not vip:
        return False
    if condition.min_relationship is not None and relationship < condition.min_relationship:
        return False
    return set(condition.flags_all) <= flags and not (set(condition.flags_none) & flags)


StoryPoint = tuple[str, frozenset[str], int]


def _explore(story: Story, *, vip: bool) -> tuple[set[StoryPoint], set[str], set[str]]:
    """Every (fragment, flags, relationship) a user can be in, the fragments entered and choices taken."""
    low, high = RELATIONSHIP_BOUNDS
    start: StoryPoint = (story.start, frozenset(), 0)
    seen = {start}
    queue = deque([start])
    entered: set[str] = {story.start}
    taken: set[str] = set()
    while queue:
        fragment_id, flags, relationship = queue.popleft()
        for condition, target, choice in _exits(story.by_id[fragment_id]):
            if target not in story.by_id or not _holds_ignoring_growth(condition, flags, relationship, vip):
                continue
            if not _holds_ignoring_growth(story.by_id[target].requires, flags, relationship, vip):
                continue
            next_flags, next_relationship = flags, relationship
            if choice is not None:
                taken.add(choice.id)
                next_flags = (flags | set(choice.set_flags)) - set(choice.clear_flags)
                next_relationship = max(low, min(high, relationship + choice.relationship))
            entered.add(target)
            point = (target, frozenset(next_flags), next_relationship)
            if point not in seen:
                seen.add(point)
                queue.append(point)
    return seen, entered, taken


def content_problems(content: Content) -> list[str]:
    """Everything that would strand or confuse a user; an empty list means the content may load."""
    problems: list[str] = []
    story = content.story
    ids = [fragment.id for fragment in story.fragments]
    problems += [f"fragment id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    choice_ids = [choice.id for fragment in story.fragments for choice in fragment.choices]
    problems += [f"choice id {i!r} is used twice" for i in sorted({i for i in choice_ids if choice_ids.count(i) > 1})]
    if story.start not in story.by_id:
        return [*problems, f"the start fragment {story.start!r} does not exist"]
    for fragment in story.fragments:
        for _, target, choice in _exits(fragment):
            if target not in story.by_id:
                where = f"choice {choice.id}" if choice else "next"
                problems.append(f"fragment {fragment.id}: {where} leads to {target!r}, which does not exist")
    if problems:
        return problems

    points, entered_as_vip, taken_as_vip = _explore(story, vip=True)
    for fragment in story.fragments:
        if fragment.id not in entered_as_vip:
            problems.append(f"fragment {fragment.id} can never be reached from {story.start}")
        for choice in fragment.choices:
            if fragment.id in entered_as_vip and choice.id not in taken_as_vip:
                problems.append(f"fragment {fragment.id}: choice {choice.id} can never be taken (its conditions)")
    endings = {story.by_id[fragment_id].ending for fragment_id, _, _ in points} - {None}
    if len(endings) < 2:
        problems.append(f"the story needs at least two distinct reachable endings (found {len(endings)})")

    # Nobody gets stuck: at every point a free user can reach, a non-ending fragment has a way on.
    free_points, _, _ = _explore(story, vip=False)
    free_endings = {story.by_id[fragment_id].ending for fragment_id, _, _ in free_points} - {None}
    if not free_endings:
        problems.append("a free user can never reach an ending")
    stranded: set[str] = set()
    for fragment_id, flags, relationship in sorted(free_points, key=lambda p: (p[0], sorted(p[1]), p[2])):
        fragment = story.by_id[fragment_id]
        if fragment.ending is not None or fragment_id in stranded:
            continue
        open_exits = [
            target
            for condition, target, _ in _exits(fragment)
            if _holds_ignoring_growth(condition, flags, relationship, False)
            and _holds_ignoring_growth(story.by_id[target].requires, flags, relationship, False)
        ]
        if not open_exits:
            problems.append(
                f"fragment {fragment_id} is a dead end for a free user with flags {sorted(flags)} "
                f"and relationship {relationship}: no way on and not an ending"
            )
            # One line per stranding fragment (its first such state), so the author sees them all at once.
            stranded.add(fragment_id)

    if not content.vip.plans:
        problems.append("the content must sell at least one VIP plan (vip.plans)")
    plan_codes = [plan.code for plan in content.vip.plans]
    problems += [f"plan code {c!r} is used twice" for c in sorted({c for c in plan_codes if plan_codes.count(c) > 1})]
    problems += [f"VIP reminder {d} days before expiry is longer than the shortest plan"
                 for d in content.vip.reminder_days_before
                 if d >= min((plan.days for plan in content.vip.plans), default=d + 1)]  # fmt: skip
    back = story.by_id.get(content.vip.story_return or "")
    if back is None or back.vip:
        problems.append(f"vip.story_return {content.vip.story_return!r} must be a fragment open to free users")
    for kind, goals in (("mission", content.missions), ("achievement", content.achievements)):
        codes = [goal.code for goal in goals]
        problems += [f"{kind} code {c!r} is used twice" for c in sorted({c for c in codes if codes.count(c) > 1})]
        for goal in goals:
            if goal.metric in ("registration", "vip", "all_content") and goal.target != 1:
                problems.append(f"{kind} {goal.code}: metric {goal.metric} is yes/no, its target must be 1")
    if sum(1 for goal in content.achievements if goal.metric == "achievements") and len(content.achievements) < max(
        (goal.target for goal in content.achievements if goal.metric == "achievements"), default=0
    ):
        problems.append("an achievement asks for more achievements than exist")
    return problems
