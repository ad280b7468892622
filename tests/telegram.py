"""A Telegram user driven through the emulator's control API, as a test (or a person) would."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp


async def control(session: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """Call the emulator's control API; its ``result``, or AssertionError with Telegram's description."""
    async with session.request(method, url, json=body) as response:
        answer: dict[str, Any] = await response.json()
    if not answer["ok"]:
        raise AssertionError(f"control API refused {method} {url}: {answer}")
    return answer["result"]


async def redeliver(session: aiohttp.ClientSession, base_url: str, update_id: int) -> dict[str, Any]:
    """Have the emulator deliver update ``update_id`` again, same id, as Telegram does with one it thinks lost.

    Returns ``{"update_id", "type"}``; the copy is delivered next, even if the bot's offset is already past it.
    """
    result: dict[str, Any] = await control(session, "POST", f"{base_url}/control/updates/{update_id}/redeliver")
    return result


async def failed_call(session: aiohttp.ClientSession, base_url: str, method: str, error_code: int) -> bool:
    """Whether the emulator answered a call of ``method`` with ``error_code`` (a fault the test set)."""
    calls: list[dict[str, Any]] = await control(session, "GET", f"{base_url}/control/calls")
    return any(call["method"] == method and call.get("error_code") == error_code for call in calls)


async def payments(session: aiohttp.ClientSession, base_url: str) -> list[dict[str, Any]]:
    """Every charge, oldest first: ``{"telegram_payment_charge_id", "provider_payment_charge_id", "user_id",
    "currency", "total_amount", "invoice_payload", "date", "refunded", "refunded_at"}``."""
    charges: list[dict[str, Any]] = await control(session, "GET", f"{base_url}/control/payments")
    return charges


# Media messages a journey screen can be (its text as the caption).
SCREEN_MEDIA = ("bot_photo", "bot_video", "bot_animation", "bot_voice")


class EmulatedUser:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, user_id: int, *, first_name: str = "Ana",
                 language_code: str = "es", username: str | None = None) -> None:  # fmt: skip
        self.session = session
        self.base_url = base_url
        self.user_id = user_id
        self.profile: dict[str, Any] = {"first_name": first_name, "language_code": language_code}
        if username:
            self.profile["username"] = username
        self.seen = 0

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await control(self.session, "POST", self.base_url + path, body)
        return result

    async def send(self, text: str, *, forwarded_from: int | None = None,
                   reply_to: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Write ``text`` in the private chat (answering message ``reply_to``), or forward there a message of user
        ``forwarded_from`` that says it."""
        body = {"text": text, "forwarded_from": forwarded_from, "reply_to_message_id": reply_to, **self.profile}
        return await self._post(f"/control/users/{self.user_id}/messages", body)

    async def send_document(self, name: str, content: bytes, *, mime_type: str | None = None,
                            caption: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Send a file in the private chat: ``{"update_id", "message_id", "file_id"}``."""
        body = {"file_name": name, "content_base64": base64.b64encode(content).decode(), "mime_type": mime_type,
                "caption": caption, **self.profile}  # fmt: skip
        return await self._post(f"/control/users/{self.user_id}/documents", body)

    async def send_media(self, kind: str, name: str, content: bytes, *, caption: str | None = None,
                         **probe: int) -> dict[str, Any]:  # fmt: skip
        """Send a photo, video, animation, voice, audio or document in the private chat (``probe``: width,
        height, duration): ``{"update_id", "message_id", "file_id"}``."""
        body = {"type": kind, "file_name": name, "content_base64": base64.b64encode(content).decode(),
                "caption": caption, **probe, **self.profile}  # fmt: skip
        return await self._post(f"/control/users/{self.user_id}/media", body)

    async def send_album(self, items: list[tuple[str, str, bytes]], *, caption: str | None = None,
                         caption_on: int = 0) -> dict[str, Any]:  # fmt: skip
        """Send an album of ``(type, file name, content)``, the caption on item ``caption_on``: ``{"update_ids",
        "message_ids", "media_group_id"}``."""
        body = {"items": [{"type": kind, "file_name": name, "content_base64": base64.b64encode(content).decode()}
                          for kind, name, content in items], "caption": caption, "caption_on": caption_on,
                **self.profile}  # fmt: skip
        return await self._post(f"/control/users/{self.user_id}/albums", body)

    async def forward(self, from_chat_id: int, message_id: int) -> dict[str, Any]:
        """Forward a message (a channel post, or one of the private chat) to the bot: ``{"update_id", "message_id"}``.
        A protected message raises AssertionError naming "protected content", as the apps refuse it."""
        body = {"from_chat_id": from_chat_id, "message_id": message_id, **self.profile}
        return await self._post(f"/control/users/{self.user_id}/forward", body)

    async def buy_paid_media(self, message_id: int, *, chat_id: int | None = None) -> dict[str, Any]:
        """Buy the paid media of a message (in the private chat, or in channel ``chat_id``):
        ``{"update_id": int | None, "transaction_id", "star_count"}``; a second purchase raises AssertionError."""
        body = {"message_id": message_id, "chat_id": chat_id, **self.profile}
        return await self._post(f"/control/users/{self.user_id}/paid_media", body)

    async def sees(self, message_id: int, *, chat_id: int | None = None) -> dict[str, Any]:
        """A message as this user sees it (paid media they have not bought shows previews only)."""
        url = f"{self.base_url}/control/users/{self.user_id}/chats/{chat_id or self.user_id}/messages/{message_id}"
        result: dict[str, Any] = await control(self.session, "GET", url)
        return result

    async def press(self, message_id: int, callback_data: str, *, chat_id: int | None = None,
                    forge: bool = False) -> dict[str, Any]:  # fmt: skip
        body = {"message_id": message_id, "callback_data": callback_data, "chat_id": chat_id, "forge": forge,
                **self.profile}  # fmt: skip
        return await self._post(f"/control/users/{self.user_id}/press", body)

    async def join(self, chat_id: int, invite_link: str | None = None) -> dict[str, Any]:
        """Join a channel, through ``invite_link`` if given: ``{"update_id": int | None, "status"}``.

        ``status`` is "member", or "pending" for a link that creates a join request (``update_id``: the
        chat_join_request update). ``update_id`` None: no update was created. A join Telegram refuses
        (banned, revoked, expired or used-up link, private channel without a link) raises AssertionError
        naming the reason, e.g. ``INVITE_HASH_EXPIRED``.
        """
        body = {"chat_id": chat_id, **self.profile, **({"invite_link": invite_link} if invite_link else {})}
        return await self._post(f"/control/users/{self.user_id}/join", body)

    async def withdraw(self, chat_id: int) -> dict[str, Any]:
        """Cancel a pending join request (Telegram tells the bot nothing): ``{"status": "left"}``."""
        return await self._post(f"/control/users/{self.user_id}/withdraw", {"chat_id": chat_id})

    async def leave(self, chat_id: int) -> dict[str, Any]:
        """Leave a channel: ``{"update_id": int | None, "status": "left"}``."""
        return await self._post(f"/control/users/{self.user_id}/leave", {"chat_id": chat_id, **self.profile})

    async def pay(self, *, message_id: int | None = None, invoice_link: str | None = None,
                  payload: str | None = None, currency: str = "XTR", total_amount: int | None = None
                  ) -> dict[str, Any]:  # fmt: skip
        """Pay an invoice: the one in message ``message_id`` of the private chat, the one behind ``invoice_link``,
        or a forged ``payload`` of ``total_amount`` in ``currency`` (give exactly one of the three).

        Returns once the bot answered the pre-checkout query or its time ran out: ``{"pre_checkout_query_id",
        "answered", "ok", "error_message", "telegram_payment_charge_id", "update_id"}``, the last two null
        unless the payment went through (``update_id``: the successful_payment message's update).
        """
        body: dict[str, Any] = {"message_id": message_id, "invoice_link": invoice_link, "payload": payload,
                                "currency": currency, "total_amount": total_amount, **self.profile}  # fmt: skip
        return await self._post(f"/control/users/{self.user_id}/pay", body)

    async def set_stars(self, balance: int) -> dict[str, Any]:
        """How many Stars the user has (the emulator starts everyone with plenty)."""
        return await self._post(f"/control/users/{self.user_id}/stars", {"balance": balance})

    async def renew_subscriptions(self, invoice_link: str | None = None) -> list[dict[str, Any]]:
        """Telegram reaches the end of the period of the user's Stars subscriptions: each is charged again (one more
        successful payment) or ends (canceled, not enough Stars). ``[{"subscription_id", "outcome",
        "telegram_payment_charge_id", "update_id", "subscription_expiration_date"}]``."""
        result: list[dict[str, Any]] = await control(self.session, "POST",
                                                     f"{self.base_url}/control/users/{self.user_id}/subscriptions/renew",
                                                     {"invoice_link": invoice_link})  # fmt: skip
        return result

    async def callback_answer(self, callback_query_id: str, *, within: float = 20.0) -> dict[str, Any]:
        """The bot's answer to a press (``text``, ``show_alert``, ``url``, ``cache_time``), once it has answered."""
        url = f"{self.base_url}/control/callbacks/{callback_query_id}"
        async with self.session.get(url, params={"wait": within}) as response:
            answer: dict[str, Any] = await response.json()
        if not answer["ok"] or not answer["result"]["answered"]:
            raise AssertionError(
                f"the bot did not answer callback query {callback_query_id} within {within}s: {answer}"
            )
        return answer["result"]["answer"]  # type: ignore[no-any-return]

    async def transcript(self, chat_id: int | None = None, after: int = 0, wait: float = 0) -> list[dict[str, Any]]:
        url = f"{self.base_url}/control/chats/{chat_id or self.user_id}/transcript"
        async with self.session.get(url, params={"after": after, "wait": wait}) as response:
            return (await response.json())["result"]  # type: ignore[no-any-return]

    async def next_from_bot(self, *kinds: str, within: float = 20.0) -> dict[str, Any]:
        """The next transcript entry of one of ``kinds`` (default: a message or an edit by the bot).

        A screen is a screen whether it shows media or not: "bot_message" also takes a photo, video, animation or
        voice note with buttons or a caption, and "bot_edit" an edit of media; their caption is their ``text``.
        """
        kinds = kinds or ("bot_message", "bot_edit")
        accepted = {*kinds, *(SCREEN_MEDIA if "bot_message" in kinds else ()),
                    *(("bot_edit_media",) if "bot_edit" in kinds else ())}  # fmt: skip
        deadline = asyncio.get_running_loop().time() + within
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            for entry in await self.transcript(after=self.seen, wait=min(left, 5)):
                self.seen = entry["seq"]
                if entry["kind"] in accepted:
                    if entry["kind"] not in kinds and "caption" in entry:
                        entry = {**entry, "text": entry["caption"] or ""}
                    return entry
        raise AssertionError(f"the bot sent no {kinds} within {within}s")

    async def next_saying(self, text: str, *, within: float = 30.0) -> dict[str, Any]:
        """The next message from the bot whose text contains ``text``, skipping the ones before it."""
        deadline = asyncio.get_running_loop().time() + within
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            entry = await self.next_from_bot("bot_message", within=left)
            if text in str(entry["text"]):
                return entry
        raise AssertionError(f"the bot did not say {text!r} within {within}s")

    @staticmethod
    def button(entry: dict[str, Any], label_part: str) -> str:
        for row in entry["buttons"]:
            for button in row:
                if label_part in button["text"]:
                    return str(button["callback_data"])
        raise AssertionError(f"no button containing {label_part!r} in {entry['buttons']}")


async def onboard(user: EmulatedUser) -> dict[str, Any]:
    """/start and the three introduction screens through the real bot; returns the menu."""
    await user.send("/start")
    screen = await user.next_from_bot("bot_message", within=60)
    for _ in range(3):
        await user.press(screen["message_id"], user.button(screen, "Continuar" if "Continuar" in str(screen["buttons"])
                                                           else "Entrar"))  # fmt: skip
        screen = await user.next_from_bot("bot_edit")
    return screen


async def vip_invoice(user: EmulatedUser, menu: dict[str, Any], plan: str = "VIP Mensual") -> dict[str, Any]:
    """From the menu, 💎 VIP and then ``plan``: the invoice the bot sends (a subscription's comes as a message whose
    button opens an invoice link: its entry then has ``invoice_link``). Pay it with :func:`pay_invoice`."""
    await user.press(menu["message_id"], user.button(menu, "VIP"))
    plans = await user.next_from_bot()
    await user.press(plans["message_id"], user.button(plans, plan))
    while True:
        entry = await user.next_from_bot("bot_invoice", "bot_message", within=30)
        if entry["kind"] == "bot_invoice":
            return entry
        links = [b["url"] for row in entry.get("buttons") or [] for b in row if str(b.get("url", "")).startswith(
            "https://t.me/$")]  # fmt: skip
        if links:
            return {**entry, "invoice_link": links[0]}


async def pay_invoice(user: EmulatedUser, invoice: dict[str, Any]) -> dict[str, Any]:
    """Pay what :func:`vip_invoice` returned: the invoice message, or the subscription's invoice link."""
    if "invoice_link" in invoice:
        return await user.pay(invoice_link=invoice["invoice_link"])
    return await user.pay(message_id=invoice["message_id"])
