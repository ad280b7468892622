"""Diana's voice scorer: does a text sound like her? Pure, deterministic, offline; stdlib only.

The score judges a text as something Diana says, in its own language, on four dimensions of 0–25
(mysterious tone, seductive undertones, emotional complexity, intellectual engagement). A text
passes with ``PASSING_SCORE`` (90) or more *and* no problem. It works in two steps:

1. **Refusals** (``Problem``). Whatever its vocabulary, a text is refused when it is in the wrong
   language for its field; a word list or salad rather than sentences; about something Diana never
   talks about (a recipe, a manual, an ad, sports, a contract, a horoscope...) even if sprinkled
   with her words; rude or contemptuous; crude (her seduction is undertone, never explicit);
   system or customer-service language; or a cheerful mascot with strings of emoji and
   exclamations. Each refusal names the words that triggered it and caps the dimensions it
   betrays, so the total always falls below the pass mark.

2. **Voice** (the dimensions). Each dimension collects *evidence*, first from how the text is built
   (``workflows.voice.structure``), then from distinct cues of ``lexicon.VOICE`` (a weak cue counts half):

   - mysterious: an ellipsis, what is held back (hedges, "not yet", "at least", "quizá", "something", what
     she denies: "it isn't", "will not");
   - seductive: "I" speaking to "you" (in Spanish also the tú verb forms and clitics), a command to the
     reader ("Ven.", "Look"), "we";
   - emotional: the speaker's inner life ("I want", "me da miedo", "I notice"), or at least an "I";
     a counterweight ("but", "aunque"), intensity;
   - intellectual: a question, a condition, a reason, a comparison ("as if"), a general claim, a contrast.

   So a genuine short line of Diana to you passes without any particular word, while flat narration (a
   third person doing things, no one speaking, no one spoken to) has nothing to show. A dimension
   carried twice over lends a little (``OVERFLOW_SHARE``, at most ``OVERFLOW_CAP``) to the thinnest one,
   so a third-person teaser rich in mystery can pass. What a text must carry depends on its length,
   because a button cannot hold a paragraph's depth:

   - a **label** (a button, a title, a notice: at most ``LABEL_WORDS`` words) is judged on register
     only: nothing refused is enough; each dimension gets ``LABEL_BASE``, full marks where a cue is present;
   - a **line** (a greeting, a teaser, a line of dialogue, a reminder: under ``PASSAGE_WORDS`` words) and
     a **short passage** (an introduction, a brief scene: under ``DENSE_WORDS`` words) must show evidence
     summed over the dimensions (at most 1 each): ``LINE_NEED`` (1.5) under ``LONG_LINE_WORDS`` words,
     ``LONG_LINE_NEED`` (2) for a longer line, ``SHORT_PASSAGE_NEED`` (3) for a short passage. Every
     dimension starts at a base and earns a step for full evidence, so the total reaches 90 exactly
     when the evidence reaches the need. On the dev corpus flat narration shows at most 0.5 and Diana's
     lines at least 1: the bars sit between. A line that speaks neither as "I" nor to "you" (narration)
     needs ``IMPERSONAL_EXTRA`` (0.5) more, unless it is a *teaser*: a narrator's line about a woman (Diana,
     "she") with a hook (what she knows, hides or chooses, a thing locked or missing, a question left open),
     which counts as mystery and draws the reader in; a report of mundane actions has no hook;
   - a **passage** (a story fragment) must carry every dimension on its own: 2 units of evidence up to
     ``LONG_PASSAGE_WORDS`` words, 3 beyond (``IMPERSONAL_EXTRA`` more when no one speaks and no one is
     spoken to anywhere in it); each missing unit costs ``PASSAGE_UNIT_COST`` points. Its structure is read
     paragraph by paragraph (``BLOCK_WORDS``): a voice kept up through the whole passage counts for more than
     one turn of phrase, up to ``PASSAGE_STRUCTURE`` per dimension.

   A short sentence (``LABEL_WORDS`` words or fewer, ending in a full stop) with no first or second
   person in it ("Juan cerró la puerta.") is narration, not a label: it is judged as a line.
   A text below the mark with no other problem gets a ``flat`` problem: it has no inner life.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

from workflows.voice.lexicon import CRUDE, DOMAINS, LANGUAGE_NAMES, MASCOT, PERSONAL, RUDE, STOPWORDS, SYSTEM, VOICE
from workflows.voice.register import CRUDE_PATTERNS, RUDE_PATTERNS, matches
from workflows.voice.structure import Structure, features

Language = Literal["es", "en"]
LANGUAGES: Final = ("es", "en")
PASSING_SCORE: Final = 90
DIMENSIONS: Final = ("mysterious", "seductive", "emotional", "intellectual")
MAX_PER_DIMENSION: Final = 25
LABEL_WORDS: Final = 8
LONG_LINE_WORDS: Final = 20
PASSAGE_WORDS: Final = 45
DENSE_WORDS: Final = 90
LONG_PASSAGE_WORDS: Final = 120
# A passage is read in paragraphs (or, in one long paragraph, every few sentences of about this many words).
BLOCK_WORDS: Final = 40
# What a passage's structure, summed over its paragraphs, can carry per dimension.
PASSAGE_STRUCTURE: Final = 3.0
# Evidence a line must show, summed over the dimensions (at most 1 each). Measured on the dev corpus,
# flat narration shows at most 0.5 and Diana's lines at least 1: the bar sits between.
LINE_NEED: Final = 1.5
LONG_LINE_NEED: Final = 2.0
# A short passage (an introduction, a brief scene) must carry three of the four dimensions' worth.
SHORT_PASSAGE_NEED: Final = 3.0
# A line that speaks neither as "I" nor to "you" (narration, a teaser) must show a little more.
IMPERSONAL_EXTRA: Final = 0.5
# Evidence beyond 1 in a dimension lends ``OVERFLOW_SHARE`` of itself to the thinnest, at most ``OVERFLOW_CAP``.
OVERFLOW_SHARE: Final = 0.5
OVERFLOW_CAP: Final = 0.5
LABEL_BASE: Final = 23
PASSAGE_UNIT_COST: Final = 7
WEAK: Final = 0.5

Kind = Literal["wrong_language", "salad", "offtopic", "rude", "crude", "system", "mascot", "flat"]

# What each refusal caps, per dimension (a dimension not named keeps its voice score).
_CAPS: Final[dict[str, dict[str, int]]] = {
    "wrong_language": {"mysterious": 10, "seductive": 10, "emotional": 10, "intellectual": 10},
    "salad": {"mysterious": 10, "seductive": 10, "emotional": 5, "intellectual": 0},
    "offtopic": {"mysterious": 5, "seductive": 15, "emotional": 15, "intellectual": 10},
    "rude": {"mysterious": 15, "seductive": 5, "emotional": 0, "intellectual": 15},
    "crude": {"mysterious": 5, "seductive": 0, "emotional": 15, "intellectual": 15},
    "system": {"mysterious": 5, "seductive": 5, "emotional": 15, "intellectual": 15},
    "mascot": {"mysterious": 5, "seductive": 10, "emotional": 15, "intellectual": 15},
}

_ADVICE: Final[dict[str, dict[str, str]]] = {
    "es": {
        "mysterious": "deja algo sin decir: «quizá», «todavía no», un secreto, una sombra, unos puntos suspensivos",
        "seductive": "acércate sin ser explícita: háblale de tú, una mirada, la voz baja, «despacio», «solo para ti»",
        "emotional": "muestra un sentimiento y su contrapeso: «aunque», «me da miedo», ternura, nostalgia",
        "intellectual": "da algo que pensar: una pregunta, una idea, una palabra que signifique más, una elección",
    },
    "en": {
        "mysterious": "leave something unsaid: 'perhaps', 'not yet', a secret, a shadow, an ellipsis",
        "seductive": "come closer without being explicit: speak to 'you', a glance, a lowered voice, 'slowly', 'just for you'",
        "emotional": "show a feeling and its counterweight: 'although', 'it scares me', tenderness, longing",
        "intellectual": "give something to think about: a question, an idea, a word that means more, a choice",
    },
}

_WHY_REFUSED: Final[dict[str, str]] = {
    "wrong_language": "the text is not in the field's language",
    "salad": "a list of words is not a sentence: Diana speaks, she does not list keywords",
    "offtopic": "Diana does not talk about this; her words sprinkled on it do not make it hers",
    "rude": "Diana can be cool or distant, never insulting or contemptuous",
    "crude": "Diana's seduction is undertone, never explicit: suggest, do not state",
    "system": "Diana speaks as herself, never as a system or a customer-service desk",
    "mascot": "Diana is not a cheerful mascot: no strings of emoji or exclamations, no cheerleading",
}

_EMOJI_RANGES: Final = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x2300, 0x23FF))
_IGNORED_IN_RUNS: Final = {"\ufe0f", "\u200d", " ", "\u20e3"}
_TOKEN: Final = re.compile(r"[a-z]+(?:'[a-z]+)?")
_TAG: Final = re.compile(r"<[^>]{1,40}>")
_PLACEHOLDER: Final = re.compile(r"\{[a-z_]{1,30}\}")
_NAME: Final = re.compile(r"\{(name|nombre|first_name)\}")
_COMMAND: Final = re.compile(r"(?<![\w/])/[a-z_]{2,30}\b")
# A status or reference code: "Error 404", "#A-1234", "ERR_TIMEOUT", "código 502".
_CODE: Final = re.compile(
    r"(?i:\b(?:error|err|code|codigo|código)[ :_#-]*[a-z]*\d{2,})|#[A-Z]*-?\d{3,}|\b[A-Z]{2,}_[A-Z_]{2,}\b"
)
_QUANTITY: Final = re.compile(
    r"(\d+([.,]\d+)?\s*(g|gr|grs|kg|mg|ml|cl|l|cm|mm|km|km/h|kmh|mph|min|°c?|º|%|€|gb|mb|mbps|oz|lb|lbs|gramos|kilos"
    r"|litros?|minutos|grados|euros|dolares|dollars|pesos|cups?|tazas?|tbsp|tsp|cucharadas?|cucharaditas?|calorias"
    r"|calories|goles|goals|puntos|points|hz|v|w|mah)(?![a-z]))|([$€£]\s*\d)|(\b\d{1,2}:\d{2}\b)|(\b\d+\s*[-–—]\s*\d+\b)|(\b(step|paso)\s*\d+\b)"
)
_HOW_TO: Final = {
    "es": re.compile(r"^\s*para (?:\w+(?:ar|er|ir)(?:lo|la|los|las)?) (?:el|la|los|las|un|una|tu|su)\b[^.,;:]{0,50},"),
    "en": re.compile(r"^\s*to (?:\w+) (?:the|a|an|your)\b[^.,;:]{0,50},"),
}
# A sale: a price offered or a discount ("only $19.99", "now 20% off", "por solo 9,99 €", "un 30 % de descuento").
_SALE: Final = re.compile(
    r"\b(?:only|just|now|from|solo|por solo|ahora|desde)\s*(?:[$€£]\s*\d+(?:[.,]\d+)?|\d+(?:[.,]\d+)?\s*(?:[$€£%]|euros?\b|dollars?\b|dolares\b))"
    r"|\d+\s*%\s*(?:off|de descuento|dto|menos)\b|\b\d\s*x\s*\d\b"
)
_LIST_SPLIT: Final = re.compile(r"[,;/|·•#\n:]+|\s[-–]\s")
_CLAUSE_SPLIT: Final = re.compile(r"[,;/|·•#\n:.!?¡¿…]+|\s[-–]\s")
_SENTENCE_END: Final = re.compile(r"[.!?…]+")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a text is refused, whatever its score: a kind (``Kind``) and a sentence an author can act on."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class DimensionScore:
    """One dimension: its points (0–25), the cues that carried it, what to add, and the whole explanation."""

    name: str
    score: int
    cues: tuple[str, ...]
    advice: str
    why: str


@dataclass(frozen=True, slots=True)
class ConsistencyScore:
    """The four dimension scores of one text, in ``DIMENSIONS`` order, and the problems that refuse it."""

    dimensions: tuple[DimensionScore, ...]
    problems: tuple[Problem, ...] = ()
    language: str = "es"
    shape: str = "line"
    words: int = 0

    @property
    def total(self) -> int:
        return sum(dimension.score for dimension in self.dimensions)

    @property
    def passed(self) -> bool:
        return self.total >= PASSING_SCORE and not self.problems

    def explain(self) -> str:
        """A report an author can act on: the total, the problems, then one line per dimension."""
        verdict = "passes" if self.passed else "FAILS"
        lines = [
            f"Diana consistency: {self.total}/100 ({verdict}, needs {PASSING_SCORE} and no problem); "
            f"{self.shape} of {self.words} words in {LANGUAGE_NAMES.get(self.language, self.language)}"
        ]
        lines += [f"- problem: {problem}" for problem in self.problems]
        lines += [
            f"- {dimension.name}: {dimension.score}/{MAX_PER_DIMENSION}; {dimension.why}"
            for dimension in self.dimensions
        ]
        return "\n".join(lines)


# ── Text preparation ──────────────────────────────────────────────────────────────────────────────


def normalise(text: str) -> str:
    """Case-folded text without accents (NFKD also turns "…" into "..."); "’" becomes "'"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'").replace("ñ", "n"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


