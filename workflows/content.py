"""The content Diana plays: story fragments, missions, achievements and community settings.

Content is data, not code. A content document is a versioned YAML file validated by these
pydantic models and by ``content_problems`` (the graph checks), loaded into Postgres, and
read by the journey through an activity, so a new version can be activated while journeys run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.broadcast_contracts import MAX_ALBUM, telegram_length
from workflows.contracts import MAX_CAPTION_LENGTH, Language, MediaKind

Code = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,24}$")]
# Relationship with Diana moves between these bounds; content may not ask for more.
RELATIONSHIP_BOUNDS: Final = (-10, 10)
# A level condition above this cannot be reached by a real user in reasonable time.
MAX_UNLOCK_LEVEL: Final = 30
# The graph checks explore at most this many (fragment, flags, relationship) points per exploration (VIP, free):
# about a second of work. A story with more is refused with one problem instead of being checked for ever.
MAX_STORY_POINTS: Final = 200_000

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
    "besitos_spent",  # besitos spent in total (shop, priced story, auctions won)
    "items_bought",  # shop items bought and auctions won
    "invitations",  # newcomers invited by the user who finished the introduction
]
# How often a priced fragment or choice is paid: once for good, or again on every playthrough.
PricePaid = Literal["once", "each_playthrough"]
# The most besitos one thing in the content may cost.
MAX_PRICE: Final = 1_000_000


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
    # Besitos this choice costs (shown on its button), paid once for good or on every playthrough.
    price: int | None = Field(default=None, ge=1, le=MAX_PRICE)
    paid: PricePaid = "once"


# Telegram's album (sendMediaGroup): 2 to 10 items.
ALBUM_SIZE: Final = (2, MAX_ALBUM)
# What Telegram puts together in one album: photos with videos, audio with audio, documents with documents.
ALBUM_FAMILIES: Final[dict[str, str]] = {"photo": "visual", "video": "visual", "audio": "audio",
                                         "document": "document"}  # fmt: skip
# Only these can be sent blurred (``has_spoiler``): a VIP teaser's media.
SPOILER_KINDS: Final = frozenset({"photo", "video", "animation"})
# A media file shipped with the content: a plain name under ``content/media/``, with an extension Telegram plays.
MEDIA_FILE: Final = r"^[a-z0-9_][a-z0-9_.-]{0,62}\.(jpg|jpeg|png|webp|mp4|gif|ogg|oga|mp3|m4a|pdf)$"
MEDIA_EXTENSIONS: Final[dict[str, tuple[str, ...]]] = {
    "photo": ("jpg", "jpeg", "png", "webp"),
    "video": ("mp4",),
    "animation": ("mp4", "gif"),
    "voice": ("ogg", "oga"),
    "audio": ("mp3", "m4a", "ogg"),
    "document": ("pdf", "jpg", "jpeg", "png", "mp4", "gif", "ogg", "oga", "mp3", "m4a", "webp"),
}


class Media(_Strict):
    """A photo, video, animation, voice note, audio or document the content shows, named by ``key``.

    Either shipped as ``file`` under ``content/media/`` (uploaded to Telegram once, then reused by its ``file_id``),
    or registered by an admin sending it to the bot (``/media``): then it has no file here, and Telegram keeps it."""

    key: Code
    kind: MediaKind
    file: str | None = Field(default=None, pattern=MEDIA_FILE)
    # Its own caption, where it is shown alone or in an album (a fragment's text goes under the album instead).
    caption: Localized | None = None

    @model_validator(mode="after")
    def _playable_file(self) -> Media:
        if self.file is not None and self.file.rsplit(".", 1)[-1] not in MEDIA_EXTENSIONS[self.kind]:
            raise ValueError(f"media {self.key}: a {self.kind} cannot be a .{self.file.rsplit('.', 1)[-1]} file "
                             f"(use {', '.join(MEDIA_EXTENSIONS[self.kind])})")  # fmt: skip
        return self


class Fragment(_Strict):
    """One screen of the story. It continues (``next``), branches (``choices``) or ends (``ending``)."""

    id: Code
    chapter: int = Field(ge=1)
    title: Localized
    text: Localized
    requires: Condition | None = None
    # What a user who may not enter yet reads instead (required for VIP fragments).
    teaser: Localized | None = None
    # Media shown with the fragment, by key: one item, or an album of 2 to 10.
    media: tuple[Code, ...] = ()
    # Media a user who may not enter yet sees blurred (a spoiler) with the teaser.
    teaser_media: tuple[Code, ...] = ()
    next: Code | None = None
    choices: tuple[Choice, ...] = ()
    ending: Code | None = None
    # Besitos entering this fragment costs, paid once for good or on every playthrough.
    price: int | None = Field(default=None, ge=1, le=MAX_PRICE)
    paid: PricePaid = "once"

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
    # A shop item given on completion, besides the besitos.
    reward_item: Code | None = None


class Calendar(_Strict):
    # Days (streaks, daily login, reaction caps, weekly leaderboard) follow this time zone.
    timezone: str = "America/Mexico_City"
    # Local hour of the daily reminder for users who have not visited that day.
    reminder_hour: int = Field(default=20, ge=0, le=23)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        """A zone every journey can load: an unknown one would make every journey fail once active."""
        hint = "use an IANA time zone name such as America/Mexico_City"
        if not name.strip() or name != name.strip() or name.startswith(("/", ".")) or "\\" in name or ".." in name:
            raise ValueError(f"{name!r} is not a time zone name; {hint}")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("America"), unreadable
            raise ValueError(f"the time zone {name!r} does not exist; {hint}") from None
        return name


class Link(_Strict):
    """One of Diana's social profiles, shown as a URL button (the free channel's door)."""

    label: Localized
    url: str = Field(pattern=r"^https://[^\s]+$", max_length=512)


class Community(_Strict):
    # Channel reactions that earn besitos per calendar day.
    reaction_daily_cap: int = Field(default=10, ge=0)
    # A journey still at the introduction this many days after its last visit ends (its data forgotten); a later
    # /start begins anew.
    introduction_days: int = Field(default=14, ge=1, le=365)
    # Diana's social profiles, under the message a user asking into a free channel gets (up to Telegram's sane few).
    links: tuple[Link, ...] = Field(default=(), max_length=6)


class Referrals(_Strict):
    """What an invitation earns the one who invites (content stored before referrals loads with these defaults)."""

    # When the newcomer finishes the introduction: this many besitos, at most ``daily_cap`` rewarded invitations a day.
    intro_besitos: int = Field(default=50, ge=0, le=10_000)
    daily_cap: int = Field(default=5, ge=0, le=1_000)
    # The newcomer's first Stars payment counts once it has not been refunded for this many days.
    holding_days: int = Field(default=14, ge=1, le=90)
    # What it then earns: VIP days, or besitos.
    payment_reward: Literal["vip_days", "besitos"] = "vip_days"
    payment_amount: int = Field(default=7, ge=0, le=10_000)


# A Telegram Stars subscription renews every 30 days (2592000 s, the only period Telegram allows), for at most 2500.
SUBSCRIPTION_DAYS: Final = 30
SUBSCRIPTION_MAX_STARS: Final = 2500


class Plan(_Strict):
    """A VIP plan sold for Telegram Stars."""

    code: Code
    name: Localized
    description: Localized
    days: int = Field(ge=1, le=366)
    stars: int = Field(ge=1, le=10_000)
    # Sold as a Telegram Stars subscription, charged every 30 days until canceled (Telegram allows 30 days only,
    # and at most 2500 Stars).
    renews: bool = False

    @model_validator(mode="after")
    def _renewable(self) -> Plan:
        if self.renews and (self.days != SUBSCRIPTION_DAYS or self.stars > SUBSCRIPTION_MAX_STARS):
            raise ValueError(f"a plan that renews lasts {SUBSCRIPTION_DAYS} days and costs at most "
                             f"{SUBSCRIPTION_MAX_STARS} Stars (Telegram's subscriptions)")  # fmt: skip
        return self


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


ItemKind = Literal["media", "story", "vip_days", "message", "reward"]


class Gives(_Strict):
    """What a shop item gives: a media pack, a story unlock, VIP days, a private message from Diana, or a reward the
    creator fulfils by hand (an order admins deliver or refund)."""

    kind: ItemKind
    # media: the pack (one item or an album); message: an optional voice note or picture with the words.
    media: tuple[Code, ...] = ()
    # story: fragments whose level, besitos and flag conditions no longer apply to the buyer (VIP ones stay VIP).
    fragments: tuple[Code, ...] = ()
    # vip_days: added like a payment's days (from the expiry while VIP).
    days: int | None = Field(default=None, ge=1, le=366)
    # message: Diana's words; reward: what the fan will receive, in her voice.
    text: Localized | None = None
    # message: delivered at this local hour (the next one to come) instead of at once.
    at_hour: int | None = Field(default=None, ge=0, le=23)

    @model_validator(mode="after")
    def _complete(self) -> Gives:
        needs = {"media": bool(self.media), "story": bool(self.fragments), "vip_days": self.days is not None,
                 "message": self.text is not None, "reward": self.text is not None}  # fmt: skip
        if not needs[self.kind]:
            field = {"media": "media", "story": "fragments", "vip_days": "days"}.get(self.kind, "text")
            raise ValueError(f"an item that gives {self.kind} needs {field}")
        return self


class Item(_Strict):
    """One thing in Diana's shop, bought with besitos."""

    code: Code
    name: Localized
    description: Localized
    price: int = Field(ge=1, le=MAX_PRICE)
    # A lower price for VIPs.
    vip_price: int | None = Field(default=None, ge=1, le=MAX_PRICE)
    # How many exist across all users (None: unlimited), and how many one user may buy (None: unlimited).
    stock: int | None = Field(default=None, ge=1, le=1_000_000)
    per_user: int | None = Field(default=None, ge=1, le=1_000)
    # On sale from / until (timezone-aware; either may be left open).
    available_from: datetime | None = None
    available_until: datetime | None = None
    gives: Gives

    @model_validator(mode="after")
    def _sane(self) -> Item:
        for moment in (self.available_from, self.available_until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"item {self.code}: give availability times with a time zone (e.g. +00:00)")
        if self.available_from and self.available_until and self.available_until <= self.available_from:
            raise ValueError(f"item {self.code}: available_until must come after available_from")
        if self.vip_price is not None and self.vip_price >= self.price:
            raise ValueError(f"item {self.code}: the VIP price must be lower than the price")
        return self

    def price_for(self, vip: bool) -> int:
        return self.vip_price if vip and self.vip_price is not None else self.price

    def on_sale(self, now: datetime) -> bool:
        return (self.available_from is None or self.available_from <= now) and (
            self.available_until is None or now < self.available_until
        )


