"""Diana's character-consistency score: does a fragment sound like her? Pure, deterministic, stdlib only.

A fragment's Spanish prose is scored on four dimensions (mysterious tone, seductive undertones,
emotional complexity, intellectual engagement), 0–25 points each; it needs ``PASSING_SCORE`` (90)
out of 100 to load.

How a dimension is scored: the text is normalised (case folded, accents stripped, so "Quizás" is
"quizas"), split into words, and checked against a curated Spanish lexicon of thematic cues. A cue is
a whole word ("piel"), a stem ending in "-" that matches any word it begins ("susurr-" matches
"susurra", "susurros"), a phrase written with "_" ("nadie_sabe"), or a mark ("..." and "¿"). Each
DISTINCT cue found is worth ``POINTS_PER_CUE`` points, capped at ``MAX_PER_DIMENSION``: five different
cues give full marks, and repeating one cue earns nothing more. Passing therefore asks for at least
eighteen distinct cues spread over all four dimensions, which good Diana prose carries naturally.

It is a lexical heuristic, not a judge of quality: it tells an author which dimension is thin and
suggests words that would thicken it (``DimensionScore.advice``, ``ConsistencyScore.explain``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

PASSING_SCORE: Final = 90
DIMENSIONS: Final = ("mysterious", "seductive", "emotional", "intellectual")
POINTS_PER_CUE: Final = 5
MAX_PER_DIMENSION: Final = 25
# How many missing cues the advice suggests.
_SUGGESTIONS: Final = 4

# Normalised cues (lowercase, no accents), most characteristic first: advice suggests the first missing ones.
# One cue may have several forms separated by "|" ("quiza|quizas|tal_vez"): any of them finds the cue once.
_LEXICON: Final[dict[str, tuple[str, ...]]] = {
    "mysterious": tuple(
        """
        secret- silenci- sombra- misteri- ocult- quiza|quizas|tal_vez enigma- velo|velos|velad- penumbra puerta-
        llave- nadie_sabe|nadie_lo_sabe ... escond- oscur- noche- medianoche niebla|bruma umbral cerradura|cerrad-
        desconoc- extran- invisible pasillo- clave- sello|sellos|sellad- eco|ecos luna mascara- disfraz- fantasma-
        rumor- leyenda- tinieblas insinu- adivin- acertijo- laberint- espejo- reflej- destino- sin_nombre
        lo_que_no_digo todavia_no|aun_no algun_dia vela|velas|candil- clandestin- prohibid- cifrad-|codigo-
        """.split()
    ),
    "seductive": tuple(
        """
        piel labio- susurr- mirada- roce|roces|roz- cerca|cercan- acerc- deseo-|desea-|desear-|desee- perfume-
        voz_baja acarici-|caricia- respir- aliento boca cuello|nuca hombro- dedo- mano- calor|calido|calida|calidez
        tibi- tembl- estremec- latido- pulso beso-|besa-|besar seduc- tent- atrac- encant- sonri-|sonrisa-|sonre-
        seda|terciopelo vino|copa despacio|sin_prisa cabello- cintura abraz- intim- a_solas rubor|sonroj- suspir-
        ojos
        """.split()
    ),
    "emotional": tuple(
        """
        pero aunque sin_embargo miedo- ternura|tiern- herid- nostalgi- culpa- anhel- soledad alegri- triste-
        vulnerab- a_pesar en_cambio temor- dolor-|duele|duelen llor- lagrima- corazon- alma|almas esperanz- confi-
        fragil- ansiedad angusti- pena|penas arrepent-|arrepient- perdon- rabia orgullo- verguenza|averguenz-|avergonz- consuelo carino- amor-
        melancol- emocion- siento|sientes|siente|sienten|sientas|sentir-|sentimient-|senti|sentiste|sentia- cicatri-
        roto|rota|rotos|romp- quebr-|quiebr- feliz|felicidad dicha gratitud|agradec- celos anor-|echar_de_menos|te_extrano
        """.split()
    ),
    "intellectual": tuple(
        """
        ¿ pens-|piens- pregunt- verdad- razon- paradoja- idea- libro- filosof- memoria- palabra- signific- sentido
        entend-|entiend-|comprend- sabiduria conoc- respuesta- logica|logico teoria- hipotesis dud- curios-
        historia- poema-|poes-|poeta- verso- mapa- leer|lee|lees|leyo|lect- escrib-|escrit- tinta pagina- carta-
        mente|mentes cuestion- acaso por_que|para_que regla- simbolo- metafora- lenguaje descifr- interpret-
        recuerd-|record- olvid- aprend-|ensen- dilema- contradic- argument- concepto- existencia infinit- ciencia
        arte tiempo- nombre- elegir-|elegi|elegiste|elig-|eleccion- decid-|decision-
        """.split()
    ),
}

_ADVICE: Final[dict[str, str]] = {
    "mysterious": "add ambiguity: hint at something unsaid or hidden",
    "seductive": "add closeness (tasteful, never explicit): a glance, a whisper, skin, a lowered voice",
    "emotional": "add inner contrast: a feeling and its counterweight",
    "intellectual": "add something to think about: a question, an idea, a word that means more",
}

_WORD: Final = re.compile(r"[a-z]+")


def _normalise(text: str) -> str:
    """Case-folded text without accents; NFKD also turns the "…" character into "..."."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _display(form: str) -> str:
    """A cue form as an author reads it: phrases with spaces ("nadie sabe"), stems with their dash ("ocult-")."""
    return form.replace("_", " ")