def _emoji_stats(text: str) -> tuple[int, int]:
    """How many emoji the text holds (a flag counts once) and the longest run of adjacent emoji."""
    count = longest = run = 0
    flag_half = False
    for char in text:
        if 0x1F1E6 <= ord(char) <= 0x1F1FF:  # regional indicators: two make one flag
            flag_half = not flag_half
            if flag_half:
                continue
        if _is_emoji(char):
            count += 1
            run += 1
            longest = max(longest, run)
        elif char not in _IGNORED_IN_RUNS:
            run = 0
    return count, longest


@dataclass(frozen=True, slots=True)
class _Text:
    raw: str
    plain: str  # without markup, placeholders and commands, normalised
    tokens: tuple[str, ...]
    words: frozenset[str]
    joined: str  # " token token ... "
    named: bool  # addresses the reader by a {name} placeholder
    clean: str  # the raw text without markup, placeholders and commands

    def structure(self, lang: str) -> Structure:
        return features(self.clean, lang)


def _prepare(text: str) -> _Text:
    named = bool(_NAME.search(text))
    stripped = _COMMAND.sub(" ", _PLACEHOLDER.sub(" ", _TAG.sub(" ", text)))
    plain = normalise(stripped)
    tokens = tuple(_TOKEN.findall(plain))
    return _Text(text, plain, tokens, frozenset(tokens), f" {' '.join(tokens)} ", named, stripped)