class Shop(_Strict):
    items: tuple[Item, ...] = ()
    # Auctions: a bid in the last ``extend_minutes`` moves the end that far from the bid.
    extend_minutes: int = Field(default=3, ge=1, le=60)

    @cached_property
    def by_code(self) -> dict[str, Item]:
        return {item.code: item for item in self.items}


class Content(_Strict):
    version: str = Field(min_length=1, max_length=64)
    calendar: Calendar = Calendar()
    community: Community = Community()
    vip: Vip = Vip()
    media: tuple[Media, ...] = ()
    # Content stored before the shop existed has none: it still loads, sells nothing.
    shop: Shop = Shop()
    referrals: Referrals = Referrals()
    story: Story
    missions: tuple[Goal, ...]
    achievements: tuple[Goal, ...]

    @cached_property
    def media_by_key(self) -> dict[str, Media]:
        return {media.key: media for media in self.media}

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


@dataclass(frozen=True)
class _Gate:
    """A condition as the graph checks read it; level and besitos always grow, so they never block for good."""

    vip: bool = False
    min_relationship: int | None = None
    needs: int = 0  # flags_all, as bits of the tracked flags
    forbids: int = 0  # flags_none, as bits

    def holds(self, flags: int, relationship: int, vip: bool) -> bool:
        if self.vip and not vip:
            return False
        if self.min_relationship is not None and relationship < self.min_relationship:
            return False
        return flags & self.needs == self.needs and not flags & self.forbids


