"""What a new content document changes against the active one: a summary an admin reads before activating.

Pure functions over two :class:`Content` documents. Field names are the content file's own (``text``,
``choices``, ``stars``), so the summary reads the same in every language; short values (numbers, codes)
are shown old → new, long ones (texts, conditions) only by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, Literal, TypeVar

from pydantic import BaseModel

from workflows.content import Content, Fragment, Goal, Plan

T = TypeVar("T", Fragment, Goal, Plan)

# Fragment fields compared one by one; the ones in SHORT_FIELDS also show their values.
FRAGMENT_FIELDS: Final = ("chapter", "title", "text", "teaser", "requires", "next", "ending")
GOAL_FIELDS: Final = ("title", "description", "metric", "target")
PLAN_FIELDS: Final = ("name", "description", "days", "stars", "renews")
SHORT_FIELDS: Final = frozenset({"chapter", "next", "ending", "metric", "target", "days", "stars", "renews"})


class FieldChange(BaseModel):
    """One field that differs; ``old``/``new`` are given for short values only. A fragment's choices are
    fields of their own (``choice <id>``), which can also be added or removed."""

    field: str
    kind: Literal["changed", "added", "removed"] = "changed"
    old: str | None = None
    new: str | None = None


class ItemDiff(BaseModel):
    """A fragment, mission, achievement or plan present in both documents, and what changed in it."""

    id: str
    changes: tuple[FieldChange, ...]


class SectionDiff(BaseModel):
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[ItemDiff, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


class ContentDiff(BaseModel):
    """The summary: version labels, each section, and the document-wide settings that changed."""

    old_version: str | None
    new_version: str
    fragments: SectionDiff
    missions: SectionDiff
    achievements: SectionDiff
    plans: SectionDiff
    settings: tuple[FieldChange, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing but (maybe) the version label changed."""
        sections = (self.fragments, self.missions, self.achievements, self.plans)
        return all(section.empty for section in sections) and not self.settings


def diff(old: Content | None, new: Content) -> ContentDiff:
    """What activating ``new`` changes when ``old`` is active (None: nothing is active, everything is added)."""
    return ContentDiff(
        old_version=old.version if old else None,
        new_version=new.version,
        fragments=_section(old.story.fragments if old else (), new.story.fragments, _fragment_changes),
        missions=_section(old.missions if old else (), new.missions, _goal_changes),
        achievements=_section(old.achievements if old else (), new.achievements, _goal_changes),
        plans=_section(old.vip.plans if old else (), new.vip.plans, _plan_changes),
        settings=_settings_changes(old, new) if old else (),
    )


def _key(item: Fragment | Goal | Plan) -> str:
    return item.id if isinstance(item, Fragment) else item.code


def _section(old: Sequence[T], new: Sequence[T], changes: Callable[[T, T], list[FieldChange]]) -> SectionDiff:
    """Items by id, in the new document's order (removed ones in the old document's order)."""
    before = {_key(item): item for item in old}
    after = {_key(item): item for item in new}
    changed = [ItemDiff(id=key, changes=tuple(found)) for key, item in after.items()
               if key in before and (found := changes(before[key], item))]  # fmt: skip
    return SectionDiff(
        added=tuple(key for key in after if key not in before),
        removed=tuple(key for key in before if key not in after),
        changed=tuple(changed),
    )


def _field_changes(old: BaseModel, new: BaseModel, fields: Sequence[str]) -> list[FieldChange]:
    found = []
    for name in fields:
        before, after = getattr(old, name), getattr(new, name)
        if before == after:
            continue
        if name in SHORT_FIELDS:
            found.append(FieldChange(field=name, old=_short(before), new=_short(after)))
        else:
            found.append(FieldChange(field=name))
    return found


def _short(value: object) -> str | None:
    return None if value is None else str(value)


def _fragment_changes(old: Fragment, new: Fragment) -> list[FieldChange]:
    found = _field_changes(old, new, FRAGMENT_FIELDS)
    before = {choice.id: choice for choice in old.choices}
    after = {choice.id: choice for choice in new.choices}
    # Choices by id: the ones taken away, the new ones, and the ones whose label, target or effects changed.
    found += [
        FieldChange(field=f"choice {choice_id}", kind="removed") for choice_id in before if choice_id not in after
    ]
    for choice_id, choice in after.items():
        if choice_id not in before:
            found.append(FieldChange(field=f"choice {choice_id}", kind="added"))
        elif choice != before[choice_id]:
            found.append(FieldChange(field=f"choice {choice_id}"))
    if not found and [c.id for c in old.choices] != [c.id for c in new.choices]:
        found.append(FieldChange(field="choices"))  # same choices, new order
    return found


def _goal_changes(old: Goal, new: Goal) -> list[FieldChange]:
    return _field_changes(old, new, GOAL_FIELDS)


def _plan_changes(old: Plan, new: Plan) -> list[FieldChange]:
    return _field_changes(old, new, PLAN_FIELDS)


def _settings_changes(old: Content, new: Content) -> tuple[FieldChange, ...]:
    """Document-wide settings: the calendar, the community, VIP rules other than the plans, the story's start."""
    pairs: Mapping[str, tuple[object, object]] = {
        "story.start": (old.story.start, new.story.start),
        **{f"calendar.{name}": (getattr(old.calendar, name), getattr(new.calendar, name))
           for name in type(new.calendar).model_fields},
        **{f"community.{name}": (getattr(old.community, name), getattr(new.community, name))
           for name in type(new.community).model_fields},
        **{f"vip.{name}": (getattr(old.vip, name), getattr(new.vip, name))
           for name in type(new.vip).model_fields if name != "plans"},
    }  # fmt: skip
    return tuple(
        FieldChange(field=name, old=_setting(before), new=_setting(after))
        for name, (before, after) in pairs.items()
        if before != after
    )


def _setting(value: object) -> str | None:
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    return _short(value)