# ── Cue matching ──────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class _Cue:
    label: str  # the first form, as an author reads it
    forms: tuple[tuple[str, ...], ...]  # each form: its words, a stem ending in "-"
    weight: float
    strong: bool
    contextual: bool = False  # counts only in the company of other cues of its table (see ``_graded_problem``)


def _compile(cue: str) -> _Cue:
    weight, strong, contextual = 1.0, False, False
    if cue.startswith("~"):
        cue, weight = cue[1:], WEAK
    if cue.startswith("!"):
        cue, strong = cue[1:], True
    if cue.startswith("?"):
        cue, contextual = cue[1:], True
    forms = tuple(tuple(form.split()) for form in cue.split("|"))
    label = cue.split("|")[0].replace("-", "…")
    return _Cue(label=label, forms=forms, weight=weight, strong=strong, contextual=contextual)


def _word_matches(pattern: str, token: str) -> bool:
    return token.startswith(pattern[:-1]) if pattern.endswith("-") else token == pattern


def _form_found(form: tuple[str, ...], text: _Text) -> str | None:
    """The words of the text that match ``form``, or None."""
    if len(form) == 1:
        pattern = form[0]
        if pattern.endswith("-"):
            hit = min((token for token in text.words if token.startswith(pattern[:-1])), default=None)
            return hit
        return pattern if pattern in text.words else None
    tokens, size = text.tokens, len(form)
    for start in range(len(tokens) - size + 1):
        if all(_word_matches(pattern, tokens[start + offset]) for offset, pattern in enumerate(form)):
            return " ".join(tokens[start : start + size])
    return None