@dataclass(frozen=True)
class _Exit:
    """One way out of a fragment, and what taking it does to the projected state."""

    target: str
    gate: _Gate  # the choice's own condition (always open for ``next``)
    entry: _Gate  # the target fragment's condition
    choice: str | None = None
    sets: int = 0
    clears: int = 0
    relationship: int = 0


# Where a user can stand: a fragment, the tracked flags (bits) and the relationship (0 when no condition reads it).
StoryPoint = tuple[str, int, int]


class _Projection:
    """The story reduced to what its conditions read.

    Only flags some condition names (``flags_all``, ``flags_none``) are tracked, as bits, and the relationship only
    when some condition asks for a minimum (otherwise it stays 0). The flags and relationship left out cannot change
    whether any condition holds, so exploring the projection finds the same fragments, choices, endings and dead ends
    as exploring every state, in far fewer points.
    """

    def __init__(self, story: Story) -> None:
        conditions = [fragment.requires for fragment in story.fragments]
        conditions += [choice.requires for fragment in story.fragments for choice in fragment.choices]
        read = [condition for condition in conditions if condition is not None]
        self.flags = sorted({flag for condition in read for flag in (*condition.flags_all, *condition.flags_none)})
        self._bits = {flag: 1 << index for index, flag in enumerate(self.flags)}
        self.tracks_relationship = any(condition.min_relationship is not None for condition in read)
        self.exits: dict[str, list[_Exit]] = {}
        for fragment in story.fragments:
            self.exits[fragment.id] = [
                _Exit(target=target, gate=self.gate(condition), entry=self.gate(story.by_id[target].requires),
                      choice=choice.id if choice else None, sets=self.mask(choice.set_flags) if choice else 0,
                      clears=self.mask(choice.clear_flags) if choice else 0,
                      relationship=choice.relationship if choice and self.tracks_relationship else 0)
                for condition, target, choice in _exits(fragment)
            ]  # fmt: skip

    def mask(self, flags: tuple[str, ...]) -> int:
        return sum(self._bits.get(flag, 0) for flag in set(flags))

    def gate(self, condition: Condition | None) -> _Gate:
        if condition is None:
            return _Gate()
        return _Gate(vip=condition.vip, min_relationship=condition.min_relationship,
                     needs=self.mask(condition.flags_all), forbids=self.mask(condition.flags_none))  # fmt: skip

    def names(self, flags: int) -> list[str]:
        return [flag for flag in self.flags if flags & self._bits[flag]]


