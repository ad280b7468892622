"""Patterns of what Diana never sounds like, beyond single words: contempt and crude talk. Data only, no I/O.

The word lists in ``lexicon`` catch the obvious insults and explicit words. These patterns catch the
*shape* of contempt and of crude talk whatever the words: an evaluation of "you" as boring or pathetic,
mocking laughter, a dismissal ("get a life", "búscate una vida"), clothes coming off, a request for
nude pictures, sexual slang. They run on normalised text (lower case, no accents, "ñ" as "n").
"""

from __future__ import annotations

import re
from typing import Final

_CONTEMPT_EN: Final = (
    r"boring|annoying|pathetic|desperate|needy|clingy|ugly|dull|lame|creepy|pitiful|embarrassing|cringe\w*|"
    r"tiresome|insufferable|unbearable|irrelevant|forgettable|delusional|ridiculous|childish|gross|tedious|"
    r"mediocre|a joke|a loser|a nobody|nothing special|a waste|so basic|hopeless|a mess|sad little|desperate|"
    r"exhausting|draining|a bore|a drag|clueless"
)
_CONTEMPT_ES: Final = (
    r"pesad[oa]s?|aburrid[oa]s?|ridicul[oa]s?|desesperad[oa]s?|patetic[oa]s?|cansin[oa]s?|plasta|pringad[oa]s?|"
    r"lamentables?|penos[oa]s?|tont[oa]s?|babos[oa]s?|agobiante|vulgar|insoportables?|mediocres?|infantil|"
    r"del monton|un usuario mas|uno mas del monton|un don nadie|un chiste|una broma|un pesado|una pesada|"
    r"un pringado|una pringada|un cero a la izquierda|nada especial|un fracaso|un desastre|"
    r"agotador[ae]?s?|insufribles?|un muermo|un plomo|un rollo"
)

# What someone said or did, judged worthless: "menuda tontería", "what nonsense", "such a stupid question".
_FOLLY_ES: Final = (
    r"tonteria|estupidez|chorrada|gilipollez|memez|idiotez|sandez|bobada|burrada|majaderia|bobería|boberia|"
    r"payasada|cursilada|ridiculez|soberana tonteria|sarta de \w+"
)
_FOLLY_EN: Final = r"nonsense|rubbish|garbage|drivel|bullshit|crap|twaddle|baloney|claptrap|bs"
# Spanish adjectives of contempt also in their absolute superlative: "pesadísima", "aburridísimo", "tontísimo".
_CONTEMPT_ES_GRADED: Final = _CONTEMPT_ES.replace("[oa]s?", "(?:isim)?[oa]s?")
# The superlative of contempt ("the dumbest", "the most boring"), aimed at what you said, did or are.
_SUPERLATIVE_EN: Final = (
    r"dumbest|stupidest|lamest|dullest|ugliest|creepiest|"
    rf"most (?:{_CONTEMPT_EN}|stupid|dumb|pointless|useless)"
)

