"""Which locale texts are Diana speaking to the user, and how to fill their placeholders to score them. Pure.

Every text a user reads is Diana's: onboarding, menu greetings, moods, story screens, notices, reminders,
VIP screens and notices, rejections, help, settings, rankings, payment support. Texts for staff (the
``admin.`` keys: the admin panel, user tools, broadcasts, refunds) are the operator's, not hers, and are
exempt. ``is_diana_voice`` says which is which; ``fill_placeholders`` gives a template plausible values
(a name, a number, a title, a fragment) and strips its HTML so the scorer judges what a user would read.
"""

from __future__ import annotations

import re
from typing import Final

# Keys for staff: what an operator reads, never a user.
STAFF_PREFIXES: Final = ("admin.",)

_PLACEHOLDER: Final = re.compile(r"\{([a-z_]+)\}")
_TAG: Final = re.compile(r"<[^>]{1,60}>")

_SAMPLES: Final[dict[str, dict[str, str]]] = {
    "es": {
        "name": "Lucía",
        "title": "La carta sin remitente",
        "body": (
            "Hay una carta sobre la mesa. No lleva remitente, pero reconozco la letra... y sospecho que tú "
            "también. ¿La abrimos juntos, o prefieres que te cuente antes lo que me da miedo encontrar?"
        ),
        "teaser": "Una carta sin remitente y una letra que Diana conoce demasiado bien.",
        "plan": "VIP Mensual",
        "expires": "12 de mayo",
        "grace_ends": "15 de mayo",
        "week": "semana 19",
        "bar": "▰▰▰▱▱",
        "marker": "🥇",
        "notifications": "activadas",
        "lines": "Primeros pasos\nNoche de confesiones — termina un capítulo de noche",
        "reason": "no me dijiste la verdad",
    },
    "en": {
        "name": "Lucy",
        "title": "The letter with no sender",
        "body": (
            "There's a letter on the table. No sender, but I know the handwriting... and I suspect you do too. "
            "Shall we open it together, or would you rather I told you first what I'm afraid to find?"
        ),
        "teaser": "A letter with no sender, in a hand Diana knows far too well.",
        "plan": "Monthly VIP",
        "expires": "May 12",
        "grace_ends": "May 15",
        "week": "week 19",
        "bar": "▰▰▰▱▱",
        "marker": "🥇",
        "notifications": "on",
        "lines": "First steps\nA night of confessions — finish a chapter at night",
        "reason": "you didn't tell me the truth",
    },
}


def is_diana_voice(key: str) -> bool:
    """Whether the locale text ``key`` is Diana speaking to a user (True) or a text for staff (False)."""
    return not key.startswith(STAFF_PREFIXES)


def fill_placeholders(template: str, lang: str) -> str:
    """``template`` as a user would read it: placeholders given plausible values, HTML tags removed.

    A placeholder without a sample (``{amount}``, ``{level}``, ``{days}``...) is a number: "3". The sample
    ``{lines}`` of a list screen leaves out the ✅/🔒 markers the code adds, which are not her words.
    """
    samples = _SAMPLES.get(lang, _SAMPLES["es"])
    filled = _PLACEHOLDER.sub(lambda match: samples.get(match.group(1), "3"), template)
    return _TAG.sub("", filled)