def _found(cue: str, text: str, words: frozenset[str], joined: str) -> str | None:
    """The first form of ``cue`` present in the text, as an author reads it, or None."""
    return next((_display(form) for form in cue.split("|") if _form_present(form, text, words, joined)), None)


def _form_present(form: str, text: str, words: frozenset[str], joined: str) -> bool:
    if not any(char.isalpha() for char in form):
        return form in text
    if "_" in form:
        return f" {form.replace('_', ' ')} " in joined
    if form.endswith("-"):
        stem = form[:-1]
        return any(word.startswith(stem) for word in words)
    return form in words


@dataclass(frozen=True, slots=True)
class DimensionScore:
    """One dimension: its points (0–25), the distinct cues found, and what to add ("" at full marks)."""

    name: str
    score: int
    cues: tuple[str, ...]
    advice: str


@dataclass(frozen=True, slots=True)
class ConsistencyScore:
    """The four dimension scores of one text, in ``DIMENSIONS`` order."""

    dimensions: tuple[DimensionScore, ...]

    @property
    def total(self) -> int:
        return sum(dimension.score for dimension in self.dimensions)

    @property
    def passed(self) -> bool:
        return self.total >= PASSING_SCORE

    def explain(self) -> str:
        """A report an author can act on: the total, then one line per dimension."""
        verdict = "passes" if self.passed else "FAILS"
        lines = [f"Diana consistency: {self.total}/100 ({verdict}, needs {PASSING_SCORE})"]
        for dimension in self.dimensions:
            found = ", ".join(dimension.cues) or "none"
            line = f"- {dimension.name}: {dimension.score}/{MAX_PER_DIMENSION}; cues: {found}"
            lines.append(f"{line}; {dimension.advice}" if dimension.advice else line)
        return "\n".join(lines)


def _score_dimension(name: str, text: str, words: frozenset[str], joined: str) -> DimensionScore:
    lexicon = _LEXICON[name]
    matches = [(cue, _found(cue, text, words, joined)) for cue in lexicon]
    found = tuple(form for _, form in matches if form is not None)
    score = min(MAX_PER_DIMENSION, POINTS_PER_CUE * len(found))
    advice = ""
    if score < MAX_PER_DIMENSION:
        missing = [_display(cue.split("|")[0]) for cue, form in matches if form is None][:_SUGGESTIONS]
        advice = f"{_ADVICE[name]}, e.g. {', '.join(missing)}"
    return DimensionScore(name=name, score=score, cues=found, advice=advice)


def score_text(text: str) -> ConsistencyScore:
    """Score Spanish prose on Diana's four dimensions (see the module docstring for the rule)."""
    normalised = _normalise(text)
    tokens = _WORD.findall(normalised)
    words, joined = frozenset(tokens), f" {' '.join(tokens)} "
    return ConsistencyScore(dimensions=tuple(_score_dimension(name, normalised, words, joined) for name in DIMENSIONS))