RUDE_PATTERNS: Final[dict[str, tuple[tuple[str, re.Pattern[str]], ...]]] = {
    "en": (
        (
            "an insult aimed at you",
            re.compile(
                rf"\byou(?:'re| are| really are| look| sound| seem| were| must be)(?: \w+){{0,3}}? (?:{_CONTEMPT_EN})\b"
            ),
        ),
        ("contempt", re.compile(rf"\b(?:what|how|such) (?:a |an )?(?:{_CONTEMPT_EN}|dumb|stupid)\b")),
        (
            "contempt for what you say",
            re.compile(
                rf"\b(?:that's|that is|that was|this is|you're|you are|you were|your \w+ (?:is|was)) (?:honestly |really |just )?"
                rf"(?:the|such a|so) (?:single )?(?:{_SUPERLATIVE_EN})\b"
            ),
        ),
        (
            "contempt for what you said",
            re.compile(
                rf"\b(?:what|such)(?: a| an)? (?:utter |complete |total )?(?:{_FOLLY_EN})\b"
                rf"|\b(?:that's|that is|that was|this is|it's|you're talking|you talk|you're spouting|spare me the) "
                rf"(?:utter |complete |total |such |just |pure )?(?:{_FOLLY_EN})\b"
                r"|\b(?:what|such) (?:a |an )?(?:stupid|dumb|idiotic|moronic|silly|pointless|ridiculous|brainless|asinine)"
                r" (?:thing|question|idea|comment|remark|answer|reply|thing to say|thing to ask)\b"
                r"|\b(?:stupid|dumb|idiotic|moronic|pointless) (?:question|comment|remark)s?\b"
            ),
        ),
        ("mocking laughter", re.compile(r"\b(?:lol|lmao|lmfao|rofl|ha(?:ha)+h?|he(?:he)+|xd)\b")),
        (
            "mockery",
            re.compile(
                r"\b(?:thought|think|believed?) (?:that )?i (?:actually |really |ever )?(?:liked|cared|wanted|loved|was into)"
                r"|that's (?:hilarious|pathetic|embarrassing|sad)|in your dreams|as if i(?:'d| would) ever"
            ),
        ),
        (
            "a dismissal",
            re.compile(
                r"\b(?:go away|get lost|get a life|leave me alone|stop (?:writing|texting|messaging|bothering|talking to) me"
                r"|nobody asked|who asked(?: you| for (?:it|this|that|your \w+))?(?= *[?!.]|$)|why do i (?:even )?bother"
                r"|(?:don't|do not) (?:even )?know why i (?:even )?(?:bother|answer|reply|talk to you|respond)|(?:couldn't|could not) care less|don't care about you|(?:waste|wasting) (?:of )?my time"
                r"|least of all me|anything better to do|better things to do|don't (?:bother|come back)(?= *[.!]|$)"
                r"|get over yourself|grow up)"
            ),
        ),
    ),
    "es": (
        (
            "un insulto dirigido a ti",
            re.compile(
                rf"\b(?:eres|estas|pareces|sois|que|tan|mas|vaya|menudo|menuda)(?: \w+){{0,2}}? (?:{_CONTEMPT_ES_GRADED})\b"
            ),
        ),
        (
            "un desprecio",
            re.compile(
                r"\bno eres ni\b|\bno eres nadie\b|\bdas (?:pena|asco|verguenza|lastima|risa)\b|verguenza ajena"
                r"|\bme das (?:igual|lastima|risa)\b|\bme importas (?:un|poco|nada)\b|\bno me importas\b"
            ),
        ),
        (
            "desprecio por lo que dices",
            re.compile(
                rf"\b(?:menuda|menudas|valiente|valientes|vaya)(?: \w+)?? (?:{_FOLLY_ES})(?:e?s)?\b"
                rf"|\b(?:que|eso es|es una|son|otra|otra vez con|tu|tus)(?: \w+)?? (?:{_FOLLY_ES})(?:e?s)?\b"
                r"(?= *(?:\w+ ){0,2}(?:acabas|dices|has dicho|me dices|escribes|has escrito|preguntas|sueltas|se te ocurre"
                r"|de pregunta|de comentario|de idea|de respuesta|tuya|tuyas))"
                rf"|\b(?:dices|sueltas|has dicho|acabas de decir|escribes|has escrito|no digas|deja de decir|deja de escribir)"
                rf"(?: \w+){{0,2}}? (?:{_FOLLY_ES})(?:e?s)?\b"
                r"|\b(?:que|vaya|menuda|menudo) (?:pregunta|comentario|idea|respuesta) mas (?:tont|estupid|absurd|ridicul)\w*"
            ),
        ),
        ("risa burlona", re.compile(r"\b(?:ja(?:ja)+j?|je(?:je)+|xd|lol)\b")),
        (
            "una burla",
            re.compile(
                r"\b(?:pensabas|creias|creiste|pensaste) que (?:me )?(?:importabas|gustabas|interesabas|querias)"
                r"|\bni en tus suenos\b|\bque risa\b"
            ),
        ),
        (
            "un rechazo",
            re.compile(
                r"\b(?:buscate (?:una vida|otra|a otra|a otro|un hobby)|dejame en paz|deja de (?:escribirme|molestar|hablarme)"
                r"|no me escribas mas|olvidame|pierdete|largate|no tienes nada mejor|tienes algo mejor que hacer"
                r"|pierdo el tiempo|no se (?:ni )?(?:por|para) que (?:te|sigo) (?:contesto|respondo|hablo|escribo|hago caso|aguanto)|perdiendo el tiempo contigo|ni te molestes|vete(?= *[.!]|$)|no vuelvas(?= *[.!]|$))"
            ),
        ),
    ),
}