def _found(cue: _Cue, text: _Text) -> str | None:
    return next((hit for form in cue.forms if (hit := _form_found(form, text)) is not None), None)


_COMPILED: Final[dict[int, tuple[_Cue, ...]]] = {}


def _compiled(cues: tuple[str, ...]) -> tuple[_Cue, ...]:
    key = id(cues)
    if key not in _COMPILED:
        _COMPILED[key] = tuple(_compile(cue) for cue in cues)
    return _COMPILED[key]


def _hits(cues: tuple[str, ...], text: _Text) -> list[tuple[_Cue, str]]:
    return [(cue, hit) for cue in _compiled(cues) if (hit := _found(cue, text)) is not None]


# ── Language ──────────────────────────────────────────────────────────────────────────────────────

_ELISION: Final = re.compile(r"(c|j|l|d|n|t|m|s|qu)'[a-z]+")
_ES_MARKS: Final = re.compile(r"[ñáéíóú¿¡]")
_ES_ENDINGS: Final = (
    "cion",
    "mente",
    "ando",
    "iendo",
    "arte",
    "erte",
    "irte",
    "arla",
    "irla",
    "erla",
    "arlo",
    "ado",
    "ada",
)
_EN_ENDINGS: Final = ("ing", "ght", "ly", "'s", "'t", "ed", "sh", "th")


_RAW_WORD: Final = re.compile(r"[^\W\d_]+")
_FOREIGN_MARKS: Final = {"pt": "ãõêôç", "fr": "èêàùâîôûçœë", "it": "òìèàù", "de": "äöß"}


def detect_language(text: str) -> tuple[str | None, bool]:
    """The language a text is written in and whether that is certain; (None, False) when it cannot tell."""
    prepared = _prepare(text)
    tokens = [token for token in prepared.tokens if token not in {"diana", "vip", "besitos", "besito"}]
    counts = {lang: sum(1 for token in tokens if token in words) for lang, words in STOPWORDS.items()}
    # "t'attend", "j'ai", "l'amore": a one-letter elision is French or Italian, never Spanish or English.
    counts["fr"] += sum(1 for token in tokens if _ELISION.fullmatch(token))
    # Letters Spanish and English never write ("você", "più", "très", "weiß") weigh double for their languages.
    marked: set[str] = set()
    for word in _RAW_WORD.findall(text.casefold()):
        for lang, marks in _FOREIGN_MARKS.items():
            if any(mark in word for mark in marks):
                counts[lang] += 2
                marked.add(lang)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    (best, first), (_, second) = ranked[0], ranked[1]
    if best in marked and first > second and len(tokens) >= 4:
        return best, True
    if first >= 2 and first >= 2 * second:
        return best, first >= 3 or len(tokens) <= 6
    if first >= 1 and second == 0 and len(tokens) <= 4:
        return best, True
    # Few or no function words: spelling decides (Spanish accents and endings, English letter patterns).
    spanish = len(_ES_MARKS.findall(text)) + sum(
        1 for token in tokens if token.endswith(_ES_ENDINGS) or token.endswith(("ar", "ir"))
    )
    english = sum(1 for token in tokens if token.endswith(_EN_ENDINGS) or "w" in token or "k" in token or "th" in token)
    # One word (a loanword such as "Ranking", a name) is never enough to call it the wrong language.
    several = len(tokens) >= 2
    if spanish > english:
        return "es", several and english == 0
    if english > spanish:
        return "en", several and spanish == 0
    return (best if first else None), False


