"""User-facing text: locale files (Spanish first, English second) and rendering of journey screens."""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path
from typing import Final

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from adapters.callbacks import JourneyCB
from workflows.contracts import Language, Screen
from workflows.rules import language_for

LOCALES_DIR: Final = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE: Final[Language] = "es"


@cache
def catalog(language: str) -> dict[str, str]:
    """``locales/<language>.json`` plus the per-feature files in ``locales/<language>/`` (keys never repeat)."""
    merged: dict[str, str] = json.loads((LOCALES_DIR / f"{language}.json").read_text(encoding="utf-8"))
    for part in sorted((LOCALES_DIR / language).glob("*.json")):
        texts: dict[str, str] = json.loads(part.read_text(encoding="utf-8"))
        repeated = merged.keys() & texts.keys()
        if repeated:
            raise ValueError(f"{part.name} repeats locale keys: {', '.join(sorted(repeated))}")
        merged.update(texts)
    return merged


# Before a journey answers, the bot picks the language the same way the journey does.
language_of = language_for


def t(key: str, language: str = DEFAULT_LANGUAGE, **params: str | int) -> str:
    """The text for ``key``; string parameters are HTML-escaped (names and user text are untrusted)."""
    texts = catalog(language if language in ("es", "en") else DEFAULT_LANGUAGE)
    template = texts.get(key) or catalog(DEFAULT_LANGUAGE)[key]
    safe = {name: html.escape(value) if isinstance(value, str) else value for name, value in params.items()}
    return template.format(**safe)


def _params(params: dict[str, str | int], language: str) -> dict[str, str | int]:
    """Parameters ending in ``_key`` name another text; they are translated, not shown raw."""
    resolved: dict[str, str | int] = {}
    for name, value in params.items():
        if name.endswith("_key"):
            resolved[name.removesuffix("_key")] = html.unescape(t(str(value), language))
        else:
            resolved[name] = value
    return resolved


def render(screen: Screen, language: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """A journey screen as message text (HTML) and inline keyboard."""
    lines = [t(notice.key, language, **_params(notice.params, language)) for notice in screen.notices]
    body = t(screen.key, language, **_params(screen.params, language))
    text = "\n".join(lines) + ("\n\n" if lines else "") + body
    if not screen.buttons:
        return text, None
    keyboard = [
        [
            InlineKeyboardButton(
                text=button.text if button.text is not None else t(button.label, language),
                callback_data=JourneyCB(action=button.action, screen=screen.seq).pack(),
            )
            for button in row
        ]
        for row in screen.buttons
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=keyboard)
