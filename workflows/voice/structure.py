"""How a text is built, not which words it uses: who speaks to whom, and how. Pure, deterministic; stdlib only.

Diana's voice is a person talking to you. That shows in the grammar of a text before its vocabulary:

- a **speaker** ("I", "me", "my"; in Spanish also the verb forms that say "yo": *tengo*, *crucé*, *me*);
- an **addressee** ("you"; in Spanish the *tú* verb forms, *te*/*ti*/*contigo*, and imperatives that
  carry a pronoun: *quédate*, *mírame*), or a command addressed to the reader ("Come.", "Ven.");
- **subjectivity**: the speaker wanting, knowing, remembering, noticing, fearing, preferring;
- **modality**: hedges, conditionals, things withheld ("not yet", "quizá", *diría*), negation by the speaker;
- **thought**: questions, conditions ("if"), reasons ("because"), comparisons ("as if"), general claims
  ("most people"), and contrast ("but", "aunque").

Flat narration has none of these: a third person doing things, with no one speaking and no one spoken to.
``features`` measures a text; ``workflows.voice.scorer`` turns the measure into evidence per dimension.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

_WORD: Final = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_CLAUSE_BREAK: Final = re.compile(r"[.!?¡¿…;:,()\"«»“”\n]+|\s[-–—]\s?|—")
_SENTENCE_BREAK: Final = re.compile(r"[.!?…]+|\n+")


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold().replace("’", "'").replace("ñ", "n"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


# ── Persons ─────────────────────────────────────────────────────────────────────────────────────

_FIRST: Final = {
    "es": _words("""
        yo me mi mis mio mia mios mias conmigo tengo quiero creo soy estoy puedo digo hago voy vengo pienso
        siento prefiero recuerdo espero necesito confieso prometo noto guardo miro callo escondo busco dejo pido
        cuento imagino supongo reconozco conozco sigo vuelvo llevo pregunto admito echo temo debo dudo miento juro
        sueno leo escribo empiezo encuentro he odio adoro extrano invito propongo ofrezco estuve fui hice
        dije vi supe quise pude tuve
    """),
    "en": _words("i me my mine myself i'm i'll i've i'd"),
}
_SECOND: Final = {
    "es": _words("te ti tu tus tuyo tuya tuyos tuyas contigo vos"),
    "en": _words("you your yours yourself yourselves you're you'll you've you'd ya"),
}
_WE: Final = {
    "es": _words("nos nosotros nosotras nuestro nuestra nuestros nuestras juntos juntas sigamos vamos veremos"),
    "en": _words("we us our ours let's together we're we'll we've"),
}
# Spanish "tú" verb forms (the pronoun is usually dropped): a closed list of the common ones plus endings.
_TU_VERB: Final = re.compile(
    r"[a-z]{2,}(abas|aste|iste|aras|ieras|ueras|iras|ias)"
    r"|eres|tienes|quieres|sabes|puedes|vienes|vas|has|haces|dices|piensas|sientes|crees|buscas|miras|llegas"
    r"|vuelves|sigues|necesitas|esperas|prefieres|recuerdas|ves|hayas|seas|quieras|puedas|vengas|vuelvas"
    r"|atreves|estas|tendras|sabras|veras|querras|podras|seras|estaras|haras|diras|volveras|tardas|lees"
    r"|escribes|pides|das|traes|llevas|dejas|elegiste|elijas|mereces|entiendes|conoces|imaginas|notas|callas"
    r"|guardas|escondes|temes|juegas|ganas|pierdes|aprendes|empiezas|vienes|andas|hablas|pasas"
)
_NOT_TU: Final = _words(
    "varias serias diarias contrarias necesarias primarias vias dias tias frias mias tuyas "
    "todavias cias policias noticias caricias delicias ias"
)
_ES_IMPERATIVE: Final = _words("""
    ven mira dime cuentame espera escucha quedate acercate sientate sigue sigueme elige piensa recuerda imagina
    dame toma deja abre cierra confia respira calla guarda vuelve entra sal date ten haz pon di ve anda
    adivina busca lee escribe pasa mirame escuchame abrazame besame llevame perdoname creeme
    prueba atrevete dejame cuidate descansa duerme suena vente corre apaga enciende coge elige preguntame
    acompaname ayudame espérame esperame demuestrame ensename
    trae sube baja sirve pide cuenta cuida intenta mueve aprende canta baila bebe come vuelve olvida pregunta
    apuesta juega gira toca quita acerca trae vigila avisa cuenta cambia
