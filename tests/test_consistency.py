"""Diana's character-consistency score, and the shipped content measured by it. Pure: no fixtures."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml

from workflows.consistency import (
    _LEXICON,
    DIMENSIONS,
    MAX_PER_DIMENSION,
    PASSING_SCORE,
    POINTS_PER_CUE,
    ConsistencyScore,
    score_text,
)
from workflows.content import Content, Fragment, content_problems

CONTENT_PATH = Path(__file__).resolve().parents[1] / "content" / "diana.yaml"
FLAT = "El tren sale a las ocho. Compra el billete en la estación."
RICH = (
    "—¿Sabes guardar un secreto? —susurra Diana en la penumbra, tan cerca que sientes el calor de su piel—. "
    "Quizá no debería contártelo... pero tengo miedo, y aunque me duele, la verdad es una paradoja: "
    "cuanto más la escondo, más pesa. Mírame a los ojos y dime qué idea tienes de mí, qué palabra "
    "escribirías en la última página de mi historia. Mi ternura es una puerta entreabierta."
)


def load_content() -> Content:
    with CONTENT_PATH.open(encoding="utf-8") as handle:
        return Content.model_validate(yaml.safe_load(handle))


CONTENT = load_content()


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def test_a_flat_text_scores_low_and_says_what_is_missing() -> None:
    score = score_text(FLAT)
    assert score.total <= 10
    assert not score.passed
    report = score.explain()
    assert f"{score.total}/100" in report
    assert "FAILS" in report
    for dimension in score.dimensions:
        assert dimension.score < MAX_PER_DIMENSION
        assert dimension.advice
        assert f"{dimension.name}: {dimension.score}/{MAX_PER_DIMENSION}" in report
        assert dimension.advice in report
    assert "secret-" in score.dimensions[0].advice


def test_a_rich_diana_text_passes() -> None:
    score = score_text(RICH)
    assert score.passed, score.explain()
    assert score.total >= PASSING_SCORE
    assert "passes" in score.explain()


def test_full_marks_give_no_advice() -> None:
    score = score_text(RICH)
    for dimension in score.dimensions:
        if dimension.score == MAX_PER_DIMENSION:
            assert dimension.advice == ""
            assert len(dimension.cues) * POINTS_PER_CUE >= MAX_PER_DIMENSION


def test_scoring_is_deterministic() -> None:
    assert score_text(RICH) == score_text(RICH)
    assert score_text(RICH).explain() == score_text(RICH).explain()
    assert score_text(FLAT) == score_text(FLAT)


def test_accents_and_case_do_not_matter() -> None:
    assert score_text(RICH.upper()) == score_text(RICH)
    assert score_text(strip_accents(RICH)) == score_text(RICH)
    assert score_text("QUIZÁS un SECRETO").dimensions[0].cues == score_text("quizas un secreto").dimensions[0].cues


def test_the_ellipsis_and_the_question_mark_are_cues() -> None:
    assert "..." in score_text("Y entonces…").dimensions[0].cues
    assert "..." in score_text("Y entonces...").dimensions[0].cues
    assert "¿" in score_text("¿Y entonces?").dimensions[3].cues


def test_a_repeated_cue_counts_once() -> None:
    mysterious = score_text("secreto, secretos, secretamente; quizá, quizás, tal vez").dimensions[0]
    assert mysterious.cues == ("secret-", "quiza")
    assert mysterious.score == 2 * POINTS_PER_CUE


@pytest.mark.parametrize("text", ["", FLAT, RICH, RICH * 5, "¿...?" * 50])
def test_each_dimension_is_within_bounds(text: str) -> None:
    score = score_text(text)
    assert isinstance(score, ConsistencyScore)
    assert tuple(dimension.name for dimension in score.dimensions) == DIMENSIONS
    for dimension in score.dimensions:
        assert 0 <= dimension.score <= MAX_PER_DIMENSION
        assert dimension.score % POINTS_PER_CUE == 0
    assert 0 <= score.total <= 100


@pytest.mark.parametrize("name", DIMENSIONS)
def test_one_word_never_matches_two_cues_of_a_dimension(name: str) -> None:
    """A stem inside another cue of its dimension would count one word twice."""
    forms = [(index, form) for index, cue in enumerate(_LEXICON[name]) for form in cue.split("|")]
    for index, stem in forms:
        if not stem.endswith("-"):
            continue
        for other, form in forms:
            words = form.rstrip("-").split("_")
            assert other == index or not any(word.startswith(stem[:-1]) for word in words), (stem, form)


def test_the_shipped_content_is_valid() -> None:
    assert content_problems(CONTENT) == []
    assert len(CONTENT.story.fragments) == 18
    assert len(CONTENT.missions) == 10
    assert len(CONTENT.achievements) == 15


@pytest.mark.parametrize("fragment", CONTENT.story.fragments, ids=lambda fragment: fragment.id)
def test_every_shipped_fragment_sounds_like_diana(fragment: Fragment) -> None:
    score = score_text(fragment.text.es)
    assert score.passed, f"{fragment.id}:\n{score.explain()}"


def test_shipped_choice_labels_fit_a_telegram_button() -> None:
    for fragment in CONTENT.story.fragments:
        for choice in fragment.choices:
            assert len(choice.label.es) <= 28, choice.id
            assert choice.label.en is not None
            assert len(choice.label.en) <= 28, choice.id
