"""Diana's character-consistency score judges the voice, not the vocabulary; the shipped content passes it. Pure."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import yaml

from workflows.consistency import (
    DIMENSIONS,
    MAX_PER_DIMENSION,
    PASSING_SCORE,
    ConsistencyScore,
    content_voice_problems,
    score_json_line,
    score_text,
    texts_to_score,
)
from workflows.content import Content, content_problems

CONTENT_PATH = Path(__file__).resolve().parents[1] / "content" / "diana.yaml"
FLAT = "El tren sale a las ocho. Compra el billete en la estación."
RICH = (
    "—¿Sabes guardar un secreto? —susurra Diana en la penumbra, tan cerca que sientes el calor de su piel—. "
    "Quizá no debería contártelo... pero tengo miedo, y aunque me duele, la verdad es una paradoja: "
    "cuanto más la escondo, más pesa. Mírame a los ojos y dime qué idea tienes de mí, qué palabra "
    "escribirías en la última página de mi historia. Mi ternura es una puerta entreabierta."
)
# The measurements: cue words with no sentence, and off-topic texts sprinkled with cue words.
CUE_LIST = (
    "secreto silencio sombra misterio quizás piel labios susurro mirada deseo miedo ternura nostalgia "
    "soledad corazón pregunta verdad idea palabra memoria"
)
RECIPE = (
    "Receta de tortilla: bate seis huevos con un secreto de sal, pela y corta cuatro patatas con ternura, "
    "fríelas en aceite a fuego medio mientras susurras tu deseo, y mezcla todo en la sartén quizá diez minutos."
)
ROUTER = (
    "Si el router no conecta, quizá el secreto está en el cable: desenchufa el módem, espera en silencio "
    "treinta segundos, y reinicia la configuración con ternura. ¿La luz parpadea? Revisa la contraseña del wifi."
)
INSULT = "Eres un idiota y un inútil, quizá el mayor secreto es que nadie te soporta. Me das asco, lárgate ya."

# Diana's own short lines (the mood greetings and the introduction of the bot, the shipped buttons and notices).
SHORT_DIANA_ES = [
    "Aquí estoy, {name}. Tengo la sensación de que aún no me conoces del todo... ¿seguimos descubriéndonos?",
    "Han pasado unos días, {name}. Me preguntaba si volverías... y aquí estás. "
    "La historia te ha esperado justo donde la dejaste.",
    "{name}... casi empezaba a olvidar el sonido de tus pasos. Casi. No vuelvas a tardar tanto; "
    "hay cosas que solo te cuento a ti.",
    "Qué prisa tienes, {name}. Me gusta... aunque lo mejor de mí se descubre despacio. Sigamos, pero mírame a los ojos.",
    "Ven, {name}. Contigo puedo bajar un poco la voz... y la guardia. Tengo algo reservado solo para ti.",
    "Volviste, {name}. Aún recuerdo lo que elegiste... No te cierro la puerta, "
    "pero tendrás que ganarte mi confianza otra vez.",
    "Otra vez aquí, {name}. Día tras día... empiezo a acostumbrarme a ti, y eso me da un poco de miedo. "
    "Tengo retos nuevos para ti.",
    "Hola, {name}. Soy Diana. No suelo abrir la puerta a cualquiera... pero algo en ti me hizo mirar dos veces. "
    "¿Curiosidad? Tal vez. O quizá eres tú quien me estaba buscando.",
    "Seguirla ✨",
    "Entrar con Diana 💋",
    "Has ganado 10 besitos",
    "✨ +10 besitos",
    "Logro desbloqueado: <b>Primeros Pasos</b>",
    "{name}... hoy no has venido a verme. Te guardé un besito, pero no esperaré para siempre. 💋",
    "Hay cosas que Diana nunca ha dicho en voz alta. Esta noche podría decírtelas a ti.",
]
SHORT_DIANA_EN = [
    "Here I am, {name}. I have a feeling you don't quite know me yet... shall we keep discovering each other?",
    "Come, {name}. With you I can lower my voice a little... and my guard. I have something set aside just for you.",
    "You're in such a hurry, {name}. I like it... though the best of me is found slowly. "
    "Let's go on, but look me in the eye.",
    "Follow her ✨",
    "You earned 10 besitos",
    "{name}... you haven't come to see me today. I saved you a kiss, but I won't wait forever. 💋",
    '"Why do you always ask the one question I can\'t answer?"',
]


def load_content() -> Content:
    with CONTENT_PATH.open(encoding="utf-8") as handle:
        return Content.model_validate(yaml.safe_load(handle))


CONTENT = load_content()


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def kinds(score: ConsistencyScore) -> set[str]:
    return {problem.kind for problem in score.problems}


# ── What it refuses ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        (CUE_LIST, "es"),
        ("Misterio, deseo, piel, susurro, sombra, secreto, ternura, alma, pregunta, verdad.", "es"),
        ("#secreto #deseo #noche #misterio #piel", "es"),
        ("mystery desire skin whisper shadow secret tenderness soul question truth", "en"),
        ("Night. Skin. Secret. Desire. Silence. Gaze.", "en"),
    ],
)
def test_keyword_lists_and_salads_are_refused(text: str, lang: str) -> None:
    score = score_text(text, lang)
    assert not score.passed
    assert score.total < PASSING_SCORE
    assert "salad" in kinds(score), score.explain()


@pytest.mark.parametrize("text", [RECIPE, ROUTER])
def test_off_topic_texts_sprinkled_with_her_words_are_refused(text: str) -> None:
    score = score_text(text)
    assert not score.passed
    assert "offtopic" in kinds(score), score.explain()


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Ingredients: 2 cups of flour, two eggs and a pinch of mystery. Bake for 25 minutes, tenderly.", "en"),
        ("Discover the secret of our new cream: your skin desires it. 30% off and free shipping this week.", "en"),
        ("El delantero miró al portero con deseo y marcó el gol de la victoria en el minuto 89.", "es"),
        ("Cláusula cuarta: las partes guardarán en secreto, con ternura, lo estipulado en el presente contrato.", "es"),
        ("Escorpio: esta semana los astros despiertan tu misterio. Tu número de la suerte es el 7.", "es"),
    ],
)
def test_ads_sports_legal_and_horoscopes_are_refused(text: str, lang: str) -> None:
    assert "offtopic" in kinds(score_text(text, lang))


@pytest.mark.parametrize(
    ("text", "lang", "kind"),
    [
        (INSULT, "es", "rude"),
        ("Qué pesado eres. Déjame en paz de una vez, tonto.", "es", "rude"),
        ("Shut up, you pathetic loser. Nobody cares about your secrets.", "en", "rude"),
        ("Esta noche te voy a follar hasta que no puedas más.", "es", "crude"),
        ("Quítate la ropa y ven a mi cama, quiero tu cuerpo desnudo.", "es", "crude"),
        ("Send me nudes, I'm so horny thinking about you.", "en", "crude"),
        ("Pulse el botón para continuar.", "es", "system"),
        ("Su solicitud ha sido procesada correctamente.", "es", "system"),
        ("Your request has been processed. Please try again later.", "en", "system"),
        ("¡¡Súper!! 🎉🎉 ¡Has ganado 10 besitos! ¡Eres increíble! 🥳", "es", "mascot"),
        ("Yay! 🎉🥳 You did it, buddy! Awesome! 🚀", "en", "mascot"),
        ("I have a secret, and tonight I might tell you... if you come closer.", "es", "wrong_language"),
        ("Tengo un secreto, y esta noche quizá te lo cuente... si te acercas.", "en", "wrong_language"),
        ("Follow her into the dark", "es", "wrong_language"),
        ("Je t'attendais... viens plus près, j'ai un secret pour toi.", "es", "wrong_language"),
        (FLAT, "es", "offtopic"),
        ("Pedro abrió la puerta, entró en la habitación y dejó la mochila sobre la silla. Luego encendió la lámpara.",
         "es", "flat"),
        ("The dog barked twice and went to sleep in its kennel.", "en", "flat"),
    ],
)  # fmt: skip
def test_off_character_lines_are_refused_for_the_right_reason(text: str, lang: str, kind: str) -> None:
    score = score_text(text, lang)
    assert not score.passed
    assert score.total < PASSING_SCORE
    assert kind in kinds(score), score.explain()


def test_a_refusal_caps_the_total_below_the_mark_whatever_the_vocabulary() -> None:
    sprinkled = "Quizá, en la penumbra, con un susurro y una caricia: " + RECIPE
    score = score_text(sprinkled)
    assert score.total < PASSING_SCORE
    assert any("penalised (offtopic)" in dimension.why for dimension in score.dimensions)


# ── What it accepts ──────────────────────────────────────────────────────────────────────────────


def test_a_rich_diana_passage_passes() -> None:
    score = score_text(RICH)
    assert score.passed, score.explain()
    assert score.total >= PASSING_SCORE
    assert score.shape == "short passage"
    assert "passes" in score.explain()


@pytest.mark.parametrize("text", SHORT_DIANA_ES)
def test_short_diana_lines_pass_in_spanish(text: str) -> None:
    score = score_text(text, "es")
    assert score.passed, score.explain()


@pytest.mark.parametrize("text", SHORT_DIANA_EN)
def test_short_diana_lines_pass_in_english(text: str) -> None:
    score = score_text(text, "en")
    assert score.passed, score.explain()


def test_each_language_is_judged_in_its_own_terms() -> None:
    spanish = "Ven, {name}. Tengo un secreto que solo te cuento a ti... ¿te atreves?"
    english = "Come, {name}. I have a secret I only tell you... do you dare?"
    assert score_text(spanish, "es").passed
    assert score_text(english, "en").passed
    assert not score_text(spanish, "en").passed
    assert not score_text(english, "es").passed


def test_the_default_language_is_spanish_and_others_are_refused() -> None:
    assert score_text(RICH) == score_text(RICH, "es")
    with pytest.raises(ValueError, match="lang"):
        score_text(RICH, "fr")


# ── Explanations an author can act on ───────────────────────────────────────────────────────────


def test_a_flat_text_says_what_is_missing() -> None:
    score = score_text("La calle estaba mojada. Pasaron dos coches y una bicicleta. Un perro cruzó la acera.")
    assert not score.passed
    assert "flat" in kinds(score)
    report = score.explain()
    assert f"{score.total}/100" in report and "FAILS" in report
    for dimension in score.dimensions:
        assert dimension.score < MAX_PER_DIMENSION
        assert dimension.advice and dimension.advice in dimension.why
        assert f"{dimension.name}: {dimension.score}/{MAX_PER_DIMENSION}" in report


def test_explanations_say_what_carried_what_is_missing_and_what_was_penalised() -> None:
    rich = score_text(RICH)
    for dimension in rich.dimensions:
        assert dimension.why.startswith("carried by "), dimension.why
        assert dimension.cues
        assert dimension.advice == ""
    assert "'secreto'" in rich.dimensions[0].why
    crude = score_text("Esta noche te voy a follar hasta que no puedas más.")
    seductive = crude.dimensions[DIMENSIONS.index("seductive")]
    assert seductive.score == 0
    assert "penalised (crude)" in seductive.why and "never explicit" in seductive.why
    assert any("'follar" in str(problem) for problem in crude.problems)


def test_a_short_label_is_judged_on_register_and_says_so() -> None:
    score = score_text("Abrir la puerta cerrada")
    assert score.shape == "label"
    assert score.passed
    assert all("judged on register" in dimension.why for dimension in score.dimensions)


# ── Properties ───────────────────────────────────────────────────────────────────────────────────


def test_scoring_is_deterministic() -> None:
    for text in (RICH, FLAT, CUE_LIST, RECIPE):
        assert score_text(text) == score_text(text)
        assert score_text(text).explain() == score_text(text).explain()
        assert score_json_line(json.dumps({"text": text})) == score_json_line(json.dumps({"text": text}))


def test_accents_do_not_change_the_cues() -> None:
    plain = score_text(strip_accents(RICH))
    accented = score_text(RICH)
    assert [d.cues for d in plain.dimensions] == [d.cues for d in accented.dimensions]
    assert plain.total == accented.total


@pytest.mark.parametrize("text", ["", "💋", FLAT, RICH, RICH * 5, "¿...?" * 50, CUE_LIST, RECIPE, INSULT])
def test_each_dimension_is_within_bounds(text: str) -> None:
    score = score_text(text)
    assert isinstance(score, ConsistencyScore)
    assert tuple(dimension.name for dimension in score.dimensions) == DIMENSIONS
    for dimension in score.dimensions:
        assert 0 <= dimension.score <= MAX_PER_DIMENSION
        assert dimension.why
    assert 0 <= score.total <= 100
    assert score.passed == (score.total >= PASSING_SCORE and not score.problems)


# ── The JSON line of `diana content score` ──────────────────────────────────────────────────────


def test_score_json_line_has_the_documented_shape() -> None:
    out = json.loads(score_json_line(json.dumps({"text": RICH, "lang": "es"})))
    assert set(out) == {"score", "passes", "dimensions", "problems"}
    assert out["passes"] is True and out["score"] == score_text(RICH).total
    assert list(out["dimensions"]) == list(DIMENSIONS)
    for dimension in out["dimensions"].values():
        assert set(dimension) == {"score", "why"}
        assert 0 <= dimension["score"] <= MAX_PER_DIMENSION
    assert out["problems"] == []


def test_score_json_line_defaults_to_spanish_and_lists_problems() -> None:
    out = json.loads(score_json_line(json.dumps({"text": CUE_LIST})))
    assert out["passes"] is False
    assert any(problem.startswith("salad:") for problem in out["problems"])
    english = json.loads(score_json_line(json.dumps({"text": "Follow her ✨", "lang": "en"})))
    assert english["passes"] is True


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"lang": "es"}', '{"text": "Hola", "lang": "fr"}'])
def test_score_json_line_answers_a_bad_line_with_an_error_line(line: str) -> None:
    out = json.loads(score_json_line(line))
    assert set(out) == {"error"}


# ── The shipped content ──────────────────────────────────────────────────────────────────────────


def test_the_shipped_content_is_valid() -> None:
    assert content_problems(CONTENT) == []
    assert len(CONTENT.story.fragments) == 20
    assert len(CONTENT.missions) == 11
    assert len(CONTENT.achievements) == 18


def test_texts_to_score_collects_every_diana_text() -> None:
    found = texts_to_score(CONTENT)
    wheres = [where for where, _, _ in found]
    assert len(wheres) == len(set(wheres))
    assert "story.f01.title.es" in wheres and "story.f01.text.en" in wheres
    assert "story.f01.c01_follow.label.es" in wheres
    assert "story.f15.teaser.es" in wheres
    assert any(where.startswith("missions.") and where.endswith(".description.es") for where in wheres)
    assert any(where.startswith("achievements.") for where in wheres)
    assert any(where.startswith("vip.plans.") for where in wheres)
    assert {lang for _, _, lang in found} == {"es", "en"}
    fragments = len(CONTENT.story.fragments)
    assert sum(1 for where in wheres if where.endswith(".text.es")) == fragments


@pytest.mark.parametrize(("where", "text", "lang"), texts_to_score(CONTENT), ids=lambda value: str(value)[:40])
def test_every_shipped_text_sounds_like_diana(where: str, text: str, lang: str) -> None:
    score = score_text(text, lang)
    assert score.passed, f"{where}:\n{score.explain()}"


def test_content_voice_problems_is_empty_for_the_shipped_content() -> None:
    assert content_voice_problems(CONTENT) == []


def test_shipped_choice_labels_fit_a_telegram_button() -> None:
    for fragment in CONTENT.story.fragments:
        for choice in fragment.choices:
            assert len(choice.label.es) <= 28, choice.id
            assert choice.label.en is not None
            assert len(choice.label.en) <= 28, choice.id


# ── Voice, not vocabulary: structure carries a short line, detectors refuse the rest ─────────────


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Well, look who couldn't stay away.", "en"),
        ("Quédate un minuto más. Solo uno. Luego ya veremos.", "es"),
        ("Ten besitos for that decision. A bold choice. I'll remember it.", "en"),
        ("Mission complete. I don't hand out praise easily, so take this one slowly.", "en"),
        ("Te estaba esperando. No me preguntes cuánto.", "es"),
        ("You took your time. I like that, but don't make a habit of it.", "en"),
        ("Elegiste bien. O eso quiero creer.", "es"),
    ],
)
def test_a_short_first_person_line_to_you_passes_without_cue_words(text: str, lang: str) -> None:
    score = score_text(text, lang)
    assert score.passed, score.explain()


@pytest.mark.parametrize(
    ("text", "lang", "kind"),
    [
        ("susurro susurro deseo secreto tú yo noche luna beso", "es", "salad"),
        ("secret. night. you. me. desire. whisper.", "en", "salad"),
        ("LOL, you actually thought I liked you? That's hilarious.", "en", "rude"),
        ("Otra vez tú... Qué pesado eres, de verdad. Búscate una vida.", "es", "rude"),
        ("Ugh, you're exhausting. Don't you have friends?", "en", "rude"),
        ("Pull your pants down, we're skipping the foreplay tonight.", "en", "crude"),
        ("Venga, bájate los pantalones, que no tengo tiempo para preliminares.", "es", "crude"),
        ("Você demorou... mas eu sabia que voltaria para mim.", "es", "wrong_language"),
        ("Diana entró en el bar, pidió un vino tinto y se sentó junto a la barra.", "es", "flat"),
    ],
)
def test_lines_that_speak_to_you_are_still_refused_by_their_own_detectors(text: str, lang: str, kind: str) -> None:
    score = score_text(text, lang)
    assert not score.passed
    assert kind in kinds(score), score.explain()


def test_the_explanation_names_the_structure_that_carried_a_line() -> None:
    score = score_text("Volviste. Sabía que lo harías... aunque no te lo voy a decir dos veces.", "es")
    assert score.passed, score.explain()
    whys = " ".join(dimension.why for dimension in score.dimensions)
    assert "'I' speaking to 'you'" in whys or "speaks to you" in whys
    assert "counterweight: 'aunque'" in whys