""")
_EN_IMPERATIVE: Final = _words("""
    come stay look tell sit wait listen follow take give let keep hold close open choose pick go stop try think
    remember forget imagine guess read write find bring leave meet walk turn trust breathe say ask show watch hear
    lean kiss touch dare promise answer call save don't never be make stand hurry slow decide consider admit
    confess prove ignore pretend sleep dream rest careful behave enjoy
    move bring put pour wear draw sing dance drink eat run pull push light play join count finish start begin
    knock pack hide forgive learn notice sing laugh smile whisper call write fill help catch throw raise lift
    send mind tell keep bet wake
""")
# Imperatives that are also adjectives ("open on weekends", "close to the sea") when a preposition follows.
_EN_ADJECTIVE_LIKE: Final = _words("open close light free")
_EN_PREPOSITIONS: Final = _words("on to at in until for from")
# An accented Spanish word ending in a pronoun is an imperative or gerund with a clitic: quédate, mírame, contándote.
_CLITIC_ACCENTED: Final = re.compile(r"\w*[áéíóú]\w*(me|te|nos|lo|la|los|las|le|les|se)", re.IGNORECASE)
_GERUND: Final = re.compile(r"\w+(?:ando|iendo|yendo)\w*")
_CLITIC_ME: Final = re.compile(r"[a-z]{3,}(ar|er|ir|ando|iendo)(me|mela|melo|nos)")
_CLITIC_YOU: Final = re.compile(r"[a-z]{3,}(ar|er|ir|ando|iendo)(te|tela|telo)")
# A word ending in an accented é is, in Spanish, almost always "I" (crucé, diré, sé).
_ES_FIRST_ACCENT: Final = re.compile(r"\w+é|\w+í", re.IGNORECASE)
# Imperfect and pluperfect forms shared by "yo" and "ella": estaba, esperaba, tenía, había.
_ES_AMBIGUOUS: Final = re.compile(r"[a-z]{2,}(aba|ia)|estaba|habia|estuve")
_HEROINE_SUBJECTS: Final = _words("ella el diana usted mujer hombre")
# Words that open a sentence without being its subject ("Ya te esperaba", "Anoche te estaba esperando").
_ES_LEAD_WORDS: Final = _words("ya yo y pero aun todavia tambien solo siempre hoy anoche ayer no si cuando mientras")
_ES_NOT_FIRST_ACCENT: Final = _words("que porque cafe bebe jose aqui alli ahi asi si mi ti rubi esqui fe te")

# ── Modality, subjectivity, thought ─────────────────────────────────────────────────────────────

_SUBJECTIVE: Final = {
    "es": (
        "me gusta|me gustan|me gustas|me gustaria|me encanta|me encantas|me da miedo|me dan miedo|me duele|"
        "me alegra|me asusta|me preocupa|me importa|me importas|me pregunto|me acuerdo|me fascina|me desarma|"
        "me apetece|me pierde|me inquieta|me intriga|me muero|me cuesta|me tienta|me halaga|me basta|me temo|"
        "me gusto|me quede|me prometo|me delata|me delatan|me molesta|me sorprende|me sorprendes|"
        "quiero|necesito|echo de menos|siento|temo|noto|recuerdo|espero|deseo|prefiero|confieso|admito|creo|"
        "pienso|imagino|supongo|dudo|extrano|odio|adoro|tengo ganas|tengo miedo|sospecho|sabia|queria|notaba|"
        "pensaba|pense|quise|senti|note|sospeche|entendi|aprendi|sonrei|tuve miedo|lo se|no se|ya se|"
        "sueno con|vigilo|observo|llevo la cuenta|no olvido|no me arrepiento|me arrepiento|reconozco|"
        # The perfect and the progressive of the same inner life: "los he notado", "te estaba esperando".
        "he notado|he pensado|he echado de menos|he esperado|he guardado|he contado|he sentido|he querido|he sonado|"
        "estaba esperando|estaba pensando|estaba contando|llevo esperando|sigo esperando|te esperaba|esperandote"
    ),
    "en": (
        "i like|i love|i want|i need|i miss|i feel|i fear|i notice|i noticed|i remember|i hope|i wish|i prefer|"
        "i admit|i confess|i wonder|i think|i know|i knew|i believe|i hate|i trust|i care|i worry|i suppose|i guess|"
        "i doubt|i imagine|i forget|i adore|i enjoy|i mind|i regret|i'm afraid|i am afraid|i'm scared|i'm curious|"
        "i'm glad|i'm sorry|i'm tired|i'm nervous|i'm starting|i've been|i'd rather|i'd like|i'd love|i kept|"
        "i saved|i wanted|i liked|i loved|i thought|i felt|i missed|i waited|i won't|i don't|i can't|i never|"
        "i'll remember|i'll admit|i'll wait|i'll be|i'm still|i've missed|i keep|i let|i hide|i hid|i watch|"
        "i smiled|i counted|i almost|i nearly|i find|i found|it scares me|scares me|it hurts|frightens me|"
        "makes me|made me|i'm not|i am not|i have|i still|i'm the|i go|i only|i pay|i notice|i'm beginning|"
        "i was counting|i was waiting|i was hoping|i was thinking|i was wondering|i was watching|i was listening|"
        "i've noticed|i have noticed|i've been waiting|i have been waiting|i've counted|i've kept|i've saved"
    ),
}
_MODAL: Final = {
    "es": (
        "quiza|quizas|tal vez|a lo mejor|puede que|acaso|quien sabe|todavia|aun|algun dia|ya veremos|ya veras|"
        "algo|alguien|algun|alguna|apenas|casi|supongo|parece|parecia|como si|ni siquiera|"
        "a medias|de momento|por ahora|mas adelante|otro dia|pronto|ya sabras|lo sabras|no del todo|nunca|"
        "jamas|nadie|nada|sin decir|no te lo|no te dire|no dire|no digo|no lo|cuando quiera|si quiero|"
        "tampoco|solo uno|solo una|hasta que|por si acaso|al menos|por lo menos|no estoy segura|no estoy seguro|ni idea|"
        # Understatement: asking for little, so that the rest is felt ("un momento", "no hace falta").
        "un poco|un momento|un rato|no hace falta|no tienes que|no mucho|solia|solias"
    ),
    "en": (
        "maybe|perhaps|might|could|would|probably|apparently|somehow|somewhere|something|someone|somebody|"
        "not yet|yet|later|one day|someday|who knows|we'll see|you'll see|almost|nearly|barely|never|nobody|"
        "no one|nothing|not quite|for now|for the moment|soon|until|unless|only one|i won't|i don't|i can't|"
        "won't tell|not telling|secret|hidden|half|whatever it is|some other|another time|not everything|"
        # What is denied or left in doubt: a negation, a hedge ("at least"), an open alternative ("whether").
        "not|isn't|wasn't|aren't|weren't|won't|wouldn't|doesn't|didn't|haven't|hasn't|hadn't|couldn't|shouldn't|"
        "at least|whether|not sure|no idea|"
        # Understatement: asking for little, so that the rest is felt ("a little", "no need").
        "a little|a moment|a while|no need|don't have to|not long|used to|already"
    ),
}
_CONTRAST: Final = {
    "es": "pero|aunque|sin embargo|en cambio|sino|mientras|a pesar|menos|aun asi|no obstante|y aun|ni",
    "en": "but|though|although|however|yet|still|instead|even so|even if|whereas|despite|except|rather",
}
_CONDITION: Final = {
    "es": "si|a menos que|salvo que|en caso de|cuando|siempre que|con tal de",
    "en": "if|unless|when|whenever|in case|as long as|provided",
}
_REASON: Final = {
    "es": "porque|asi que|por eso|significa|es decir|por lo tanto|ya que|de modo que|la verdad|en realidad|resulta",
    "en": "because|so|therefore|means|which is why|that's why|the truth|in fact|actually|turns out|the point",
}
_COMPARISON: Final = {
    "es": "como si|como quien|como una|como un|como el|como la|mas que|menos que|mas de lo que|igual que|tanto como",
    "en": "as if|as though|like a|like an|like the|more than|less than|rather than|the way|as much as|than",
}
_GENERAL: Final = {
    "es": (
        "la gente|la mayoria|pocos|pocas|todos|todas|nadie|siempre|cada|las personas|hay personas|hay gente|"
        "quien|quienes|lo que|lo mejor|lo peor|lo bueno|lo malo|los que|las que|el que|la que"
    ),
    "en": (
        "people|most|few|everyone|everybody|nobody|always|every|anyone|those who|the ones|whoever|what i|"
        "what you|the best|the worst|some people|some|the kind|those|anyone"
    ),
}
_INTENSITY: Final = {
    "es": "tan|tanto|demasiado|mas de lo que|tanta|tantas|de verdad",
    "en": "so|too|such|how much|more than|really|truly|terribly|rather",
}

# A teaser's hook: a narrated woman who knows, keeps, hides or chooses something, a thing locked or missing,
# a question left open, a game that goes on "this time". Present tense: past-tense narration of what someone
# did ("she waited", "guardó las piezas") is a report, not a hook.
_HOOK: Final = {
    "es": (
        "sabe exactamente|sabe donde|sabe lo que|sabe quien|sabe por que|sabe cuando|guardando|esconde|escondiendo|"
        "oculta|ocultando|elige no|decide no|se niega|finge|se atreve|se pregunta|secreto|secretos|"
        "bajo llave|sin abrir|sin respuesta|una pregunta|"
        "lleva anos|desde hace anos|nadie sabe|solo ella|lo que ella|te pide|te invita|te espera|no piensa|"
        "no quiere decir|no dira"
    ),
    "en": (
        "knows exactly|knows where|knows what|knows who|knows why|knows when|hides|hiding|chooses not|decides not|"
        "refuses|pretends|dares|wonders|secret|secrets|missing|unopened|unanswered|unsaid|a question|"
        "for years|no one knows|nobody knows|asks you|invites you|waits for you|waiting for you|only she|"
        "what she|won't say|will not say|doesn't say|never says"
    ),
}
# Participles that are a hook as a state ("a locked piano", "una carta sellada") but a mundane action in a report
# of the past ("she sealed it", "había perdido las llaves"): they count only when the text is not narrated in the past.
_STATE_HOOK: Final = {
    "es": "perdida|perdido|cerrado con llave|cerrada con llave|sellada|sellado",
    "en": "locked|sealed|lost",
}
# A story that goes on ("the game continues; this time...") is a serial's hook, in the present of a teaser (not in a
# report of the past), and only as a pair: the story goes on, and something is new this time.
_CONTINUATION: Final = {
    "es": "esta vez|continua|continuara|sigue en pie|no ha terminado",
    "en": "this time|continues|goes on|to be continued|isn't over|is not over",
}
# Narration in the past: a preterite ("she took", "tomó", "fue"), what a report of mundane actions is written in.
_EN_PAST: Final = _words("""
    was were had took went came got left sat saw said told made found bought ate drank ran stood put lost knew
    thought felt kept gave wrote began brought met paid drove rode woke slept spent sent