# ── Refusals ──────────────────────────────────────────────────────────────────────────────────────


def _quote(words: list[str], limit: int = 4) -> str:
    return ", ".join(f"'{word}'" for word in words[:limit])


def _language_problem(text: _Text, lang: str) -> Problem | None:
    detected, certain = detect_language(text.raw)
    if detected is None or detected == lang or not certain:
        return None
    return Problem(
        "wrong_language",
        f"written in {LANGUAGE_NAMES.get(detected, detected)} for a {LANGUAGE_NAMES[lang]} field; "
        f"{_WHY_REFUSED['wrong_language']}: write it in {LANGUAGE_NAMES[lang]}",
    )


# Function words both languages share (kept out of STOPWORDS, which tells the languages apart).
_SHARED_FUNCTION_WORDS: Final = frozenset({"a", "no", "me", "he", "has", "se"})


_PRONOUNS: Final = frozenset("yo tu te ti mi mis me tus i you my your we us nos".split())


def _pieces(splitter: re.Pattern[str], text: _Text) -> list[list[str]]:
    return [
        piece
        for piece in (_TOKEN.findall(normalise(part)) for part in splitter.split(_TAG.sub(" ", text.raw)))
        if piece
    ]


def _salad_problem(text: _Text, lang: str) -> Problem | None:
    tokens = text.tokens
    if len(tokens) < 4:
        return None
    function_words = STOPWORDS[lang] | PERSONAL[lang] | _SHARED_FUNCTION_WORDS
    function_ratio = sum(1 for token in tokens if token in function_words) / len(tokens)

    def bare(piece: list[str]) -> bool:
        return (
            len(piece) <= 3
            and sum(1 for token in piece if token not in function_words) <= 2
            and not set(piece) & PERSONAL[lang]
        )

    clauses = _pieces(_CLAUSE_SPLIT, text)
    bare_clauses = [piece for piece in clauses if bare(piece)]
    sentence_tokens = sum(len(piece) for piece in clauses if not bare(piece))
    listed = _pieces(_LIST_SPLIT, text)
    listy = (
        (len(clauses) >= 5 and len(bare_clauses) >= 0.7 * len(clauses) and sentence_tokens <= 0.5 * len(tokens))
        or (len(listed) >= 4 and all(bare(piece) for piece in listed))
        # "secret. night. you. me. desire.": single words, pronouns included, one after another.
        or (len(clauses) >= 5 and all(len(piece) == 1 or bare(piece) for piece in clauses))
    )
    hashtags = text.raw.count("#") >= 3
    # Words strung without syntax: no punctuation, (almost) no articles, prepositions or conjunctions; or a
    # content word repeated side by side. Pronouns alone ("tú yo") do not make a sentence.
    syntax = sum(1 for token in tokens if token in function_words and token not in _PRONOUNS)
    unpunctuated = not re.search(r"[.,;:!?¡¿…]", text.raw) and len(tokens) >= 6 and syntax / len(tokens) < 0.1
    stuttered = bool(text.structure(lang).repeated) and syntax / len(tokens) < 0.3
    if (len(tokens) >= 5 and function_ratio < 0.12) or listy or hashtags or unpunctuated or stuttered:
        sample = [token for token in tokens if token not in function_words][:5]
        return Problem(
            "salad",
            f"{len(tokens)} words but no sentences ({_quote(sample, 5)}...); {_WHY_REFUSED['salad']}: "
            "say one thing to the reader in full sentences",
        )
    return None


