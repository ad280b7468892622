"""Paid media: ``sendPaidMedia``, users buying it, and what each user sees of it.

The bot sends photos and videos that users unlock for ``star_count`` Stars (1–:data:`MAX_PAID_MEDIA_STARS`,
Telegram's current ``paid_media_message_star_count_max``), in a private chat or a channel. The bot's own
Message shows the media (``paid_media.paid_media`` of PaidMediaPhoto/PaidMediaVideo); a user who has not
bought it sees PaidMediaPreview items (dimensions and duration only) until they buy it. A purchase goes
through no pre-checkout query, as in Telegram. In a private chat it is a Star transaction of the bot
(``getStarTransactions``: a TransactionPartnerUser of type ``paid_media_payment`` with ``paid_media`` and
``paid_media_payload``) and, when the bot gave a ``payload``, a ``purchased_paid_media`` update. In a channel
the Stars go to the channel's balance and Telegram sends the bot nothing, so neither happens there. A user
buys a message's media once: a second purchase is refused, as the app shows the media unlocked instead.

Control API:

- ``POST /control/users/{user_id}/paid_media`` {"message_id", "chat_id"? (default the user's private chat),
  profile...}: the user buys; result ``{"update_id": int | null, "transaction_id", "star_count"}``. The private
  chat's transcript gets ``user_paid_media_purchase`` (``message_id``, ``user_id``, ``star_count``, ``payload``,
  ``transaction_id``); a channel's transcript (what everyone sees) gets nothing.
- ``GET /control/users/{user_id}/chats/{chat_id}/messages/{message_id}``: that message as the user sees it.
- ``GET /control/paid_media/purchases``: every purchase, oldest first.

Transcript entry of the send: ``bot_paid_media`` (``message_id``, ``star_count``, ``payload``, ``items``: the
media as :func:`~tools.emulator.media.media_entry` shows them, ``caption``, ``html``, ``entities``,
``buttons``, ``caption_above``, ``protected``).
"""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aiogram.types import PaidMediaPurchased, StarTransaction, TransactionPartnerUser, Update, User
from aiohttp import web

from tools.emulator.common import Handler, bool_param, buttons_of, dump, int_param, json_body, ok_response, profile_of
from tools.emulator.files import resolve
from tools.emulator.markup import BadRequest, check_caption, check_reply_markup
from tools.emulator.media import Media, finish_send, media_entry, probed, sent_html

if TYPE_CHECKING:
    from tools.emulator.server import BotAPIEmulator

MAX_PAID_MEDIA_STARS: Final = 25_000
MAX_PAID_MEDIA_ITEMS: Final = 10
MAX_PAID_MEDIA_PAYLOAD_BYTES: Final = 128
PAID_MEDIA_KINDS: Final = frozenset({"photo", "video"})
_PREFIX: Final = "Bad Request: can't parse InputPaidMedia: "


@dataclass
class Offer:
    """Paid media in a message: its price, the bot's payload, the media and who bought it."""

    chat_id: int
    message_id: int
    star_count: int
    payload: str
    media: list[dict[str, Any]]
    buyers: set[int] = field(default_factory=set)