""")
_EN_PAST_AFTER: Final = _words("she he they it diana we i then and")
_ES_PAST: Final = _words("fue fueron tuvo hizo dijo estuvo puso vino pudo supo quiso dio vio anduvo trajo habia habian")


def _past(lang: str, raw_words: list[str], tokens: tuple[str, ...]) -> bool:
    if lang == "es":
        return any(word.endswith(("ó", "Ó")) and len(word) > 2 for word in raw_words) or any(
            token in _ES_PAST for token in tokens
        )
    return any(
        token in _EN_PAST or (token.endswith("ed") and index > 0 and tokens[index - 1] in _EN_PAST_AFTER)
        for index, token in enumerate(tokens)
    )


# The woman a teaser is about: Diana, "she", "a woman".
_HEROINE: Final = {
    "es": _words("ella diana mujer dama senora desconocida"),
    "en": _words("she her herself diana woman lady stranger"),
}


def _phrases(spec: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(phrase.split()) for phrase in spec.split("|"))


_COMPILED: Final[dict[str, tuple[tuple[str, ...], ...]]] = {}


def _compiled(spec: str) -> tuple[tuple[str, ...], ...]:
    if spec not in _COMPILED:
        _COMPILED[spec] = _phrases(spec)
    return _COMPILED[spec]


def find_phrases(spec: str, tokens: tuple[str, ...]) -> list[str]:
    """The distinct phrases of ``spec`` ("a|b c|...") found in ``tokens``, in the order of ``spec``."""
    found: list[str] = []
    for phrase in _compiled(spec):
        size = len(phrase)
        for start in range(len(tokens) - size + 1):
            if tokens[start : start + size] == phrase:
                found.append(" ".join(phrase))
                break
    return found


@dataclass(frozen=True, slots=True)
class Structure:
    """What the grammar of a text says about its voice (see the module docstring)."""

    first: tuple[str, ...]  # the words that show a speaker ("I")
    second: tuple[str, ...]  # the words that show an addressee ("you", an imperative)
    imperatives: tuple[str, ...]
    we: tuple[str, ...]
    subjective: tuple[str, ...]
    modal: tuple[str, ...]
    contrast: tuple[str, ...]
    condition: tuple[str, ...]
    reason: tuple[str, ...]
    comparison: tuple[str, ...]
    general: tuple[str, ...]
    intensity: tuple[str, ...]
    questions: int
    exclamations: int
    ellipsis: bool
    sentences: int
    repeated: tuple[str, ...]  # content words repeated side by side ("susurro susurro")
    hooks: tuple[str, ...] = ()  # what a teaser holds back ("knows", "bajo llave", "this time")
    heroine: tuple[str, ...] = ()  # the woman a narrated line is about ("she", "Diana", "una mujer")

    @property
    def teaser(self) -> bool:
        """A narrator's line about a woman with a hook: "a woman who knows exactly where it is"."""
        return bool(self.hooks and self.heroine and not self.first)

    @property
    def personal(self) -> bool:
        """Someone speaks, or someone is spoken to: not impersonal narration."""
        return bool(self.first or self.second or self.imperatives)

    @property
    def dialogue(self) -> bool:
        """The speaker and the addressee are both there: "I" talking to "you"."""
        return bool(self.first and (self.second or self.imperatives))