def _offtopic_problem(text: _Text, lang: str, voice_evidence: float) -> Problem | None:
    found: dict[str, list[str]] = {}
    for domain, cues in DOMAINS[lang].items():
        for _, hit in _hits(cues, text):
            found.setdefault(domain, []).append(hit)
    terms = [hit for hits in found.values() for hit in hits]
    # Everyday words (a train, a hotel, the weather) count half: Diana's scenes may hold one or two.
    weight = sum(len(hits) * (WEAK if domain == "other" else 1.0) for domain, hits in found.items())
    quantities = [match.group(0).strip() for match in _QUANTITY.finditer(text.plain)]
    # A how-to opening ("Para cambiar la rueda, ...", "To reset the router, ...") counts as one more term.
    quantities += [match.group(0).strip(" ,") for match in _HOW_TO[lang].finditer(text.plain)][:1]
    # A price offered or a discount is a sale whatever the words around it: it counts as one more term.
    quantities += [match.group(0).strip() for match in _SALE.finditer(text.plain)][:1]
    words = len(text.tokens)
    refused = weight + min(2, len(quantities)) >= max(2.0, words / 40) or (
        any(domain != "other" for domain in found) and 2 <= words <= LABEL_WORDS and voice_evidence == 0
    )
    if not refused:
        return None
    domain = max(found, key=lambda name: (len(found[name]), name)) if found else "numbers and units"
    names = {"recipe": "a recipe", "manual": "a technical manual", "ad": "an advertisement", "sports": "sports",
             "legal": "legal text", "horoscope": "a horoscope", "other": "everyday information",
             "numbers and units": "quantities and units"}  # fmt: skip
    evidence = _quote(terms + quantities, 5)
    return Problem(
        "offtopic",
        f"reads as {names[domain]} ({evidence}); {_WHY_REFUSED['offtopic']}: rewrite it as something Diana would say to you",
    )


def _graded_problem(
    kind: str, cues: tuple[str, ...], text: _Text, weak_needed: int, patterns: list[str] | None = None
) -> Problem | None:
    """Refused with one strong cue or pattern (see ``register``), or ``weak_needed`` weak cues.

    A contextual cue ("?" in the lexicon: "please", "error", words a story uses too) counts only in context:
    with another cue of the same table, a code ("Error 404") or a command ("/start").
    """
    hits = _hits(cues, text)
    plain_hits = [(cue, hit) for cue, hit in hits if not cue.contextual]
    if not (plain_hits or patterns or _CODE.search(text.clean) or _COMMAND.search(text.raw)):
        hits = plain_hits
    strong = list(patterns or []) + [f"'{hit}'" for cue, hit in hits if cue.strong]
    weak = [hit for cue, hit in hits if not cue.strong]
    if not strong and len(weak) < weak_needed:
        return None
    evidence = strong + [f"'{hit}'" for hit in weak]
    return Problem(kind, f"{', '.join(evidence[:4])}; {_WHY_REFUSED[kind]}")


def _mascot_problem(text: _Text, lang: str) -> Problem | None:
    emoji, run = _emoji_stats(text.raw)
    exclamations = text.raw.count("!")
    hits = _hits(MASCOT[lang], text)
    cheer = [hit for _, hit in hits]
    strong = [hit for cue, hit in hits if cue.strong]
    shouting = "!!" in text.raw or "¡¡" in text.raw or bool(re.search(r"([a-z])\1\1", text.plain))
    capitals = sum(1 for word in re.findall(r"\b[A-ZÁÉÍÓÚÑ]{3,}\b", text.raw) if word not in {"VIP", "JSON", "XTR"})
    marks = emoji + exclamations
    if not (emoji >= 3 or run >= 2 or shouting or capitals >= 2 or (strong and marks >= 1) or len(cheer) >= 2
            or (cheer and emoji >= 1 and exclamations >= 1) or exclamations >= 3):  # fmt: skip
        return None
    evidence = []
    if emoji:
        evidence.append(f"{emoji} emoji")
    if exclamations:
        evidence.append(f"{exclamations} exclamation marks")
    evidence += [f"'{word}'" for word in cheer[:3]]
    return Problem("mascot", f"{', '.join(evidence)}; {_WHY_REFUSED['mascot']}: one emoji at most, let the words do it")


# ── Voice ─────────────────────────────────────────────────────────────────────────────────────────


def _some(label: str, found: tuple[str, ...], weight: float, limit: float) -> list[tuple[str, float]]:
    """Up to ``limit`` worth of ``found`` as evidence, ``weight`` each, labelled for the explanation."""
    count = min(len(found), round(limit / weight))
    return [(f"{label} '{item}'", weight) for item in found[:count]]


