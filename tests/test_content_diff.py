"""The summary an admin reads before activating a content file: pure, no fixtures."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tests.helpers import shipped_content
from workflows.content import Content
from workflows.content_diff import FieldChange, diff


def edited(change: Callable[[dict[str, Any]], None]) -> Content:
    """The shipped content with ``change`` applied to its document (models are frozen; edit the data)."""
    document = copy.deepcopy(shipped_content().model_dump(mode="json"))
    change(document)
    return Content.model_validate(document)


def fragment(document: dict[str, Any], fragment_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in document["story"]["fragments"] if f["id"] == fragment_id)
    return found


def test_the_same_document_changes_nothing() -> None:
    summary = diff(shipped_content(), shipped_content())
    assert summary.empty
    assert summary.old_version == summary.new_version == shipped_content().version


def test_nothing_active_means_everything_is_added() -> None:
    content = shipped_content()
    summary = diff(None, content)
    assert summary.old_version is None and summary.new_version == content.version
    assert summary.fragments.added == tuple(f.id for f in content.story.fragments)
    assert summary.missions.added == tuple(m.code for m in content.missions)
    assert summary.plans.added == ("mensual", "trimestral")
    assert not summary.fragments.removed and not summary.fragments.changed and not summary.settings


def test_a_new_label_alone_is_an_empty_change() -> None:
    def relabel(document: dict[str, Any]) -> None:
        document["version"] = "2027-01-01.1"

    summary = diff(shipped_content(), edited(relabel))
    assert summary.empty
    assert (summary.old_version, summary.new_version) == (shipped_content().version, "2027-01-01.1")


def test_fragment_text_and_choices() -> None:
    def rewrite(document: dict[str, Any]) -> None:
        fragment(document, "f01")["text"]["es"] += " Otra frase."
        choices = fragment(document, "f10")["choices"]
        choices[0]["label"]["es"] = "Otra etiqueta"
        choices.pop()
        fragment(document, "f03")["chapter"] = 7

    old, new = shipped_content(), edited(rewrite)
    summary = diff(old, new)
    changed = {item.id: item.changes for item in summary.fragments.changed}
    assert set(changed) == {"f01", "f10", "f03"}
    assert changed["f01"] == (FieldChange(field="text"),)
    first, last = old.story.by_id["f10"].choices[0].id, old.story.by_id["f10"].choices[-1].id
    assert FieldChange(field=f"choice {last}", kind="removed") in changed["f10"]
    assert FieldChange(field=f"choice {first}") in changed["f10"]
    assert changed["f03"] == (FieldChange(field="chapter", old="1", new="7"),)
    assert not summary.fragments.added and not summary.fragments.removed and not summary.empty


def test_fragments_added_and_removed() -> None:
    def grow(document: dict[str, Any]) -> None:
        extra = copy.deepcopy(fragment(document, "f18"))
        extra["id"] = "f19"
        document["story"]["fragments"].append(extra)
        document["story"]["fragments"] = [f for f in document["story"]["fragments"] if f["id"] != "f17"]

    summary = diff(shipped_content(), edited(grow))
    assert summary.fragments.added == ("f19",)
    assert summary.fragments.removed == ("f17",)


def test_missions_and_achievements() -> None:
    def goals(document: dict[str, Any]) -> None:
        document["missions"][0]["target"] += 4
        document["missions"][1]["title"]["es"] = "Nuevo título"
        document["missions"].pop()
        document["achievements"].append({**document["achievements"][0], "code": "nuevo_logro"})

    old = shipped_content()
    summary = diff(old, edited(goals))
    first, second, last = old.missions[0], old.missions[1], old.missions[-1]
    assert [item.id for item in summary.missions.changed] == [first.code, second.code]
    assert summary.missions.changed[0].changes == (
        FieldChange(field="target", old=str(first.target), new=str(first.target + 4)),
    )
    assert summary.missions.changed[1].changes == (FieldChange(field="title"),)
    assert summary.missions.removed == (last.code,)
    assert summary.achievements.added == ("nuevo_logro",) and not summary.achievements.changed


def test_plans_added_removed_and_repriced() -> None:
    def plans(document: dict[str, Any]) -> None:
        mensual, trimestral = document["vip"]["plans"]
        mensual["stars"] = 300
        mensual["days"] = 31
        mensual["renews"] = False  # a Stars subscription lasts 30 days, no more
        document["vip"]["plans"] = [mensual, {**trimestral, "code": "anual", "days": 365, "stars": 2000}]

    summary = diff(shipped_content(), edited(plans))
    assert summary.plans.added == ("anual",)
    assert summary.plans.removed == ("trimestral",)
    assert len(summary.plans.changed) == 1 and summary.plans.changed[0].id == "mensual"
    assert summary.plans.changed[0].changes == (
        FieldChange(field="days", old="30", new="31"),
        FieldChange(field="stars", old="250", new="300"),
        FieldChange(field="renews", old="True", new="False"),
    )


def test_document_wide_settings() -> None:
    def settings(document: dict[str, Any]) -> None:
        document["calendar"]["reminder_hour"] = 21
        document["community"]["reaction_daily_cap"] = 5
        document["vip"]["reminder_days_before"] = [2]

    summary = diff(shipped_content(), edited(settings))
    assert summary.settings == (
        FieldChange(field="calendar.reminder_hour", old="20", new="21"),
        FieldChange(field="community.reaction_daily_cap", old="10", new="5"),
        FieldChange(field="vip.reminder_days_before", old="3, 1", new="2"),
    )
    assert not summary.empty and summary.fragments.empty and summary.plans.empty
