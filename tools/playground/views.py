"""What the page shows of a chat: the emulator's messages as one person sees them, in the shape the page draws.

Pure functions over Bot API Message dicts (as the emulator keeps them, edits applied and deleted messages gone).
Text stays text plus entities: the page builds its elements from them and never reads markup. Files are named by
their ``file_id`` only; the page fetches them through the playground, which holds the bot's token.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

from tools.emulator.common import BOT_ID
from tools.emulator.payments import INVOICE_LINK_PREFIX

# How much of a replied message the quote above a reply shows.
QUOTE_LENGTH: Final = 120
# What a chat view carries at most: the newest messages (a long journey has hundreds of edits, not of messages).
MAX_ITEMS: Final = 300
MEDIA_KINDS: Final = ("photo", "video", "animation", "voice", "audio", "document")
# An invoice link, as Telegram's apps recognise it: what createInvoiceLink returns (https://t.me/$slug).
INVOICE_LINK: Final = re.compile(re.escape(INVOICE_LINK_PREFIX) + r"[A-Za-z0-9_-]{1,64}")


def chat_view(
    messages: Iterable[Mapping[str, Any]], *, paid_invoices: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """The chat's messages in order, an album's messages as one item; ``paid_invoices``: invoice messages paid."""
    items: list[dict[str, Any]] = []
    for message in sorted(messages, key=lambda m: int(m["message_id"])):
        view = message_view(message, invoice_paid=message["message_id"] in paid_invoices)
        group = message.get("media_group_id")
        last = items[-1] if items else None
        if group and last is not None and last.get("album") == group:
            _join_album(last, view)
        else:
            items.append(view)
    return items[-MAX_ITEMS:]


def message_view(message: Mapping[str, Any], *, invoice_paid: bool = False) -> dict[str, Any]:
    """One message: who sent it, its text or caption with entities, media, paid media, invoice, service, buttons,
    and the message it replies to."""
    message_id = int(message["message_id"])
    has_text = "text" in message
    view: dict[str, Any] = {
        "key": f"m{message_id}",
        "message_id": message_id,
        "message_ids": [message_id],
        "from": _sender(message),
        "date": int(message.get("date", 0)),
        "edited": "edit_date" in message,
        "text": message.get("text") if has_text else message.get("caption"),
        "entities": list(message.get("entities" if has_text else "caption_entities") or []),
        "caption_above": bool(message.get("show_caption_above_media")),
        "protected": bool(message.get("has_protected_content")),
        "album": message.get("media_group_id"),
        "media": media_of(message),
        "paid": _paid_media(message),
        "invoice": _invoice(message, invoice_paid),
        "service": _service(message),
        "buttons": buttons(message),
        "reply": reply_quote(message),
    }
    return view


def reply_quote(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The message this one answers, as the quote above it shows it: who wrote it, its text or caption cut short,
    and the kind of its media."""
    replied = message.get("reply_to_message")
    if not replied:
        return None
    text = str(replied.get("text") or replied.get("caption") or "")
    media = next((kind for kind in (*MEDIA_KINDS, "paid_media", "invoice") if kind in replied), None)
    return {"message_id": int(replied["message_id"]), "from": _sender(replied), "media": media,
            "text": text if len(text) <= QUOTE_LENGTH else text[: QUOTE_LENGTH - 1] + "…"}  # fmt: skip