def _clauses(text: str) -> list[list[str]]:
    return [words for part in _CLAUSE_BREAK.split(text) if (words := [_fold(w) for w in _WORD.findall(part)])]


def _raw_clauses(text: str) -> list[list[str]]:
    """The clauses of ``text`` as its words, unfolded (accents kept: "quédate" is not "quedate")."""
    return [words for part in _CLAUSE_BREAK.split(text) if (words := _WORD.findall(part))]


def _first_person(lang: str, raw_words: list[str], tokens: tuple[str, ...]) -> list[str]:
    # Folding drops the accent that tells "miró"/"dejó" (she looked, left) from "miro"/"dejo" (I look, leave).
    found = [
        token
        for word, token in zip(raw_words, tokens, strict=True)
        if token in _FIRST[lang] and not (lang == "es" and word.endswith(("ó", "Ó")))
    ]
    if lang == "es":
        found += [token for token in tokens if _CLITIC_ME.fullmatch(token)]
        # "Te estaba esperando", "te había guardado": "te" and a verb that could be "I" or "she", with no one
        # else named as its subject, is the speaker doing something to you.
        found += [
            tokens[index + 1]
            for index in range(len(tokens) - 1)
            if tokens[index] == "te" and _ES_AMBIGUOUS.fullmatch(tokens[index + 1])
            and not any(
                token in _HEROINE_SUBJECTS or (word[:1].isupper() and token not in _ES_LEAD_WORDS)
                for word, token in zip(raw_words[max(0, index - 3) : index], tokens[max(0, index - 3) : index], strict=True)
            )
        ]  # fmt: skip
        found += [
            _fold(word)
            for word in raw_words
            if _ES_FIRST_ACCENT.fullmatch(word) and _fold(word) not in _ES_NOT_FIRST_ACCENT
        ]
    return list(dict.fromkeys(found))


