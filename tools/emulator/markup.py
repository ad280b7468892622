"""Telegram's own rules for message text and inline keyboards, with its error descriptions."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, Final

MAX_TEXT: Final = 4096
MAX_CAPTION: Final = 1024
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


# HTML tag -> Telegram entity type.
_ENTITY_OF_TAG: Final = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
    "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}  # fmt: skip


def _utf16_length(text: str) -> int:
    """Entity offsets and lengths count UTF-16 code units, as Telegram's do."""
    return len(text.encode("utf-16-le")) // 2


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.position = 0
        self.open: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise BadRequest(f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        if tag == "br":
            self.handle_data("\n")
            return
        self.open.append((tag, self.position, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise BadRequest(f'{_UNCLOSED}"{tag}"')
        _, start, attrs = self.open.pop()
        if self.position == start:
            return  # Telegram drops empty entities
        entity: dict[str, Any] = {"type": _ENTITY_OF_TAG[tag], "offset": start, "length": self.position - start}
        if tag == "a":
            entity["url"] = attrs.get("href") or ""
        elif tag == "pre" and attrs.get("language"):
            entity["language"] = attrs["language"]
        elif tag == "blockquote" and "expandable" in attrs:
            entity["type"] = "expandable_blockquote"
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id") or ""
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.position += _utf16_length(data)


def parse_text(text: str, parse_mode: str | None, entities: Any = None) -> tuple[str, list[dict[str, Any]]]:
    """The text as the user reads it and its entities; Telegram's parse errors are raised."""
    if (parse_mode or "").upper() != "HTML":
        return text, list(entities) if isinstance(entities, list) else []
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise BadRequest(f'{_UNCLOSED}"{parser.open[-1][0]}"')
    return "".join(parser.text), sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))


def check_text(text: Any, parse_mode: str | None, entities: Any = None) -> tuple[str, list[dict[str, Any]]]:
    """Validate a message text (1–4096 characters after entity parsing); returns plain text and entities."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("Bad Request: message text is empty")
    plain, parsed = parse_text(text, parse_mode, entities)
    if not plain.strip():
        raise BadRequest("Bad Request: message text is empty")
    if len(plain) > MAX_TEXT:
        raise BadRequest("Bad Request: message is too long")
    return plain, parsed


def check_caption(
    caption: Any, parse_mode: str | None, entities: Any = None
) -> tuple[str | None, list[dict[str, Any]]]:
    """Validate an optional media caption (at most 1024 characters after entity parsing); blank means none."""
    if caption is None or not str(caption).strip():
        return None, []
    plain, parsed = parse_text(str(caption), parse_mode, entities)
    if len(plain) > MAX_CAPTION:
        raise BadRequest("Bad Request: message caption is too long")
    return (plain, parsed) if plain.strip() else (None, [])


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
