"""Telegram's own rules for message text and inline keyboards, with its error descriptions."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, Final

MAX_TEXT: Final = 4096
MAX_CALLBACK_DATA: Final = 64
MAX_CALLBACK_ANSWER: Final = 200
# The tags Telegram accepts with parse_mode=HTML.
HTML_TAGS: Final = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
     "blockquote", "tg-emoji", "br"}
)  # fmt: skip


_UNCLOSED: Final = "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
_BAD_BUTTON: Final = "Bad Request: can't parse inline keyboard button: "


class BadRequest(Exception):
    """A 400 answer; ``description`` follows Telegram's wording."""

    def __init__(self, description: str, error_code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.error_code = error_code


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise BadRequest(f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        if tag != "br":
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise BadRequest(f'{_UNCLOSED}"{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def plain_text(text: str, parse_mode: str | None) -> str:
    """The text as the user reads it: entities parsed, and Telegram's parse errors raised."""
    if (parse_mode or "").upper() != "HTML":
        return text
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise BadRequest(f'{_UNCLOSED}"{parser.open[-1]}"')
    return "".join(parser.text)


def check_text(text: Any, parse_mode: str | None) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("Bad Request: message text is empty")
    plain = plain_text(text, parse_mode)
    if not plain.strip():
        raise BadRequest("Bad Request: message text is empty")
    if len(plain) > MAX_TEXT:
        raise BadRequest("Bad Request: message is too long")
    return plain


def check_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Validate an inline keyboard as Telegram does; other keyboards are stored as given."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise BadRequest("Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BadRequest('Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise BadRequest(_BAD_BUTTON + "Text buttons are unallowed in the inline keyboard")
            actions = [k for k in button if k not in {"text", "style", "icon_custom_emoji_id"}]
            if len(actions) != 1:
                raise BadRequest(_BAD_BUTTON + "exactly one of the optional fields must be used")
            if "callback_data" in button:
                size = len(str(button["callback_data"]).encode())
                if not 1 <= size <= MAX_CALLBACK_DATA:
                    raise BadRequest("Bad Request: BUTTON_DATA_INVALID")
    return markup