def _second_person(lang: str, raw_words: list[str], tokens: tuple[str, ...]) -> list[str]:
    found = [token for token in tokens if token in _SECOND[lang]]
    if lang == "es":
        found += [
            token
            for index, token in enumerate(tokens)
            if token not in _NOT_TU
            and (
                _TU_VERB.fullmatch(token)
                or _CLITIC_YOU.fullmatch(token)
                or (index > 0 and tokens[index - 1] == "no" and len(token) > 3 and token.endswith(("as", "es")))
            )
        ]
        found += [_fold(word) for word in raw_words if _CLITIC_ACCENTED.fullmatch(word) and _fold(word).endswith("te")]
    return list(dict.fromkeys(found))


def _imperatives(lang: str, text: str) -> list[str]:
    found: list[str] = []
    lead_ins = {"well", "now", "so", "oh", "then", "just", "please", "and", "but", "ahora", "pues", "anda", "y", "pero",
                "bueno", "venga", "solo", "oye", "vale", "entonces"}  # fmt: skip
    for raw_clause in _raw_clauses(text):
        clause = [_fold(word) for word in raw_clause]
        lead = 1 if clause[0] in lead_ins and len(clause) > 1 else 0
        words, head, raw_head = clause[lead:], clause[lead], raw_clause[lead]
        if lang == "en":
            after = words[1] if len(words) > 1 else ""
            # "open on weekends", "close to the sea": an adjective, not a command.
            adjective = head in _EN_ADJECTIVE_LIKE and after in _EN_PREPOSITIONS
            if head in _EN_IMPERATIVE and after not in {"is", "was", "are", "were", "of"} and not adjective:
                found.append(head)
        elif head in _ES_IMPERATIVE or (head == "no" and len(words) > 1 and words[1].endswith(("as", "es"))):
            found.append(head if head != "no" else f"no {words[1]}")
        elif _CLITIC_ACCENTED.fullmatch(raw_head) and not _GERUND.fullmatch(head):
            # A clause opened by an accented verb with a pronoun: an imperative (quédate, sírvete, cuídalo).
            found.append(head)
    if lang == "es":
        found += [
            _fold(word)
            for word in _WORD.findall(text)
            if _CLITIC_ACCENTED.fullmatch(word) and len(word) >= 5 and not _fold(word).endswith("te")
            and _fold(word).endswith(("me", "nos"))
        ]  # fmt: skip
    return list(dict.fromkeys(found))