CRUDE_PATTERNS: Final[dict[str, tuple[tuple[str, re.Pattern[str]], ...]]] = {
    "en": (
        (
            "clothes coming off",
            re.compile(
                r"\b(?:take|pull|get|rip|strip|drop|tear)\w* (?:off )?(?:your|those|my|the) (?:clothes|pants|panties|underwear"
                r"|shirt|jeans|bra|knickers|trousers|boxers)(?: off| down)?\b|\b(?:pants|clothes|underwear|panties) (?:off|down)\b"
                r"|\bget naked\b|\bstrip for\b"
            ),
        ),
        (
            "nude pictures",
            re.compile(
                r"\b(?:nudes?|naked|dirty|sexy) (?:pics?|photos?|pictures?|selfies?|videos?)\b|\bsend (?:me )?(?:a )?nude"
            ),
        ),
        (
            "sexual slang",
            re.compile(
                r"\b(?:bang|banging|screw|screwing|shag|shagging|hump|pound|pounding|nail|fuck\w*) (?:me|you|him|her)\b"
                r"|\bscrewing\b|\bshagging\b|\bfore ?play\b|\bquickie\b|\bgo down on\b|\bhard and fast\b|\bdirty (?:boy|girl)\b"
                r"|\bslut\w*|\bwhore\w*|\bhook ?up\b|\bbooty\b|\bstraight to bed\b"
                r"|\b(?:get|getting|got) laid\b|\bbooty call\b|\bnetflix and chill\b|\bdtf\b|\bdown to fuck\b|\bfwb\b"
                r"|\bfriends with benefits\b|\bone[- ]night stand\b|\b(?:tap|smash|hit) that\b|\bbon(?:e|ing) (?:me|you|her|him)\b"
                r"|\b(?:blow|hand|rim) ?jobs?\b|\bjerk(?:ing)? off\b|\bwank\w*|\bjack(?:ing)? off\b|\bdoggy\b|\bsixty[- ]nine\b"
                r"|\b(?:quick|fast) (?:fuck|lay|shag|bang|screw|one)\b|\bsit on my face\b|\bmake me (?:come|cum)\b"
                r"|\b(?:wet|hard|horny) for you\b|\bnaughty (?:pics|pictures|photos|videos)\b|\bsexting\b|\bsexts?\b|\btits\b|\bboobs?\b"
                r"|\bdicks?\b|\bpussy\b|\bballs deep\b|\bthreesome\b|\bspank (?:me|you)\b"
            ),
        ),
    ),
    "es": (
        (
            "ropa fuera",
            re.compile(
                r"\b(?:bajate|quitate|baja|quita|quitarte|bajarte|arrancarte|arranca|sacate)\w* (?:los|las|la|el|tu|tus) "
                r"(?:pantalones|bragas|calzoncillos|ropa|camisa|sujetador|tanga|vaqueros|calzones)\b"
                r"|\ben pelotas\b|\ben bolas\b|\ben cueros\b"
            ),
        ),
        ("fotos desnudas", re.compile(r"\bfotos? (?:desnud|en pelotas|en bolas|guarr|picant|hot|intim|sexy)\w*")),
        (
            "jerga sexual",
            re.compile(
                r"\b(?:preliminares|follar\w*|tirarte|chingar\w*|cogerte|empotrar\w*|rapidito|guarr[oa]s?"
                r"|cachond\w*|calentorr\w*|zorra|puta)\b|\bsexo (?:duro|salvaje|oral|anal|rapido)\b"
                r"|\bpolv(?:ete|etes|azo|azos)\b|\bech\w* (?:un |unos |otro )?polv\w*"
                r"|\b(?:un|unos|otro) polvos? (?:rapid\w*|salvaje|y ya|sin mas|de una noche|en el)"
                r"|\b(?:quiero|busco|necesito|queria|quieres|te apetece|me apetece|solo) (?:un|otro) polvo\b"
                r"|\bun kiki\b|\bunos kikis\b|\bfollamigos?\b|\baquí te pillo\b|\baqui te pillo\b|\brollo de una noche\b"
                r"|\bmamadas?\b|\bhacer(?:te|me|se)? una paja\b|\bpajillas?\b"
                r"|\b(?:tetas|tetitas|polla|pollas|chocho|verga|cipote|pollon|culazo|tetona)\b"
                r"|\bmojar el churro\b|\bcepillar(?:te|me)\b|\ba cuatro patas\b|\bponerte mirando\b|\bdar(?:te)? cana\b"
                r"|\bcalenton\b|\bpone(?:s|rme|rte) (?:muy |tan |super )?(?:caliente|burr[oa]|cachond\w*)\b|\bsexting\b|\bnudes\b"
                r"|\b(?:me|te) la (?:metas|meta|meto|metes|clavas|clavo)\b|\bmeter(?:mela|tela|la dentro)\b|\bte la voy a meter\b"
            ),
        ),
    ),
}


def matches(patterns: tuple[tuple[str, re.Pattern[str]], ...], plain: str) -> list[str]:
    """For each pattern that matches ``plain``: its name and the words that matched, e.g. "contempt: 'how boring'"."""
    found: list[str] = []
    for name, pattern in patterns:
        match = pattern.search(plain)
        if match:
            found.append(f"{name}: '{match.group(0).strip()}'")
    return found