class PaidMedia:
    """Paid media for a :class:`BotAPIEmulator`: ``sendPaidMedia`` and the control routes to buy and view it."""

    def __init__(self, emulator: BotAPIEmulator) -> None:
        self.emulator = emulator
        self.offers: dict[tuple[int, int], Offer] = {}
        self.purchases: list[dict[str, Any]] = []

    def methods(self) -> dict[str, Handler]:
        return {"sendPaidMedia": self._send_paid_media}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/control/users/{user_id}/paid_media", self._control_buy)
        router.add_get("/control/users/{user_id}/chats/{chat_id}/messages/{message_id}", self._control_view)
        router.add_get("/control/paid_media/purchases", self._control_purchases)

    # The Bot API -----------------------------------------------------------------------------------------

    async def _send_paid_media(self, params: dict[str, Any]) -> dict[str, Any]:
        media = self.emulator.media
        chat = self.emulator.chat_for_bot(params)
        star_count = int_param(params, "star_count", 0)
        raw = params.get("media")
        if raw is None or raw == "":
            raise BadRequest('Bad Request: parameter "media" is required')
        if not isinstance(raw, list):
            raise BadRequest("Bad Request: expected an Array of InputPaidMedia")
        items = [_input_paid_media(item, params) for item in raw]
        caption, entities = check_caption(params.get("caption"), params.get("parse_mode"),
                                          params.get("caption_entities"))  # fmt: skip
        payload = str(params.get("payload") or "")
        if len(payload.encode()) > MAX_PAID_MEDIA_PAYLOAD_BYTES:
            raise BadRequest("Bad Request: paid media payload is too long")
        if not 1 <= star_count <= MAX_PAID_MEDIA_STARS:
            raise BadRequest("Bad Request: invalid media price specified")
        if not 1 <= len(items) <= MAX_PAID_MEDIA_ITEMS:
            raise BadRequest("Bad Request: invalid number of paid media specified")
        markup = check_reply_markup(params.get("reply_markup"))
        reply_to = media.replied(chat, params)
        paid = []
        for kind, value, item in items:
            stored = resolve(self.emulator.files, value, kind, **probed(item))
            paid.append({"type": kind, kind: media.content(kind, stored, item)})
        message = self.emulator.new_bot_message(chat)
        message["paid_media"] = {"star_count": star_count, "paid_media": paid}
        if caption:
            message["caption"] = caption
        if entities:
            message["caption_entities"] = entities
        if caption and bool_param(params, "show_caption_above_media"):
            message["show_caption_above_media"] = True
        finish_send(message, params, markup, reply_to)
        chat.messages[message["message_id"]] = message
        self.offers[(chat.chat["id"], message["message_id"])] = Offer(chat.chat["id"], message["message_id"],
                                                                      star_count, payload, paid)  # fmt: skip
        await self.emulator.append(chat, "bot_paid_media", {
            "message_id": message["message_id"], "star_count": star_count, "payload": payload or None,
            "items": [media_entry(self.emulator.files, item) for item in paid], "caption": caption,
            "html": sent_html(params, "caption"), "entities": entities, "buttons": buttons_of(message),
            "caption_above": bool(message.get("show_caption_above_media")),
            "protected": bool(message.get("has_protected_content"))})  # fmt: skip
        return message

    # Users buying and viewing ---------------------------------------------------------------------------

    async def buy(self, user_id: int, *, message_id: int, chat_id: int | None = None,
                  **profile: Any) -> dict[str, Any]:  # fmt: skip
        """The user buys the paid media of a message they can see; see the module docstring."""
        offer = self._offer(user_id, chat_id if chat_id is not None else user_id, message_id)
        if user_id in offer.buyers:
            raise BadRequest("Bad Request: the paid media was already bought (the app shows it unlocked)")
        user = self.emulator.user(user_id, profile)
        offer.buyers.add(user_id)
        chat = self.emulator.chats[offer.chat_id]
        transaction_id = f"stx{secrets.token_urlsafe(32)}"
        date = int(time.time())
        update: dict[str, Any] = {"update_id": None}
        if not chat.is_channel:
            partner = TransactionPartnerUser.model_validate({
                "transaction_type": "paid_media_payment", "user": user, "paid_media": offer.media,
                "paid_media_payload": offer.payload or None})  # fmt: skip
            self.emulator.payments.transactions.append(dump(StarTransaction(
                id=transaction_id, amount=offer.star_count, date=datetime.fromtimestamp(date, UTC), source=partner)))  # fmt: skip
            await self.emulator.append(chat, "user_paid_media_purchase", {
                "message_id": offer.message_id, "user_id": user_id, "star_count": offer.star_count,
                "payload": offer.payload or None, "transaction_id": transaction_id})  # fmt: skip
            if offer.payload:
                purchased = PaidMediaPurchased(from_user=User.model_validate(user), paid_media_payload=offer.payload)
                update = await self.emulator.enqueue(
                    lambda update_id: Update(update_id=update_id, purchased_paid_media=purchased)
                )
        self.purchases.append({"user_id": user_id, "chat_id": offer.chat_id, "message_id": offer.message_id,
                               "star_count": offer.star_count, "payload": offer.payload or None,
                               "transaction_id": transaction_id, "date": date,
                               "update_id": update["update_id"]})  # fmt: skip
        return {**update, "transaction_id": transaction_id, "star_count": offer.star_count}

    def view(self, user_id: int, chat_id: int, message_id: int) -> dict[str, Any]:
        """A message as the user sees it: paid media they have not bought shows previews only."""
        _, message = self.emulator.message_for_user(user_id, chat_id, message_id, "message not found")
        seen = copy.deepcopy(message)
        offer = self.offers.get((chat_id, message_id))
        if offer is not None and user_id not in offer.buyers:
            seen["paid_media"]["paid_media"] = [_preview(item) for item in offer.media]
        return seen

    def _offer(self, user_id: int, chat_id: int, message_id: int) -> Offer:
        self.view(user_id, chat_id, message_id)  # the same refusals: a chat the user can't see, no such message
        offer = self.offers.get((chat_id, message_id))
        if offer is None:
            raise BadRequest("Bad Request: the message has no paid media")
        return offer

    # Control API ---------------------------------------------------------------------------------------

    async def _control_buy(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        result = await self.buy(int(request.match_info["user_id"]), message_id=int(body["message_id"]),
                                chat_id=int(body["chat_id"]) if body.get("chat_id") is not None else None,
                                **profile_of(body))  # fmt: skip
        return ok_response(result)

    async def _control_view(self, request: web.Request) -> web.Response:
        info = request.match_info
        return ok_response(self.view(int(info["user_id"]), int(info["chat_id"]), int(info["message_id"])))

    async def _control_purchases(self, request: web.Request) -> web.Response:
        return ok_response(self.purchases)


def _input_paid_media(item: Any, params: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """One InputPaidMedia: its kind, its file (an upload or a file_id, unresolved) and its fields."""
    if not isinstance(item, dict):
        raise BadRequest(_PREFIX + "expected an Object")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        raise BadRequest(_PREFIX + 'Field "type" must be of type String')
    if kind not in PAID_MEDIA_KINDS:
        raise BadRequest(_PREFIX + f'type "{kind}" is unsupported')
    value = Media.attached(item.get("media"), params)
    if value is None:
        raise BadRequest(_PREFIX + "media not found")
    return kind, value, item


def _preview(item: dict[str, Any]) -> dict[str, Any]:
    """What a user who has not paid sees: the media's size (and a video's duration), not the media."""
    media = item["photo"][-1] if item["type"] == "photo" else item["video"]
    preview = {"type": "preview", "width": media.get("width"), "height": media.get("height")}
    if item["type"] == "video":
        preview["duration"] = media.get("duration")
    return preview