@dataclass
class _Explored:
    points: set[StoryPoint]
    entered: set[str]
    taken: set[str]


def _explore(projection: _Projection, start: str, *, vip: bool) -> _Explored | None:
    """Every projected point a user can be in, the fragments entered and the choices taken; None when there are more
    than ``MAX_STORY_POINTS`` points (checking them all could take hours)."""
    low, high = RELATIONSHIP_BOUNDS
    first: StoryPoint = (start, 0, 0)
    seen = {first}
    queue = deque([first])
    entered: set[str] = {start}
    taken: set[str] = set()
    while queue:
        fragment_id, flags, relationship = queue.popleft()
        for way in projection.exits[fragment_id]:
            if not way.gate.holds(flags, relationship, vip) or not way.entry.holds(flags, relationship, vip):
                continue
            if way.choice is not None:
                taken.add(way.choice)
            entered.add(way.target)
            point = (way.target, (flags | way.sets) & ~way.clears,
                     max(low, min(high, relationship + way.relationship)))  # fmt: skip
            if point not in seen:
                if len(seen) >= MAX_STORY_POINTS:
                    return None
                seen.add(point)
                queue.append(point)
    return _Explored(points=seen, entered=entered, taken=taken)


def _missing_targets(story: Story) -> list[str]:
    problems: list[str] = []
    for fragment in story.fragments:
        for _, target, choice in _exits(fragment):
            if target not in story.by_id:
                where = f"choice {choice.id}" if choice else "next"
                problems.append(f"fragment {fragment.id}: {where} leads to {target!r}, which does not exist")
    return problems


def _lookup_problems(story: Story) -> list[str]:
    """What else the rules look up that leads nowhere: a flag no choice ever sets, a VIP door with no teaser."""
    problems: list[str] = []
    set_somewhere = {flag for fragment in story.fragments for choice in fragment.choices for flag in choice.set_flags}
    for fragment in story.fragments:
        ways = [(f"fragment {fragment.id}", fragment.requires)]
        ways += [(f"fragment {fragment.id}: choice {choice.id}", choice.requires) for choice in fragment.choices]
        for where, condition in ways:
            for flag in condition.flags_all if condition is not None else ():
                if flag not in set_somewhere:
                    problems.append(f"{where} requires flag {flag!r} that no choice sets")
        for choice in fragment.choices:
            behind = story.by_id[choice.next]
            # A free user pressing it reads the teaser of the fragment behind it (``story.locked_screen``).
            if choice.requires is not None and choice.requires.vip and behind.teaser is None:
                problems.append(f"fragment {fragment.id}: choice {choice.id} asks for VIP, but {behind.id} has no "
                                "teaser to show free users instead")  # fmt: skip
    return problems


