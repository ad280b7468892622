"""The labelled voice corpus: its shape, and the held-out figure CI enforces (>= 90% both ways). Pure: no fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from workflows.consistency import corpus_report, evaluate_corpus, load_corpus, texts_to_score
from workflows.content import Content
from workflows.voice.corpus import REQUIRED_ACCURACY, CorpusEntry, parse_corpus

ROOT = Path(__file__).resolve().parents[1]
OFF_KINDS = {"salad", "offtopic", "rude", "crude", "flat", "system", "mascot", "wrong_language"}
CORPUS = load_corpus()
RESULTS = evaluate_corpus(dict(CORPUS))


def test_the_corpus_has_both_parts_and_hundreds_of_texts() -> None:
    assert set(CORPUS) == {"dev", "heldout"}
    assert len(CORPUS["dev"]) >= 500


@pytest.mark.parametrize("part", ["dev", "heldout"])
def test_every_kind_is_in_every_part_in_both_languages(part: str) -> None:
    entries = CORPUS[part]
    if not entries:
        pytest.skip(f"the {part} part is empty: it is written independently and has not been filled yet")
    for lang in ("es", "en"):
        assert {entry.kind for entry in entries if entry.lang == lang and entry.label == "off"} == OFF_KINDS
        on = [entry for entry in entries if entry.lang == lang and entry.label == "on"]
        assert {entry.kind for entry in on} == {"diana"}
        # Diana's voice at every length: paragraphs, teasers, greetings, dialogue, notices, buttons, titles.
        assert {"passage", "teaser", "greeting", "dialogue", "reminder", "notice", "label", "title"} <= {
            entry.shape for entry in on
        }
    for entry in entries:
        assert (entry.label == "on") == (entry.kind == "diana")


def test_the_parts_do_not_share_texts_nor_copy_the_shipped_content() -> None:
    dev = {entry.text for entry in CORPUS["dev"]}
    heldout = {entry.text for entry in CORPUS["heldout"]}
    assert not dev & heldout
    content = Content.model_validate(yaml.safe_load((ROOT / "content" / "diana.yaml").read_text(encoding="utf-8")))
    shipped = {text for _, text, _ in texts_to_score(content)}
    assert not (dev | heldout) & shipped


def test_the_held_out_part_meets_the_required_accuracy_both_ways() -> None:
    """What CI enforces: on the held-out part, >= 90% of Diana's texts accepted and >= 90% of the rest refused.

    The held-out part is written by someone who never reads the rules and may be replaced at any time; whatever
    it holds is measured here (an empty part has nothing to measure, and meets the figure vacuously).
    """
    result = RESULTS["heldout"]
    report = corpus_report()
    assert result.on.accuracy >= REQUIRED_ACCURACY, report
    assert result.off.accuracy >= REQUIRED_ACCURACY, report
    assert result.meets_requirement


def test_the_dev_part_meets_the_required_accuracy_both_ways() -> None:
    result = RESULTS["dev"]
    assert result.meets_requirement, corpus_report()


def test_the_report_gives_per_kind_and_overall_accuracy_for_both_parts() -> None:
    report = corpus_report()
    for part in ("dev", "heldout"):
        assert f"{part}: " in report
    for label in ("on-character accepted", "off-character refused", "overall", "lang es", "lang en"):
        assert report.count(label) == 2
    present = {entry.kind for entry in CORPUS["heldout"]}
    for kind in OFF_KINDS | {"diana"}:
        assert report.count(f"kind {kind}") == (2 if kind in present else 1)
    assert corpus_report() == report


def test_a_missing_or_empty_held_out_part_loads_as_empty(tmp_path: Path) -> None:
    (tmp_path / "dev.jsonl").write_text(
        '{"text": "Volviste. Sabía que lo harías.", "lang": "es", "label": "on", "kind": "diana", "shape": "line"}\n',
        encoding="utf-8",
    )
    assert load_corpus(tmp_path)["heldout"] == []
    (tmp_path / "heldout.jsonl").write_text("", encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert corpus["heldout"] == [] and len(corpus["dev"]) == 1
    assert "heldout: 0 texts" in corpus_report(tmp_path)


def test_evaluate_corpus_is_pure_over_given_entries() -> None:
    entries = parse_corpus(
        '{"text": "Seguirla ✨", "lang": "es", "label": "on", "kind": "diana", "shape": "label"}\n\n'
        '{"text": "secreto deseo piel alma misterio sombra", "lang": "es", "label": "off", "kind": "salad"}\n'
    )
    assert entries == [
        CorpusEntry(text="Seguirla ✨", lang="es", label="on", kind="diana", shape="label"),
        CorpusEntry(text="secreto deseo piel alma misterio sombra", lang="es", label="off", kind="salad"),
    ]
    result = evaluate_corpus({"sample": entries})["sample"]
    assert (result.on.right, result.on.total, result.off.right, result.off.total) == (1, 1, 1, 1)
    assert dict(result.by_kind) == {"diana": result.on, "salad": result.off}
    assert result.mistakes == ()
