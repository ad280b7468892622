"""Diana's story, played from content: fragments, choices, unlock conditions and endings.

A fragment is completed when the user moves on from it (or, for an ending, on arrival): the
first completion of each fragment and the first time each choice is made earn besitos; repeats
on a later playthrough count for missions but earn nothing, so replaying is not farming.
"""

from __future__ import annotations

from typing import Final

from workflows.content import RELATIONSHIP_BOUNDS, Choice, Condition, Content, Fragment
from workflows.contracts import (
    Button,
    JourneyError,
    JourneyState,
    Language,
    Notice,
    RecordDecision,
    SaveStoryProgress,
    Screen,
    ScreenMedia,
)
from workflows.economy import level_progress
from workflows.progress import Turn, award, spend, spendable

PICK: Final = "pick."  # a choice button's action: "pick.<choice id>"
NEXT: Final = "story_next"
RESTART: Final = "story_restart"
OPEN: Final = "story"
# Taking a priced way, its price confirmed: "story_pay" (continue) or "story_pay.<choice id>".
PAY: Final = "story_pay"
RECENT_DECISIONS: Final = 10


class StoryRejection(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def unmet(condition: Condition | None, state: JourneyState) -> list[str]:
    """What stops ``state`` from meeting ``condition``, as reasons; empty when it holds."""
    if condition is None:
        return []
    reasons = []
    if condition.vip and not state.vip:
        reasons.append("vip")
    if condition.min_level is not None and level_progress(state.lifetime_besitos).level < condition.min_level:
        reasons.append("level")
    if condition.min_besitos is not None and state.besitos < condition.min_besitos:
        reasons.append("besitos")
    if condition.min_relationship is not None and state.story.relationship < condition.min_relationship:
        reasons.append("relationship")
    flags = set(state.story.flags)
    if not set(condition.flags_all) <= flags or set(condition.flags_none) & flags:
        reasons.append("flags")
    return reasons


def is_story_action(action: str) -> bool:
    return action in (OPEN, NEXT, RESTART, PAY) or action.startswith((PICK, f"{PAY}."))


def _way(action: str) -> tuple[str, bool]:
    """The way a button takes (``NEXT`` or ``pick.<id>``) and whether it confirms paying for it."""
    if action == PAY:
        return NEXT, True
    if action.startswith(f"{PAY}."):
        return PICK + action.removeprefix(f"{PAY}."), True
    return action, False


def entry_unmet(fragment: Fragment, state: JourneyState) -> list[str]:
    """What stops ``state`` from entering ``fragment``; a fragment the shop opened to the user asks only for VIP."""
    reasons = unmet(fragment.requires, state)
    return [r for r in reasons if r == "vip"] if fragment.id in state.wallet.unlocked else reasons


def _paid_key(kind: str, code: str, paid: str, playthrough: int) -> str:
    return f"{kind}:{code}:{playthrough}" if paid == "each_playthrough" else f"{kind}:{code}"


def price_of(state: JourneyState, choice: Choice | None, target: Fragment) -> list[tuple[str, int]]:
    """What taking a way still costs this user: (what is paid, besitos) for the choice and the fragment it enters."""
    playthrough, paid = state.story.playthrough, set(state.wallet.paid_story)
    owed = []
    if choice is not None and choice.price is not None:
        owed.append((_paid_key("choice", choice.id, choice.paid, playthrough), choice.price))
    if target.price is not None:
        owed.append((_paid_key("fragment", target.id, target.paid, playthrough), target.price))
    return [(key, price) for key, price in owed if key not in paid]


def check(state: JourneyState, content: Content, action: str) -> None:
    """Refuse a story button that does not belong to where the user stands."""
    if action == OPEN:
        return
    action, _ = _way(action)
    fragment = current(state, content)
    if fragment is None:
        raise StoryRejection(JourneyError.STALE_SCREEN, "the story has not begun")
    if action == NEXT and fragment.next is None:
        raise StoryRejection(JourneyError.STALE_SCREEN, f"fragment {fragment.id} does not continue")
    if action == RESTART and fragment.ending is None:
        raise StoryRejection(JourneyError.STALE_SCREEN, "the story starts again only from an ending")
    if action.startswith(PICK) and _visible_choice(fragment, state, action.removeprefix(PICK)) is None:
        raise StoryRejection(JourneyError.UNKNOWN_ACTION, f"no such choice in fragment {fragment.id}")


def current(state: JourneyState, content: Content) -> Fragment | None:
    if state.story.fragment_id is None:
        return None
    # A newer content version keeps every fragment id (activation refuses removals).
    return content.story.by_id.get(state.story.fragment_id)


def play(turn: Turn, action: str) -> Screen:
    """Apply a story button (already checked) and return the screen to show."""
    state, content = turn.state, turn.content
    fragment = current(state, content)
    if action == OPEN:
        if fragment is None:
            return _enter(turn, content.story.by_id[content.story.start])
        return fragment_screen(state, content, fragment)
    assert fragment is not None
    if action == RESTART:
        state.story.playthrough += 1
        state.story.flags, state.story.relationship = [], 0
        return _enter(turn, content.story.by_id[content.story.start])
    action, paying = _way(action)
    if action == NEXT:
        assert fragment.next is not None
        target = content.story.by_id[fragment.next]
        if blocked := entry_unmet(target, state):
            return locked_screen(state, target, blocked, target.requires, content)
        if (screen := _charge(turn, None, target, paying)) is not None:
            return screen
        _complete(turn, fragment)
        return _enter(turn, target)
    choice = _visible_choice(fragment, state, action.removeprefix(PICK))
    assert choice is not None
    target = content.story.by_id[choice.next]
    if blocked := unmet(choice.requires, state):
        return locked_screen(state, target, blocked, choice.requires, content)
    if blocked := entry_unmet(target, state):
        return locked_screen(state, target, blocked, target.requires, content)
    if (screen := _charge(turn, choice, target, paying)) is not None:
        return screen
    _decide(turn, fragment, choice)
    _complete(turn, fragment)
    return _enter(turn, target)


def _charge(turn: Turn, choice: Choice | None, target: Fragment, paying: bool) -> Screen | None:
    """A priced way: asked first (its price, and the balance after), paid when confirmed. None: go on."""
    state = turn.state
    owed = price_of(state, choice, target)
    if not owed:
        return None
    price = sum(amount for _, amount in owed)
    if paying and spendable(state) >= price:
        for key, amount in owed:
            spend(turn, amount=amount, action="story_price", key=f"price:{key}", context={"paid": key})
        state.wallet.paid_story = [*state.wallet.paid_story, *(key for key, _ in owed)]
        return None
    confirm = PAY if choice is None else f"{PAY}.{choice.id}"
    missing = max(0, price - spendable(state))
    label = choice.label.get(state.language) if choice is not None else target.title.get(state.language)
    rows = [] if missing else [[Button(label="", action=confirm, text=f"💋 {price} · ✅")]]
    if missing:
        rows.append([Button(label="menu.missions", action="missions")])
    rows.append([Button(label="story.back", action=OPEN)])
    return Screen(key="story.price.missing" if missing else "story.price.ask",
                  params={"title": label, "price": price, "spendable": spendable(state),
                          "after": spendable(state) - price, "missing": missing},
                  buttons=rows)  # fmt: skip


def _visible_choice(fragment: Fragment, state: JourneyState, choice_id: str) -> Choice | None:
    return next((choice for choice in visible_choices(fragment, state) if choice.id == choice_id), None)


def visible_choices(fragment: Fragment, state: JourneyState) -> list[Choice]:
    """Choices closed by the user's past (flags) are not shown; the others show, locked or not."""
    return [choice for choice in fragment.choices if "flags" not in unmet(choice.requires, state)]


def _decide(turn: Turn, fragment: Fragment, choice: Choice) -> None:
    story = turn.state.story
    story.decisions += 1
    story.recent_decisions = [*story.recent_decisions, turn.now][-RECENT_DECISIONS:]
    low, high = RELATIONSHIP_BOUNDS
    story.relationship = max(low, min(high, story.relationship + choice.relationship))
    story.flags = sorted((set(story.flags) | set(choice.set_flags)) - set(choice.clear_flags))
    turn.effects.append(
        RecordDecision(
            user_id=turn.state.user_id,
            idempotency_key=f"journey-{turn.state.user_id}:decision:{story.playthrough}:{fragment.id}",
            playthrough=story.playthrough,
            fragment_id=fragment.id,
            choice_id=choice.id,
            decided_at=turn.now,
        )
    )
    if choice.id not in story.choices_made:
        story.choices_made = [*story.choices_made, choice.id]
        award(turn, action="decision_made", key=f"decision:{choice.id}", context={"choice": choice.id})


def _complete(turn: Turn, fragment: Fragment) -> None:
    story = turn.state.story
    if fragment.id in story.completed:
        return
    story.completed = [*story.completed, fragment.id]
    award(turn, action="story_fragment_completion", key=f"fragment:{fragment.id}", context={"fragment": fragment.id})


def _enter(turn: Turn, fragment: Fragment) -> Screen:
    story = turn.state.story
    story.fragment_id = fragment.id
    if fragment.ending is not None:
        _complete(turn, fragment)
        if fragment.ending not in story.endings:
            story.endings = [*story.endings, fragment.ending]
            turn.notices.append(Notice(key="notice.ending", params={"title": fragment.title.get(turn.state.language)}))
    save_progress(turn)
    return fragment_screen(turn.state, turn.content, fragment)


def save_progress(turn: Turn) -> None:
    story = turn.state.story
    story.saves += 1
    turn.effects.append(
        SaveStoryProgress(
            user_id=turn.state.user_id,
            seq=story.saves,
            content_version=turn.state.content_version,
            fragment_id=story.fragment_id,
            playthrough=story.playthrough,
            relationship=story.relationship,
            flags=story.flags,
            completed=story.completed,
            endings=story.endings,
            saved_at=turn.now,
        )
    )


def fragment_screen(state: JourneyState, content: Content, fragment: Fragment) -> Screen:
    language = state.language
    rows: list[list[Button]] = []
    for choice in visible_choices(fragment, state):
        label = choice.label.get(language)
        target = content.story.by_id[choice.next]
        locked = unmet(choice.requires, state) or entry_unmet(target, state)
        price = sum(amount for _, amount in price_of(state, choice, target))
        text = f"🔒 {label}" if locked else (f"{label} · 💋 {price}" if price else label)
        rows.append([Button(label="", action=f"{PICK}{choice.id}", text=text)])
    if fragment.next is not None:
        price = sum(amount for _, amount in price_of(state, None, content.story.by_id[fragment.next]))
        rows.append([Button(label="story.continue", action=NEXT, text=f"➡️ 💋 {price}" if price else None)])
    if fragment.ending is not None:
        rows.append([Button(label="story.restart", action=RESTART)])
    rows.append([Button(label="menu.back", action="menu")])
    return Screen(
        key="story.ending" if fragment.ending is not None else "story.fragment",
        params={
            "title": fragment.title.get(language),
            "body": fragment.text.get(language),
            "chapter": fragment.chapter,
            "relationship": state.story.relationship,
        },
        buttons=rows,
        media=screen_media(content, fragment.media, state.language),
    )


def screen_media(
    content: Content, keys: tuple[str, ...], language: Language, *, spoiler: bool = False
) -> list[ScreenMedia]:
    """The content's media named by ``keys``, as a screen carries them (a key no longer listed is left out)."""
    by_key = content.media_by_key
    return [
        ScreenMedia(key=key, kind=media.kind, file=media.file, spoiler=spoiler,
                    caption=media.caption.get(language) if media.caption else None)
        for key in keys
        if (media := by_key.get(key)) is not None
    ]  # fmt: skip


def locked_screen(
    state: JourneyState, fragment: Fragment, reasons: list[str], condition: Condition | None, content: Content
) -> Screen:
    """Why the way on is closed for now, and how to open it; the user stays where they were."""
    language = state.language
    requires = condition or Condition()
    if "vip" in reasons:
        teaser = fragment.teaser.get(language) if fragment.teaser else ""
        return Screen(
            key="story.locked.vip",
            params={"title": fragment.title.get(language), "teaser": teaser},
            buttons=[[Button(label="menu.vip", action="vip")], [Button(label="story.back", action=OPEN)]],
            media=screen_media(content, fragment.teaser_media, language, spoiler=True),
        )
    reason = reasons[0]
    params: dict[str, str | int] = {"title": fragment.title.get(language)}
    if reason == "level":
        params["level"] = requires.min_level or 1
    if reason == "besitos":
        params["besitos"] = requires.min_besitos or 0
        params["missing"] = max(0, (requires.min_besitos or 0) - state.besitos)
    return Screen(
        key=f"story.locked.{reason}",
        params=params,
        buttons=[[Button(label="menu.missions", action="missions")], [Button(label="story.back", action=OPEN)]],
    )
