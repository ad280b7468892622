"""The labelled voice corpus and how the scorer is measured on it. Pure except ``load_corpus``/``corpus_report``.

The corpus lives in ``content/voice_corpus/``: ``dev.jsonl`` (read while tuning the rules) and
``heldout.jsonl`` (never read while tuning; CI requires ``REQUIRED_ACCURACY`` on it both ways; it is
written independently and may be replaced at any time, so nothing here assumes its size or mix). One JSON
object per line: ``text``, ``lang`` ("es" or "en"), ``label`` ("on": Diana's voice, must pass; "off":
must be refused), ``kind`` ("diana" for on-character texts, else the failure: salad, offtopic, rude,
crude, flat, system, mascot, wrong_language) and, for on-character texts, ``shape`` (passage, teaser,
greeting, dialogue, reminder, notice, label, title, line).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.voice.scorer import score_text

PARTS: Final = ("dev", "heldout")
REQUIRED_ACCURACY: Final = 0.90
# Where the corpus ships, relative to this module (resolved when read, not at import).
_CORPUS_FROM_MODULE: Final = ("..", "..", "content", "voice_corpus")


def corpus_dir() -> Path:
    """The shipped corpus directory, ``content/voice_corpus`` at the repository root."""
    return Path(__file__).parent.joinpath(*_CORPUS_FROM_MODULE).resolve()


class CorpusEntry(BaseModel):
    """One labelled text of the corpus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    lang: Literal["es", "en"] = "es"
    label: Literal["on", "off"]
    kind: str = Field(min_length=1)
    shape: str | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """How many texts of a group were judged right."""

    right: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"{self.right}/{self.total} ({100 * self.accuracy:.1f}%)"


@dataclass(frozen=True, slots=True)
class PartResult:
    """One part of the corpus: accuracy on-character (accepted), off-character (refused), per kind and per language."""

    part: str
    on: Tally
    off: Tally
    overall: Tally
    by_kind: tuple[tuple[str, Tally], ...]
    by_language: tuple[tuple[str, Tally], ...]
    mistakes: tuple[tuple[CorpusEntry, int, tuple[str, ...]], ...]

    @property
    def meets_requirement(self) -> bool:
        return self.on.accuracy >= REQUIRED_ACCURACY and self.off.accuracy >= REQUIRED_ACCURACY


def _tally(judgements: Iterable[bool]) -> Tally:
    values = list(judgements)
    return Tally(right=sum(values), total=len(values))


def evaluate_part(part: str, entries: Sequence[CorpusEntry]) -> PartResult:
    """Score every entry and count, per kind, language and overall, how many were judged right. Pure."""
    judged: list[tuple[CorpusEntry, bool, int, tuple[str, ...]]] = []
    for entry in entries:
        score = score_text(entry.text, entry.lang)
        judged.append(
            (entry, score.passed == (entry.label == "on"), score.total, tuple(str(p) for p in score.problems))
        )
    kinds = sorted({entry.kind for entry in entries}, key=lambda kind: (kind != "diana", kind))
    return PartResult(
        part=part,
        on=_tally(right for entry, right, _, _ in judged if entry.label == "on"),
        off=_tally(right for entry, right, _, _ in judged if entry.label == "off"),
        overall=_tally(right for _, right, _, _ in judged),
        by_kind=tuple((kind, _tally(right for entry, right, _, _ in judged if entry.kind == kind)) for kind in kinds),
        by_language=tuple(
            (lang, _tally(right for entry, right, _, _ in judged if entry.lang == lang)) for lang in ("es", "en")
        ),
        mistakes=tuple((entry, total, problems) for entry, right, total, problems in judged if not right),
    )


def evaluate_corpus(parts: dict[str, Sequence[CorpusEntry]]) -> dict[str, PartResult]:
    """Per part ("dev", "heldout"), accuracy per kind and overall. Pure: give it the entries."""
    return {part: evaluate_part(part, entries) for part, entries in parts.items()}


def parse_corpus(text: str) -> list[CorpusEntry]:
    """The entries of a JSON-lines corpus file (blank lines ignored)."""
    return [CorpusEntry.model_validate(json.loads(line)) for line in text.splitlines() if line.strip()]


def load_corpus(directory: Path | None = None) -> dict[str, list[CorpusEntry]]:
    """Read ``dev.jsonl`` and ``heldout.jsonl`` from ``directory`` (default: the shipped corpus); I/O at call time only.

    A part whose file is missing or empty is an empty list: the held-out part is written by someone who never
    reads the rules, and may be replaced wholesale; its figures are then "0 texts" until it is filled.
    """
    folder = directory or corpus_dir()
    parts: dict[str, list[CorpusEntry]] = {}
    for part in PARTS:
        path = folder / f"{part}.jsonl"
        parts[part] = parse_corpus(path.read_text(encoding="utf-8")) if path.exists() else []
    return parts


def format_report(results: dict[str, PartResult], *, show_mistakes: Sequence[str] = ("dev",)) -> str:
    """The printed report: per part, on/off/overall, per kind and per language; mistakes of the parts named."""
    lines: list[str] = []
    for part, result in results.items():
        verdict = "meets" if result.meets_requirement else "DOES NOT meet"
        if not result.overall.total:
            verdict = "has no texts yet, so it cannot show"
        lines.append(f"{part}: {result.overall.total} texts; {verdict} the {REQUIRED_ACCURACY:.0%} requirement")
        lines.append(f"  on-character accepted:  {result.on}")
        lines.append(f"  off-character refused:  {result.off}")
        lines.append(f"  overall:                {result.overall}")
        lines += [f"  kind {kind:<15} {tally}" for kind, tally in result.by_kind]
        lines += [f"  lang {lang:<15} {tally}" for lang, tally in result.by_language]
        if part in show_mistakes:
            for entry, total, problems in result.mistakes:
                expected = "accept" if entry.label == "on" else "refuse"
                detail = "; ".join(problems) or "no problem"
                lines.append(
                    f"  ✗ [{entry.lang} {entry.kind}] should {expected}, got {total}/100 ({detail}): {entry.text[:90]!r}"
                )
    return "\n".join(lines)


def corpus_report(directory: Path | None = None) -> str:
    """``diana content corpus``: load the corpus, evaluate both parts, and return the report to print."""
    return format_report(evaluate_corpus(dict(load_corpus(directory))))