def _structural(structure: Structure, named: bool) -> dict[str, list[tuple[str, float]]]:
    """Per dimension, what the grammar of one text (or one paragraph of a passage) shows, and its weight."""
    found: dict[str, list[tuple[str, float]]] = {name: [] for name in DIMENSIONS}
    # Mysterious: what is held back.
    if structure.ellipsis:
        found["mysterious"].append(("...", 1.0))
    found["mysterious"] += _some("held back:", structure.modal, WEAK, 1.0)
    if structure.teaser:
        # A narrator's teaser: a woman who knows, keeps or chooses something the reader wants to learn.
        found["mysterious"].append((f"a teaser's hook: '{structure.hooks[0]}'", 1.0))
        found["seductive"].append((f"a woman the reader follows: '{structure.heroine[0]}'", WEAK))
    # Seductive: closeness, "I" speaking to "you".
    if structure.dialogue or (structure.first and named):
        found["seductive"].append(("'I' speaking to 'you'", 1.0))
    elif named or structure.second or structure.imperatives:
        found["seductive"].append(("speaks to you", WEAK))
    if structure.imperatives:
        found["seductive"].append((f"asks you: '{structure.imperatives[0]}'", WEAK))
    found["seductive"] += _some("closeness:", structure.we, WEAK, WEAK)
    # Emotional: the speaker's inner life and its counterweight.
    if structure.subjective and structure.first:
        found["emotional"].append((f"her inner life: '{structure.subjective[0]}'", 1.0))
    elif structure.first:
        found["emotional"].append(("she speaks as 'I'", WEAK))
    found["emotional"] += _some("counterweight:", structure.contrast, WEAK, WEAK)
    found["emotional"] += _some("intensity:", structure.intensity, WEAK, WEAK)
    # Intellectual: something to think about.
    if structure.questions:
        found["intellectual"].append(("a question", 1.0))
    for label, items in (
        ("a condition:", structure.condition),
        ("a reason:", structure.reason),
        ("a comparison:", structure.comparison),
        ("a general claim:", structure.general),
        ("a contrast:", structure.contrast),
    ):
        found["intellectual"] += _some(label, items, WEAK, WEAK)
    return found


_PARAGRAPH: Final = re.compile(r"\n\s*\n|\n(?=\s*[—–-])")


