"""Diana's character-consistency score: does a text sound like her? Pure, deterministic, offline.

The seed requires every text Diana says to pass her character validation: mysterious tone, seductive
undertones, emotional complexity and intellectual engagement, 0–25 each, at least 90/100 to pass.
This module is the public face of ``workflows.voice`` (the rules live in ``workflows.voice.scorer``,
the word lists in ``workflows.voice.lexicon``, the measured corpus in ``workflows.voice.corpus``):

- ``score_text(text, lang="es")`` judges one text as Diana's voice in its own language: by its structure
  (who speaks to whom, what she wants, hides, wonders; ``workflows.voice.structure``) before its words. It refuses
  word salads, off-topic texts sprinkled with her words, rude, crude, system/customer-service and
  cheerful-mascot lines, flat narration and text in the wrong language; it accepts her voice at every
  length (a fragment, a teaser, a greeting, a button), asking of each text what its length can hold.
- ``score_json_line(line)`` is ``diana content score``: one JSON line in, one JSON line out.
- ``texts_to_score(content)`` lists every Diana text of a content file, and ``content_voice_problems``
  says which of them fail; ``diana content check`` refuses content with any.
- ``evaluate_corpus`` / ``corpus_report`` measure the scorer on the labelled corpus in
  ``content/voice_corpus`` (``diana content corpus``).
- ``is_diana_voice(key)`` says which locale texts are Diana speaking to a user (all but the staff's
  ``admin.`` keys) and ``fill_placeholders(template, lang)`` fills and unmarks one so it can be scored.
"""

from __future__ import annotations

import json
from typing import Any, Final

from workflows.content import Content, Localized
from workflows.voice.corpus import CorpusEntry, PartResult, corpus_report, evaluate_corpus, load_corpus
from workflows.voice.locale_keys import fill_placeholders, is_diana_voice
from workflows.voice.scorer import (
    DIMENSIONS,
    LANGUAGES,
    MAX_PER_DIMENSION,
    PASSING_SCORE,
    ConsistencyScore,
    DimensionScore,
    Problem,
    detect_language,
    score_text,
)

__all__ = [
    "DIMENSIONS",
    "LANGUAGES",
    "MAX_PER_DIMENSION",
    "PASSING_SCORE",
    "ConsistencyScore",
    "CorpusEntry",
    "DimensionScore",
    "PartResult",
    "Problem",
    "content_voice_problems",
    "corpus_report",
    "detect_language",
    "evaluate_corpus",
    "fill_placeholders",
    "is_diana_voice",
    "load_corpus",
    "score_json",
    "score_json_line",
    "score_text",
    "texts_to_score",
]

DEFAULT_LANGUAGE: Final = "es"


def score_json(score: ConsistencyScore) -> dict[str, Any]:
    """The JSON shape of a score: score, passes, the four dimensions (score and why) and the problems."""
    return {
        "score": score.total,
        "passes": score.passed,
        "dimensions": {
            dimension.name: {"score": dimension.score, "why": dimension.why} for dimension in score.dimensions
        },
        "problems": [str(problem) for problem in score.problems],
    }


def score_json_line(line: str) -> str:
    """``diana content score`` for one input line: ``{"text": "...", "lang": "es"}`` (lang optional) in, one JSON line out.

    A line that is not such an object gives ``{"error": "..."}`` instead, so the output keeps one line per input line.
    """
    try:
        request = json.loads(line)
    except json.JSONDecodeError as error:
        return json.dumps({"error": f"not a JSON line: {error.msg}"}, ensure_ascii=False)
    if not isinstance(request, dict) or not isinstance(request.get("text"), str):
        return json.dumps({"error": 'expected an object like {"text": "...", "lang": "es"}'}, ensure_ascii=False)
    lang = request.get("lang", DEFAULT_LANGUAGE)
    if lang not in LANGUAGES:
        return json.dumps({"error": f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}"}, ensure_ascii=False)
    return json.dumps(score_json(score_text(request["text"], lang)), ensure_ascii=False)


def _localized(where: str, text: Localized) -> list[tuple[str, str, str]]:
    found = [(f"{where}.es", text.es, "es")]
    if text.en is not None:
        found.append((f"{where}.en", text.en, "en"))
    return found


def texts_to_score(content: Content) -> list[tuple[str, str, str]]:
    """Every text Diana says in a content file, as ``(where, text, lang)``, in document order.

    Story fragments (title, text, teaser, choice labels), missions and achievements (title, description)
    VIP plans (name, description), media captions and shop items (name, description, what they give), each in Spanish and, where written, English. ``where`` is a
    path an author can find: ``story.f01.text.es``, ``story.f01.c01_follow.label.en``, ``missions.x.title.es``.
    """
    found: list[tuple[str, str, str]] = []
    for fragment in content.story.fragments:
        where = f"story.{fragment.id}"
        found += _localized(f"{where}.title", fragment.title)
        found += _localized(f"{where}.text", fragment.text)
        if fragment.teaser is not None:
            found += _localized(f"{where}.teaser", fragment.teaser)
        for choice in fragment.choices:
            found += _localized(f"{where}.{choice.id}.label", choice.label)
    for kind, goals in (("missions", content.missions), ("achievements", content.achievements)):
        for goal in goals:
            found += _localized(f"{kind}.{goal.code}.title", goal.title)
            found += _localized(f"{kind}.{goal.code}.description", goal.description)
    for plan in content.vip.plans:
        found += _localized(f"vip.plans.{plan.code}.name", plan.name)
        found += _localized(f"vip.plans.{plan.code}.description", plan.description)
    for media in content.media:
        if media.caption is not None:
            found += _localized(f"media.{media.key}.caption", media.caption)
    for item in content.shop.items:
        found += _localized(f"shop.{item.code}.name", item.name)
        found += _localized(f"shop.{item.code}.description", item.description)
        if item.gives.text is not None:
            found += _localized(f"shop.{item.code}.gives", item.gives.text)
    return found


def content_voice_problems(content: Content) -> list[str]:
    """One problem per Diana text of ``content`` that fails the score, with its explanation; [] when all pass."""
    problems: list[str] = []
    for where, text, lang in texts_to_score(content):
        score = score_text(text, lang)
        if not score.passed:
            problems.append(f"{where} is not Diana enough ({score.total}/100):\n{score.explain()}")
    return problems
