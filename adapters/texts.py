"""User-facing text: locale files (Spanish first, English second) and rendering of journey screens."""

from __future__ import annotations

import html
import json
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Final

from workflows.broadcast_contracts import telegram_length
from workflows.contracts import MAX_TEXT_LENGTH, Language, Screen
from workflows.rules import language_for

if TYPE_CHECKING:
    from aiogram.types import InlineKeyboardMarkup

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


class _VisibleText(HTMLParser):
    """The text of an HTML message as its reader sees it: tags gone, entities turned into their characters."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_length(text: str) -> int:
    """How long an HTML message is for Telegram's limits: once formatted (no tags, entities as one character),
    in UTF-16 code units (an emoji outside the BMP counts twice)."""
    parser = _VisibleText()
    parser.feed(text)
    parser.close()
    return telegram_length("".join(parser.parts))


def fits(text: str) -> bool:
    """Whether an HTML message is within Telegram's limit once formatted (formatting only ever shortens a text, so a
    short one is not parsed)."""
    return telegram_length(text) <= MAX_TEXT_LENGTH or visible_length(text) <= MAX_TEXT_LENGTH


def _stack(notices: list[str], body: str, language: str) -> str:
    """Notices above the body, as many as fit in one message: the ones that do not are counted in a last "…" line.
    The body is never cut (the content checks keep every body within the limit)."""

    def joined(lines: list[str]) -> str:
        return "\n".join(lines) + ("\n\n" if lines else "") + body

    text = joined(notices)
    if not notices or fits(text):
        return text
    for kept in range(len(notices) - 1, -1, -1):
        text = joined([*notices[:kept], t("notice.more", language, count=len(notices) - kept)])
        if fits(text):
            return text
    return body


def render_text(screen: Screen, language: str) -> str:
    """A journey screen's message text (HTML): notices that would push it past Telegram's limit are left out (and
    counted), the body never."""
    lines = [t(notice.key, language, **_params(notice.params, language)) for notice in screen.notices]
    body = t(screen.key, language, **_params(screen.params, language))
    return _stack(lines, body, language)


def render(screen: Screen, language: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """A journey screen as message text (HTML, ``render_text``) and inline keyboard."""
    # Imported here: aiogram's types take seconds and 140 MB to import, and the content checks' child process
    # (``adapters.content_checker``) renders texts without them.
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    from adapters.callbacks import JourneyCB

    text = render_text(screen, language)
    if not screen.buttons:
        return text, None
    keyboard = [
        [
            InlineKeyboardButton(
                text=button.text if button.text is not None else t(button.label, language), url=button.action
            )  # a link (an invitation's share button), never pressed here
            if button.action.startswith("https://")
            else InlineKeyboardButton(
                text=button.text if button.text is not None else t(button.label, language),
                callback_data=JourneyCB(action=button.action, screen=screen.seq).pack(),
            )
            for button in row
        ]
        for row in screen.buttons
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=keyboard)