def _blocks(text: _Text) -> list[str]:
    """The paragraphs of a passage; one long paragraph is cut every few sentences (about ``BLOCK_WORDS`` words)."""
    blocks: list[str] = []
    for paragraph in _PARAGRAPH.split(text.clean):
        current: list[str] = []
        for sentence in re.split(r"(?<=[.!?…])\s+", paragraph.strip()):
            current.append(sentence)
            if len(_TOKEN.findall(normalise(" ".join(current)))) >= BLOCK_WORDS:
                blocks.append(" ".join(current))
                current = []
        if current and (not blocks or len(_TOKEN.findall(normalise(" ".join(current)))) >= BLOCK_WORDS // 3):
            blocks.append(" ".join(current))
        elif current:
            blocks[-1] += " " + " ".join(current)
    return [block for block in blocks if block.strip()]


def _evidence(text: _Text, lang: str) -> dict[str, list[tuple[str, float]]]:
    """Per dimension, what carries it (as the author reads it) and its weight: cues, then the text's structure.

    A passage's structure is read paragraph by paragraph: a voice kept up through the whole passage (she
    speaks to you, then again, then again) counts for more than one turn of phrase, up to ``PASSAGE_STRUCTURE``.
    """
    found: dict[str, list[tuple[str, float]]] = {}
    for name in DIMENSIONS:
        found[name] = [(hit, cue.weight) for cue, hit in _hits(VOICE[lang][name], text)]
    blocks = _blocks(text) if len(text.tokens) >= DENSE_WORDS else []
    if len(blocks) < 2:
        for name, items in _structural(text.structure(lang), text.named).items():
            found[name] += items
        return found
    for name in DIMENSIONS:
        budget = PASSAGE_STRUCTURE
        for index, block in enumerate(blocks, 1):
            for label, weight in _structural(features(block, lang), text.named)[name]:
                if budget <= 0:
                    break
                found[name].append((f"{label} (paragraph {index})", min(weight, budget)))
                budget -= weight
    return found


def _shape(text: _Text, lang: str) -> tuple[str, float]:
    """The shape of a text ("label", "line", "passage") and the evidence it must carry (see the module docstring)."""
    words = len(text.tokens)
    structure = text.structure(lang)
    personal = text.named or structure.personal
    if words <= LABEL_WORDS:
        sentence = words >= 3 and text.raw.rstrip().endswith((".", "…")) and "?" not in text.raw
        if personal or not sentence:
            return "label", 0.0
    if words < DENSE_WORDS:
        need = LINE_NEED if words < LONG_LINE_WORDS else LONG_LINE_NEED if words < PASSAGE_WORDS else SHORT_PASSAGE_NEED
        shape = "line" if words < PASSAGE_WORDS else "short passage"
        # A teaser speaks of her as a narrator would: it is not the flat narration the extra guards against.
        return shape, need if personal or structure.teaser else need + IMPERSONAL_EXTRA
    need = 2.0 if words < LONG_PASSAGE_WORDS else 3.0
    return "passage", need if personal else need + IMPERSONAL_EXTRA


def _why(score: int, carried: list[str], note: str, advice: str, cap: Problem | None) -> str:
    parts = [f"carried by {_quote(carried, 5)}" if carried else "nothing carries it"]
    if note:
        parts.append(note)
    if cap is not None:
        parts.append(f"penalised ({cap.kind}): {_WHY_REFUSED.get(cap.kind, cap.message)}")
    if score < MAX_PER_DIMENSION and cap is None:
        parts.append(f"to raise it, {advice}")
    return "; ".join(parts)


def score_text(text: str, lang: str = "es") -> ConsistencyScore:
    """Score ``text`` as something Diana says in ``lang`` ("es" or "en"); see the module docstring."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {LANGUAGES}, not {lang!r}")
    prepared = _prepare(text)
    evidence = _evidence(prepared, lang)
    totals = {name: min(4.0, sum(weight for _, weight in evidence[name])) for name in DIMENSIONS}
    problems = [
        problem
        for problem in (
            _language_problem(prepared, lang),
            _salad_problem(prepared, lang),
            _offtopic_problem(prepared, lang, sum(totals.values())),
            _graded_problem("rude", RUDE[lang], prepared, 2, matches(RUDE_PATTERNS[lang], prepared.plain)),
            _graded_problem("crude", CRUDE[lang], prepared, 2, matches(CRUDE_PATTERNS[lang], prepared.plain)),
            _graded_problem("system", SYSTEM[lang], prepared, 2),
            _mascot_problem(prepared, lang),
        )
        if problem is not None
    ]
    if problems and problems[0].kind == "wrong_language":
        problems = problems[:1]  # judged in the wrong terms, the rest says nothing

    shape, need = _shape(prepared, lang)
    words = len(prepared.tokens)
    scores: dict[str, int] = {}
    notes: dict[str, str] = {}
    if shape == "label":
        for name in DIMENSIONS:
            scores[name] = MAX_PER_DIMENSION if totals[name] > 0 else LABEL_BASE
            notes[name] = f"a label of {words} word{'' if words == 1 else 's'} is judged on register, not depth"
    elif shape in ("line", "short passage"):
        # Every dimension starts at ``base`` and earns ``step`` for full evidence: the total reaches the pass
        # mark exactly when the evidence (at most 1 per dimension) adds up to ``need``.
        step = (MAX_PER_DIMENSION * 4 - PASSING_SCORE) / (4 - need)
        base = MAX_PER_DIMENSION - step
        # A dimension carried twice over lends a little to the thinnest one ("an abundance of mystery").
        spare = min(OVERFLOW_CAP, OVERFLOW_SHARE * sum(max(0.0, min(2.0, totals[name]) - 1) for name in DIMENSIONS))
        for name in sorted(DIMENSIONS, key=lambda dimension: totals[dimension]):
            lent = min(spare, max(0.0, 1 - totals[name]))
            if lent > 0:
                totals[name] += lent
                spare -= lent
                evidence[name].append(("lent by a richer dimension", lent))
        have = sum(min(1.0, totals[name]) for name in DIMENSIONS)
        for name in DIMENSIONS:
            scores[name] = math.ceil(base + step * min(1.0, totals[name]))
            notes[name] = (
                "" if totals[name] >= 1 else
                f"a {shape} of {words} words needs evidence worth {need:g} across the dimensions, it has {have:g}"
            )  # fmt: skip
    else:
        for name in DIMENSIONS:
            missing = max(0.0, need - totals[name])
            scores[name] = max(0, MAX_PER_DIMENSION - round(PASSAGE_UNIT_COST * missing))
            notes[name] = (
                f"a passage of {words} words needs {need} cues here, found {totals[name]:g}" if missing else ""
            )

    caps: dict[str, Problem] = {}
    for problem in problems:
        for name, cap in _CAPS[problem.kind].items():
            if scores[name] > cap:
                scores[name] = cap
                caps.setdefault(name, problem)
    if not problems and sum(scores.values()) < PASSING_SCORE:
        thin = [name for name in DIMENSIONS if scores[name] < MAX_PER_DIMENSION]
        problems.append(
            Problem(
                "flat",
                f"no inner life: the {shape} does not carry enough of Diana ({', '.join(thin)} thin); "
                "add what she feels, hides, wonders or wants from you",
            )  # fmt: skip
        )

    dimensions = tuple(
        DimensionScore(
            name=name,
            score=scores[name],
            cues=tuple(cue for cue, _ in evidence[name]),
            advice="" if scores[name] == MAX_PER_DIMENSION else _ADVICE[lang][name],
            why=_why(
                scores[name], [cue for cue, _ in evidence[name]], notes[name], _ADVICE[lang][name], caps.get(name)
            ),
        )
        for name in DIMENSIONS
    )
    return ConsistencyScore(dimensions=dimensions, problems=tuple(problems), language=lang, shape=shape, words=words)