def _too_many_points(projection: _Projection) -> str:
    read = f"{len(projection.flags)} flags" + (" and the relationship" if projection.tracks_relationship else "")
    return (f"the story has more than {MAX_STORY_POINTS:,} combinations of flags and relationship to check "
            f"(its conditions read {read}); simplify the flags: have fewer flags read by conditions (flags_all, "
            "flags_none), or clear flags (clear_flags) once they no longer matter")  # fmt: skip


def _story_problems(story: Story) -> list[str]:
    """Where users can go: every fragment and choice reachable, two endings, no dead end for a free user."""
    projection = _Projection(story)
    explored = _explore(projection, story.start, vip=True)
    # A free user can go only where a VIP can (VIP only opens more), so the free exploration is no bigger.
    free = _explore(projection, story.start, vip=False) if explored is not None else None
    if explored is None or free is None:
        return [_too_many_points(projection)]
    problems: list[str] = []
    for fragment in story.fragments:
        if fragment.id not in explored.entered:
            problems.append(f"fragment {fragment.id} can never be reached from {story.start}")
        for choice in fragment.choices:
            if fragment.id in explored.entered and choice.id not in explored.taken:
                problems.append(f"fragment {fragment.id}: choice {choice.id} can never be taken (its conditions)")
    endings = {story.by_id[fragment_id].ending for fragment_id, _, _ in explored.points} - {None}
    if len(endings) < 2:
        problems.append(f"the story needs at least two distinct reachable endings (found {len(endings)})")

    # Nobody gets stuck: at every point a free user can reach, a non-ending fragment has a way on.
    free_endings = {story.by_id[fragment_id].ending for fragment_id, _, _ in free.points} - {None}
    if not free_endings:
        problems.append("a free user can never reach an ending")
    stranded: set[str] = set()
    for fragment_id, flags, relationship in sorted(free.points,
                                                   key=lambda p: (p[0], projection.names(p[1]), p[2])):  # fmt: skip
        if story.by_id[fragment_id].ending is not None or fragment_id in stranded:
            continue
        if not any(way.gate.holds(flags, relationship, False) and way.entry.holds(flags, relationship, False)
                   for way in projection.exits[fragment_id]):  # fmt: skip
            problems.append(
                f"fragment {fragment_id} is a dead end for a free user with flags {projection.names(flags)} "
                f"and relationship {relationship}: no way on and not an ending"
            )
            # One line per stranding fragment (its first such state), so the author sees them all at once.
            stranded.add(fragment_id)
    return problems


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
    problems += _missing_targets(story)
    if problems:
        return problems
    problems += _lookup_problems(story) + _story_problems(story) + media_problems(content) + shop_problems(content)

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


def _album_problems(where: str, keys: tuple[str, ...], media: dict[str, Media]) -> list[str]:
    """Telegram's rules for what one message may carry: one item, or an album it accepts."""
    if not keys:
        return []
    unknown = [key for key in keys if key not in media]
    if unknown:
        return [f"{where} names media {', '.join(map(repr, unknown))} that the content does not list under media"]
    problems = [f"{where} names media {key!r} twice" for key in sorted({k for k in keys if keys.count(k) > 1})]
    if len(keys) == 1:
        return problems
    low, high = ALBUM_SIZE
    if len(keys) > high:
        problems.append(f"{where} is an album of {len(keys)}; Telegram takes {low} to {high} items")
    kinds = [media[key].kind for key in keys]
    lone = sorted({kind for kind in kinds if kind not in ALBUM_FAMILIES})
    if lone:
        problems.append(f"{where} puts {' and '.join(lone)} in an album; Telegram sends those only one at a time")
    elif len({ALBUM_FAMILIES[kind] for kind in kinds}) > 1:
        problems.append(f"{where} mixes {', '.join(sorted(set(kinds)))} in one album; Telegram puts photos with "
                        "videos, audio only with audio and documents only with documents")  # fmt: skip
    return problems