def media_of(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The message's file, as the page shows it (a photo: its largest size)."""
    spoiler = bool(message.get("has_media_spoiler"))
    for kind in MEDIA_KINDS:
        if kind in message:
            return [_media(kind, message[kind], spoiler=spoiler)]
    return []


def buttons(message: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    """The inline keyboard: each button's label and what it does (a callback, a URL, paying the invoice)."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [[{"text": str(button.get("text", "")), "data": button.get("callback_data"), "url": button.get("url"),
              "pay": button.get("pay") is True, "invoice": None} for button in row] for row in rows]  # fmt: skip


def invoice_link_urls(items: Iterable[Mapping[str, Any]]) -> set[str]:
    """The invoice links the items' buttons open."""
    return {str(button["url"]) for item in items for row in item["buttons"] for button in row
            if button.get("url") and INVOICE_LINK.fullmatch(str(button["url"]))}  # fmt: skip


def with_invoice_links(items: list[dict[str, Any]], links: Mapping[str, Mapping[str, Any]],
                       running: Collection[str]) -> list[dict[str, Any]]:  # fmt: skip
    """The items, each button that opens a known invoice link showing what it sells (``invoice``: title,
    description, price, the subscription's period in seconds or 0, and ``paid``: a subscription of the person's
    running on it; a link without a period can be paid again)."""
    for item in items:
        for row in item["buttons"]:
            for button in row:
                link = links.get(str(button.get("url") or ""))
                if link is None:
                    continue
                period = int(link.get("subscription_period") or 0)
                button["invoice"] = {"title": link.get("title"), "description": link.get("description"),
                                     "currency": link.get("currency"), "amount": link.get("total_amount"),
                                     "period": period, "paid": bool(period) and button["url"] in running}  # fmt: skip
    return items


def file_ids(items: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every file the items show (paid media only once unlocked: previews name no file)."""
    found: set[str] = set()
    for item in items:
        media = [*item["media"], *(item["paid"]["items"] if item["paid"] else [])]
        found.update(str(medium["file"]) for medium in media if medium.get("file"))
    return found


def _sender(message: Mapping[str, Any]) -> str:
    if "successful_payment" in message or "refunded_payment" in message:
        return "service"
    if message.get("from", {}).get("id") == BOT_ID:
        return "bot"
    if message.get("sender_chat") and message.get("chat", {}).get("type") == "channel":
        return "channel"
    return "user"


def _media(kind: str, medium: Any, *, spoiler: bool = False) -> dict[str, Any]:
    if kind == "photo":
        medium = medium[-1]
    return {"kind": kind, "file": medium["file_id"], "width": medium.get("width"), "height": medium.get("height"),
            "duration": medium.get("duration"), "mime": medium.get("mime_type"), "name": medium.get("file_name"),
            "size": medium.get("file_size"), "title": medium.get("title"), "performer": medium.get("performer"),
            "spoiler": spoiler}  # fmt: skip


def _paid_media(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """Paid media as the person sees it: previews (sizes only) until they bought it, the media after."""
    paid = message.get("paid_media")
    if not paid:
        return None
    items = []
    for item in paid.get("paid_media", []):
        if item.get("type") in ("photo", "video"):
            items.append(_media(item["type"], item[item["type"]]))
        else:
            items.append({"kind": "preview", "file": None, "width": item.get("width"), "height": item.get("height"),
                          "duration": item.get("duration")})  # fmt: skip
    unlocked = bool(items) and all(item["kind"] != "preview" for item in items)
    return {"stars": int(paid.get("star_count", 0)), "unlocked": unlocked, "items": items}


def _invoice(message: Mapping[str, Any], paid: bool) -> dict[str, Any] | None:
    invoice = message.get("invoice")
    if not invoice:
        return None
    return {"title": invoice.get("title"), "description": invoice.get("description"),
            "currency": invoice.get("currency"), "amount": invoice.get("total_amount"), "paid": paid}  # fmt: skip


def _service(message: Mapping[str, Any]) -> dict[str, Any] | None:
    for key, kind in (("successful_payment", "payment"), ("refunded_payment", "refund")):
        if key in message:
            return {"kind": kind, "currency": message[key].get("currency"),
                    "amount": message[key].get("total_amount")}  # fmt: skip
    return None


def _join_album(album: dict[str, Any], view: dict[str, Any]) -> None:
    """A further message of an album: its media join the grid; the album shows the first caption it has."""
    album["key"] = f"album{album['album']}"
    album["message_ids"].append(view["message_id"])
    album["media"].extend(view["media"])
    album["edited"] = album["edited"] or view["edited"]
    if not album["text"] and view["text"]:
        album["text"], album["entities"] = view["text"], view["entities"]
