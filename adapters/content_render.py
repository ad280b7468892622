"""Every screen a content document lets a user reach fits in one Telegram message, in both languages.

The rules build the screens (``workflows.story``, ``workflows.progress``, ``workflows.subscription``) and
``adapters.texts.render`` formats them with the locale templates; here each screen that shows content text is built
for a worst-case journey state (the longest numbers, nothing done yet so every goal shows its description), rendered
for real (``render_text``: the text ``render`` sends), and measured as Telegram measures it: once formatted (tags gone, entities as one character), in UTF-16 code
units, against ``MAX_TEXT_LENGTH``. Notices above a screen are not measured: ``render`` leaves out the ones that do
not fit, never the screen itself.

A screen with media sends its text as the media's caption when it fits Telegram's ``MAX_CAPTION_LENGTH`` and as a
message after the media otherwise (``adapters.screens``), so it is measured against the message limit as well; media
captions of their own are checked with the rest of the media (``workflows.content.media_problems``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from adapters.texts import render_text, visible_length
from workflows.content import RELATIONSHIP_BOUNDS, Condition, Content, Fragment
from workflows.contracts import (
    MAX_TEXT_LENGTH,
    JourneyState,
    Language,
    PassRedemption,
    Screen,
    StoryProgress,
    Subscription,
    SubscriptionStatus,
)
from workflows.progress import Turn, goals_screen
from workflows.story import fragment_screen, locked_screen
from workflows.subscription import issue_invoice, redeem, vip_screen

LANGUAGES: Final[tuple[Language, ...]] = ("es", "en")
# Dates on the VIP screens are written "31/12/2026 23:59": every moment is as long as this one.
_MOMENT: Final = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
_STATUSES: Final[tuple[SubscriptionStatus, ...]] = ("none", "active", "grace", "expired", "refunded")


def render_problems(content: Content) -> list[str]:
    """One problem per screen longer than Telegram's limit once formatted, saying where and by how much."""
    longest: dict[tuple[str, Language], int] = {}
    for language in LANGUAGES:
        for where, screen in _screens(content, language):
            text = render_text(screen, language)
            key = (where, language)
            longest[key] = max(longest.get(key, 0), visible_length(text))
    order = {where: index for index, (where, _) in enumerate(longest)}
    return [
        f"{where} ({language}): the screen is {length:,} characters once formatted; "
        f"Telegram's limit is {MAX_TEXT_LENGTH:,} ({length - MAX_TEXT_LENGTH:,} too many)"
        for (where, language), length in sorted(longest.items(), key=lambda item: order[item[0][0]])
        if length > MAX_TEXT_LENGTH
    ]


def _reader(language: Language) -> JourneyState:
    """A user whose numbers are the longest the screens show (trust at its lowest: "-10") and who has done nothing:
    no besitos, no missions, no achievements, so every goal shows its description."""
    return JourneyState(user_id=0, language=language, story=StoryProgress(relationship=RELATIONSHIP_BOUNDS[0]))


def _screens(content: Content, language: Language) -> Iterator[tuple[str, Screen]]:
    yield from _story_screens(content, language)
    for kind in ("missions", "achievements"):
        yield f"the {kind} list", goals_screen(_reader(language), content, kind)
    yield from _vip_screens(content, language)


def _story_screens(content: Content, language: Language) -> Iterator[tuple[str, Screen]]:
    """Each fragment, and each locked screen a way into it can show (one per reason its conditions can give)."""
    by_id = content.story.by_id
    for fragment in content.story.fragments:
        ways = [fragment.next] if fragment.next is not None else [choice.next for choice in fragment.choices]
        if any(target not in by_id for target in ways):
            continue  # a way to nowhere: content_problems reports it, and the screen cannot be built
        yield f"fragment {fragment.id}", fragment_screen(_reader(language), content, fragment)
        gates: list[tuple[Fragment, Condition | None]] = []
        if fragment.next is not None:
            gates.append((by_id[fragment.next], by_id[fragment.next].requires))
        for choice in fragment.choices:
            gates += [(by_id[choice.next], choice.requires), (by_id[choice.next], by_id[choice.next].requires)]
        for target, condition in gates:
            for reason in _reasons(condition):
                screen = locked_screen(_reader(language), target, [reason], condition, content)
                yield f"the locked screen of fragment {target.id} ({reason})", screen


def _reasons(condition: Condition | None) -> list[str]:
    """Every reason ``story.unmet`` can give for ``condition``."""
    if condition is None:
        return []
    found = [("vip", condition.vip), ("level", condition.min_level is not None),
             ("besitos", condition.min_besitos is not None), ("relationship", condition.min_relationship is not None),
             ("flags", bool(condition.flags_all or condition.flags_none))]  # fmt: skip
    return [reason for reason, applies in found if applies]


def _vip_screens(content: Content, language: Language) -> Iterator[tuple[str, Screen]]:
    """The VIP menu in every status, the invoice sent and the welcome and renewal screens, for each plan."""
    for plan in content.vip.plans:
        for status in _STATUSES:
            state = _reader(language)
            state.subscription = Subscription(status=status, plan=plan.code, expires_at=_MOMENT)
            yield f"the VIP menu ({status}) with plan {plan.code}", vip_screen(state, content)
        yield f"the invoice screen of plan {plan.code}", issue_invoice(_turn(_reader(language), content), plan)
        for renewal in (False, True):
            state = _reader(language)
            if renewal:
                state.vip = True
                state.subscription = Subscription(status="active", plan=plan.code, expires_at=_MOMENT)
            redemption = PassRedemption(token="check", plan=plan.code)
            screen = redeem(_turn(state, content), redemption)
            yield f"the VIP {'renewal' if renewal else 'welcome'} screen of plan {plan.code}", screen


def _turn(state: JourneyState, content: Content) -> Turn:
    return Turn(state=state, content=content, now=_MOMENT, cause="content-check")