def media_problems(content: Content) -> list[str]:
    """Media named in the story exists in the content's list, and every message it makes is one Telegram sends."""
    keys = [media.key for media in content.media]
    problems = [f"media key {k!r} is used twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
    for media in content.media:
        for language, caption in (("es", media.caption.es), ("en", media.caption.en)) if media.caption else ():
            if caption is not None and telegram_length(caption) > MAX_CAPTION_LENGTH:
                problems.append(f"media {media.key}: the {language} caption is {telegram_length(caption):,} "
                                f"characters; Telegram's limit for a caption is {MAX_CAPTION_LENGTH:,}")  # fmt: skip
    by_key = content.media_by_key
    for fragment in content.story.fragments:
        problems += _album_problems(f"fragment {fragment.id}", fragment.media, by_key)
        problems += _album_problems(f"fragment {fragment.id} (teaser)", fragment.teaser_media, by_key)
        if fragment.teaser_media and not fragment.vip:
            problems.append(f"fragment {fragment.id}: teaser media is shown only in front of a VIP fragment")
        blurred = [key for key in fragment.teaser_media if key in by_key and by_key[key].kind not in SPOILER_KINDS]
        if blurred:
            problems.append(f"fragment {fragment.id}: teaser media {', '.join(map(repr, blurred))} cannot be "
                            "blurred; Telegram blurs only photos, videos and animations")  # fmt: skip
    return problems


def shop_problems(content: Content) -> list[str]:
    """Every item gives something that exists; prices sit where the story can charge them."""
    shop, story = content.shop, content.story
    codes = [item.code for item in shop.items]
    problems = [f"shop item code {c!r} is used twice" for c in sorted({c for c in codes if codes.count(c) > 1})]
    by_key = content.media_by_key
    for item in shop.items:
        gives, where = item.gives, f"shop item {item.code}"
        if item.stock is not None and item.per_user is not None and item.per_user > item.stock:
            problems.append(f"{where}: per_user ({item.per_user}) is more than the whole stock ({item.stock})")
        if gives.kind in ("media", "message"):
            problems += _album_problems(where, gives.media, by_key)
        elif gives.media:
            problems.append(f"{where}: an item that gives {gives.kind} carries no media")
        if gives.kind == "message" and len(gives.media) > 1:
            problems.append(f"{where}: a private message carries one voice note or picture, not an album")
        if gives.at_hour is not None and gives.kind != "message":
            problems.append(f"{where}: only a private message is delivered at an hour (at_hour)")
        for fragment_id in gives.fragments:
            fragment = story.by_id.get(fragment_id)
            if fragment is None:
                problems.append(f"{where} opens fragment {fragment_id!r}, which does not exist")
            elif fragment.vip:
                problems.append(f"{where} opens fragment {fragment_id}, which is VIP: VIP chapters are sold as VIP")
            elif fragment.requires is None:
                problems.append(f"{where} opens fragment {fragment_id}, which is open to everyone already")
        for language, text in _texts(item):
            if telegram_length(text) > MAX_CAPTION_LENGTH:
                problems.append(f"{where}: the {language} text is {telegram_length(text):,} characters; keep it "
                                f"within {MAX_CAPTION_LENGTH:,}")  # fmt: skip
    for kind, goals in (("mission", content.missions), ("achievement", content.achievements)):
        problems += [f"{kind} {goal.code} rewards shop item {goal.reward_item!r}, which does not exist"
                     for goal in goals if goal.reward_item is not None and goal.reward_item not in shop.by_code]  # fmt: skip
        problems += [f"{kind} {goal.code} rewards shop item {goal.reward_item}, which is limited: its units are sold "
                     "in the shop only" for goal in goals
                     if goal.reward_item in shop.by_code and shop.by_code[goal.reward_item].stock is not None]  # fmt: skip
    start = story.by_id.get(story.start)
    if start is not None and start.price is not None:
        problems.append(f"the start fragment {start.id} cannot cost besitos (every story begins there)")
    return problems


def _texts(item: Item) -> list[tuple[str, str]]:
    localized = [item.name, item.description, *([item.gives.text] if item.gives.text else [])]
    return [(language, text) for value in localized for language, text in (("es", value.es), ("en", value.en))
            if text is not None]  # fmt: skip