def features(text: str, lang: str) -> Structure:
    """Measure ``text`` (already free of markup and placeholders) as ``lang``; see ``Structure``."""
    raw_words = _WORD.findall(text)
    tokens = tuple(_fold(word) for word in raw_words)
    sentences = [part for part in _SENTENCE_BREAK.split(text) if _WORD.search(part)]
    repeated = tuple(
        dict.fromkeys(
            token for index, token in enumerate(tokens[1:], 1) if token == tokens[index - 1] and len(token) > 3
        )
    )
    subjective = find_phrases(_SUBJECTIVE[lang], tokens)
    past = _past(lang, raw_words, tokens)
    continued = [] if past else find_phrases(_CONTINUATION[lang], tokens)
    states = [] if past else find_phrases(_STATE_HOOK[lang], tokens)
    if lang == "en":
        # "I ... want", "I've always liked": a first person and a verb of inner life close together.
        subjective = subjective or [
            f"i ... {tokens[index + gap]}"
            for index, token in enumerate(tokens)
            for gap in (2, 3)
            if token == "i" and index + gap < len(tokens)
            and tokens[index + gap] in {"like", "liked", "want", "wanted", "need", "miss", "missed", "feel", "felt",
                                        "know", "knew", "remember", "notice", "noticed", "hope", "wish", "prefer"}
        ][:1]  # fmt: skip
    return Structure(
        first=tuple(_first_person(lang, raw_words, tokens)),
        second=tuple(_second_person(lang, raw_words, tokens)),
        imperatives=tuple(_imperatives(lang, text)),
        we=tuple(dict.fromkeys(token for token in tokens if token in _WE[lang])),
        subjective=tuple(subjective),
        modal=tuple(find_phrases(_MODAL[lang], tokens)),
        contrast=tuple(find_phrases(_CONTRAST[lang], tokens)),
        condition=tuple(find_phrases(_CONDITION[lang], tokens)),
        reason=tuple(find_phrases(_REASON[lang], tokens)),
        comparison=tuple(find_phrases(_COMPARISON[lang], tokens)),
        general=tuple(find_phrases(_GENERAL[lang], tokens)),
        intensity=tuple(find_phrases(_INTENSITY[lang], tokens)),
        questions=text.count("?"),
        exclamations=text.count("!"),
        ellipsis="..." in text or "…" in text,
        sentences=len(sentences),
        repeated=repeated,
        hooks=tuple(find_phrases(_HOOK[lang], tokens) + states + (continued if len(continued) >= 2 else [])),
        heroine=tuple(dict.fromkeys(token for token in tokens if token in _HEROINE[lang])),
    )
