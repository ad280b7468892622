"""The emulator's payments and channel access speak Telegram's protocol to the real aiogram Bot."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, TransactionPartnerUser, Update

from tests.telegram import EmulatedUser, payments, redeliver
from tools.emulator import BotAPIEmulator

CHANNEL = -1001000000001
PRIVATE_CHANNEL = -1002000000002
BOT_ID = 100000001
STARS = [LabeledPrice(label="50 besitos", amount=50)]
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


class Inbox:
    """The bot's side: getUpdates with the offset moving past each batch, as a polling bot does."""

    def __init__(self, bot: Bot, allowed_updates: list[str] | None = None) -> None:
        self.bot = bot
        self.offset: int | None = None
        self.allowed_updates = allowed_updates

    async def take(self, wait: int = 5) -> list[Update]:
        updates = await self.bot.get_updates(offset=self.offset, timeout=wait, allowed_updates=self.allowed_updates)
        if updates:
            self.offset = updates[-1].update_id + 1
        return updates

    async def one(self, wait: int = 5) -> Update:
        updates = await self.take(wait)
        assert len(updates) == 1, updates
        return updates[0]


async def checkout(inbox: Inbox, user: EmulatedUser, *, ok: bool = True, error_message: str | None = None,
                   **invoice: Any) -> dict[str, Any]:  # fmt: skip
    """The user pays; the bot answers the pre-checkout query as told; returns the control API's result."""
    paying = asyncio.create_task(user.pay(**invoice))
    query = (await inbox.one()).pre_checkout_query
    assert query is not None
    assert await inbox.bot.answer_pre_checkout_query(query.id, ok=ok, error_message=error_message)
    result: dict[str, Any] = await asyncio.wait_for(paying, timeout=5)
    assert result["pre_checkout_query_id"] == query.id
    return result


async def invoice_for(bot: Bot, user: EmulatedUser, payload: str = "offer:vip:42") -> int:
    """A Stars invoice in the user's private chat (the user wrote first); its message id."""
    await user.send("hola")
    sent = await bot.send_invoice(user.user_id, title="Diana VIP", description="Un mes de contenido exclusivo",
                                  payload=payload, currency="XTR", prices=STARS)  # fmt: skip
    return sent.message_id


@pytest.fixture
def ana(http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> EmulatedUser:
    return EmulatedUser(http, emulator.base_url, 7, first_name="Ana", username="ana")


@pytest.fixture
def bea(http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> EmulatedUser:
    return EmulatedUser(http, emulator.base_url, 8, first_name="Bea")


class TestInvoices:
    async def test_send_invoice_in_stars(self, telegram_bot: Bot, ana: EmulatedUser) -> None:
        await ana.send("hola")
        pay = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Pagar ⭐50", pay=True)],
                                                    [InlineKeyboardButton(text="Más tarde", callback_data="later")]])  # fmt: skip
        sent = await telegram_bot.send_invoice(7, title="Diana VIP", description="Un mes de contenido exclusivo",
                                               payload="offer:vip:42", currency="XTR", prices=STARS,
                                               reply_markup=pay)  # fmt: skip
        assert sent.invoice is not None and sent.chat.id == 7 and sent.from_user is not None
        assert (sent.invoice.title, sent.invoice.currency, sent.invoice.total_amount) == ("Diana VIP", "XTR", 50)
        entry = await ana.next_from_bot("bot_invoice")
        assert entry["message_id"] == sent.message_id
        assert {k: entry[k] for k in ("title", "description", "payload", "currency", "total_amount", "prices")} == {
            "title": "Diana VIP", "description": "Un mes de contenido exclusivo", "payload": "offer:vip:42",
            "currency": "XTR", "total_amount": 50, "prices": [{"label": "50 besitos", "amount": 50}]}  # fmt: skip
        assert [[b["text"] for b in row] for row in entry["buttons"]] == [["Pagar ⭐50"], ["Más tarde"]]

    @pytest.mark.parametrize(("change", "description"), [
        ({"currency": "ZZZ"}, "CURRENCY_INVALID"),
        ({"prices": [LabeledPrice(label="a", amount=30), LabeledPrice(label="b", amount=20)]}, "STARS_INVOICE_INVALID"),
        ({"provider_token": "123:TEST:abc"}, "STARS_INVOICE_INVALID"),
        ({"prices": [LabeledPrice(label="gratis", amount=0)]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
        ({"prices": [LabeledPrice(label="mucho", amount=10001)]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
        ({"prices": []}, "there must be at least one price"),
        ({"prices": [LabeledPrice(label="", amount=5)]}, "LabeledPrice label must be non-empty"),
        ({"title": "x" * 33}, "INVOICE_TITLE_INVALID"),
        ({"description": "x" * 256}, "INVOICE_DESCRIPTION_INVALID"),
        ({"payload": "ñ" * 65}, "INVOICE_PAYLOAD_INVALID"),
        ({"currency": "EUR", "prices": [LabeledPrice(label="€", amount=500)]}, "PAYMENT_PROVIDER_INVALID"),
        ({"reply_markup": InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x")]])},
         "REPLY_MARKUP_BUY_EMPTY"),
    ])  # fmt: skip
    async def test_invoices_telegram_refuses(self, telegram_bot: Bot, ana: EmulatedUser, change: dict[str, Any],
                                             description: str) -> None:  # fmt: skip
        await ana.send("hola")
        invoice: dict[str, Any] = {"title": "Diana VIP", "description": "Un mes", "payload": "offer:vip:42",
                                   "currency": "XTR", "prices": STARS, **change}  # fmt: skip
        with pytest.raises(TelegramBadRequest, match=description):
            await telegram_bot.send_invoice(7, **invoice)
        if "reply_markup" not in change:
            with pytest.raises(TelegramBadRequest, match=description):
                await telegram_bot.create_invoice_link(**invoice)
        assert [e["kind"] for e in await ana.transcript()] == ["user_message"]

    async def test_a_provider_invoice_and_missing_parameters(self, http: aiohttp.ClientSession, telegram_bot: Bot,
                                                             emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        await ana.send("hola")
        sent = await telegram_bot.send_invoice(7, title="Pack", description="Fotos", payload="pack:1", currency="EUR",
                                               prices=[LabeledPrice(label="Pack", amount=500),
                                                       LabeledPrice(label="Descuento", amount=-100)],
                                               provider_token="123:TEST:abc")  # fmt: skip
        assert sent.invoice is not None and sent.invoice.total_amount == 400
        async with http.post(f"{emulator.base_url}/bot1:T/sendInvoice", json={"chat_id": 7, "title": "x"}) as response:
            body = await response.json()
        assert response.status == 400 and body["description"] == 'Bad Request: parameter "description" is required'

    async def test_create_invoice_link(self, telegram_bot: Bot) -> None:
        first = await telegram_bot.create_invoice_link(title="VIP", description="Un mes", payload="offer:vip:1",
                                                       currency="XTR", prices=STARS)  # fmt: skip
        second = await telegram_bot.create_invoice_link(title="VIP", description="Un mes", payload="offer:vip:1",
                                                        currency="XTR", prices=STARS)  # fmt: skip
        assert first.startswith("https://t.me/$") and second.startswith("https://t.me/$") and first != second


class TestPayments:
    async def test_a_paid_invoice(self, telegram_bot: Bot, ana: EmulatedUser) -> None:
        message_id = await invoice_for(telegram_bot, ana)
        inbox = Inbox(telegram_bot)
        assert (await inbox.one()).message is not None  # "hola"
        paying = asyncio.create_task(ana.pay(message_id=message_id))
        query = (await inbox.one()).pre_checkout_query
        assert query is not None and query.from_user.id == 7 and query.from_user.first_name == "Ana"
        assert (query.currency, query.total_amount, query.invoice_payload) == ("XTR", 50, "offer:vip:42")
        assert await telegram_bot.answer_pre_checkout_query(query.id, ok=True)
        with pytest.raises(TelegramBadRequest, match=QUERY_TOO_OLD):
            await telegram_bot.answer_pre_checkout_query(query.id, ok=True)
        result = await asyncio.wait_for(paying, timeout=5)
        assert result["answered"] is True and result["ok"] is True and result["error_message"] is None
        charge_id = result["telegram_payment_charge_id"]
        assert charge_id and result["update_id"] is not None
        update = await inbox.one()
        assert update.update_id == result["update_id"] and update.message is not None
        paid = update.message.successful_payment
        assert paid is not None and update.message.chat.id == 7 and update.message.from_user is not None
        assert (paid.currency, paid.total_amount, paid.invoice_payload) == ("XTR", 50, "offer:vip:42")
        assert paid.telegram_payment_charge_id == charge_id and paid.provider_payment_charge_id
        entry = await ana.next_from_bot("user_payment")
        assert (entry["message_id"], entry["telegram_payment_charge_id"]) == (update.message.message_id, charge_id)
        assert (entry["currency"], entry["total_amount"], entry["invoice_payload"]) == ("XTR", 50, "offer:vip:42")
        kinds = [e["kind"] for e in await ana.transcript()]
        assert kinds == ["user_message", "bot_invoice", "pre_checkout_answer", "user_payment"]
        # Once paid, the invoice's button shows the receipt.
        with pytest.raises(AssertionError, match="already paid"):
            await ana.pay(message_id=message_id)

    async def test_an_unanswered_pre_checkout_query_pays_nothing(self, http: aiohttp.ClientSession,
                                                                 telegram_bot: Bot, emulator: BotAPIEmulator,
                                                                 ana: EmulatedUser) -> None:  # fmt: skip
        emulator.payments.pre_checkout_timeout = 0.3
        message_id = await invoice_for(telegram_bot, ana)
        result = await ana.pay(message_id=message_id)
        assert result == {"pre_checkout_query_id": result["pre_checkout_query_id"], "answered": False, "ok": None,
                          "error_message": None, "telegram_payment_charge_id": None, "update_id": None}  # fmt: skip
        with pytest.raises(TelegramBadRequest, match=QUERY_TOO_OLD):
            await telegram_bot.answer_pre_checkout_query(result["pre_checkout_query_id"], ok=True)
        updates = await telegram_bot.get_updates()
        assert [u.pre_checkout_query is not None for u in updates] == [False, True]
        assert await payments(http, emulator.base_url) == []
        # Unpaid, the invoice can still be paid.
        assert (await ana.pay(message_id=message_id))["answered"] is False

    async def test_a_refused_pre_checkout_query(self, http: aiohttp.ClientSession, telegram_bot: Bot,
                                                emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        message_id = await invoice_for(telegram_bot, ana)
        inbox = Inbox(telegram_bot)
        await inbox.take()
        paying = asyncio.create_task(ana.pay(message_id=message_id))
        query = (await inbox.one()).pre_checkout_query
        assert query is not None
        with pytest.raises(TelegramBadRequest, match='parameter "error_message" is required'):
            await telegram_bot.answer_pre_checkout_query(query.id, ok=False)
        with pytest.raises(TelegramBadRequest, match=QUERY_TOO_OLD):
            await telegram_bot.answer_pre_checkout_query("999", ok=True)
        assert await telegram_bot.answer_pre_checkout_query(query.id, ok=False, error_message="Oferta caducada")
        result = await asyncio.wait_for(paying, timeout=5)
        assert (result["answered"], result["ok"], result["error_message"]) == (True, False, "Oferta caducada")
        assert result["telegram_payment_charge_id"] is None and result["update_id"] is None
        assert await inbox.take(wait=0) == []
        entry = (await ana.transcript())[-1]
        assert (entry["kind"], entry["ok"], entry["error_message"]) == ("pre_checkout_answer", False, "Oferta caducada")
        assert await payments(http, emulator.base_url) == []

    async def test_invoice_links_and_forged_payloads(self, telegram_bot: Bot, bea: EmulatedUser) -> None:
        link = await telegram_bot.create_invoice_link(title="VIP", description="Un mes", payload="offer:vip:8",
                                                      currency="XTR", prices=STARS)  # fmt: skip
        inbox = Inbox(telegram_bot)
        # A link can be paid again and again, and by someone who never wrote to the bot.
        for _ in range(2):
            paid = await checkout(inbox, bea, invoice_link=link)
            assert paid["ok"] and (await inbox.one()).message is not None
        stale = asyncio.create_task(bea.pay(payload="offer:vip:1", total_amount=25))
        query = (await inbox.one()).pre_checkout_query
        assert query is not None and (query.invoice_payload, query.total_amount, query.currency) == (
            "offer:vip:1", 25, "XTR")  # fmt: skip
        await telegram_bot.answer_pre_checkout_query(query.id, ok=False, error_message="Esa oferta ya no existe")
        assert (await stale)["ok"] is False
        with pytest.raises(AssertionError, match="INVOICE_INVALID"):
            await bea.pay(invoice_link="https://t.me/$nope")
        with pytest.raises(AssertionError, match="exactly one"):
            await bea.pay(invoice_link=link, payload="x", total_amount=1)

    async def test_refunds_and_star_transactions(self, http: aiohttp.ClientSession, telegram_bot: Bot,
                                                 emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        inbox = Inbox(telegram_bot)
        message_id = await invoice_for(telegram_bot, ana)
        await inbox.take()
        charge_id = (await checkout(inbox, ana, message_id=message_id))["telegram_payment_charge_id"]
        await inbox.take()
        with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
            await telegram_bot.refund_star_payment(8, charge_id)  # somebody else's charge
        with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
            await telegram_bot.refund_star_payment(7, "stxNoSuchCharge")
        assert await telegram_bot.refund_star_payment(7, charge_id)
        with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
            await telegram_bot.refund_star_payment(7, charge_id)
        refunded = (await inbox.one()).message
        assert refunded is not None and refunded.refunded_payment is not None
        assert (refunded.refunded_payment.telegram_payment_charge_id, refunded.refunded_payment.total_amount) == (
            charge_id, 50)  # fmt: skip
        assert (await ana.transcript())[-1]["kind"] == "bot_refund"
        transactions = (await telegram_bot.get_star_transactions()).transactions
        refund, payment = transactions
        assert (refund.id, refund.amount, refund.source) == (charge_id, 50, None)
        assert isinstance(refund.receiver, TransactionPartnerUser)
        assert refund.receiver.user.id == 7 and refund.receiver.invoice_payload == "offer:vip:42"
        assert (payment.id, payment.amount, payment.receiver) == (charge_id, 50, None)
        assert isinstance(payment.source, TransactionPartnerUser) and payment.source.user.id == 7
        assert payment.source.invoice_payload == "offer:vip:42" and payment.source.transaction_type == "invoice_payment"
        assert [t.id for t in (await telegram_bot.get_star_transactions(offset=1, limit=1)).transactions] == [charge_id]
        assert (await telegram_bot.get_star_transactions(offset=2)).transactions == []
        (charge,) = await payments(http, emulator.base_url)
        assert (charge["telegram_payment_charge_id"], charge["user_id"], charge["refunded"]) == (charge_id, 7, True)
        assert charge["refunded_at"] is not None and charge["invoice_payload"] == "offer:vip:42"


class TestRedelivery:
    async def test_a_successful_payment_delivered_twice(self, http: aiohttp.ClientSession, telegram_bot: Bot,
                                                        emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        inbox = Inbox(telegram_bot)
        message_id = await invoice_for(telegram_bot, ana)
        await inbox.take()
        paid = await checkout(inbox, ana, message_id=message_id)
        first = await inbox.one()
        await ana.send("después")
        assert (await inbox.one()).message is not None
        # The bot's offset is past it; Telegram resends it anyway, same update_id.
        assert await redeliver(http, emulator.base_url, paid["update_id"]) == {"update_id": paid["update_id"],
                                                                               "type": "message"}  # fmt: skip
        again = await inbox.one()
        assert again == first and again.update_id == paid["update_id"]
        assert await telegram_bot.get_updates(offset=again.update_id + 1, timeout=0) == []
        with pytest.raises(AssertionError, match="no update with that id"):
            await redeliver(http, emulator.base_url, 1)


class TestInviteLinks:
    async def test_create_and_revoke(self, telegram_bot: Bot, ana: EmulatedUser) -> None:
        link = await telegram_bot.create_chat_invite_link(CHANNEL, name="Bienvenida", member_limit=10)
        assert link.invite_link.startswith("https://t.me/+") and link.creator.id == BOT_ID and link.creator.is_bot
        assert (link.name, link.member_limit, link.expire_date) == ("Bienvenida", 10, None)
        assert (link.creates_join_request, link.is_primary, link.is_revoked) == (False, False, False)
        other = await telegram_bot.create_chat_invite_link(CHANNEL, creates_join_request=True)
        assert other.invite_link != link.invite_link and other.creates_join_request and other.member_limit is None
        revoked = await telegram_bot.revoke_chat_invite_link(CHANNEL, link.invite_link)
        assert revoked.is_revoked and revoked.invite_link == link.invite_link
        await ana.send("hola")
        refused: list[tuple[int, dict[str, Any], str]] = [
            (CHANNEL, {"member_limit": 5, "creates_join_request": True}, "member limit can't be specified"),
            (CHANNEL, {"expire_date": int(time.time()) - 60}, "EXPIRE_DATE_INVALID"),
            (CHANNEL, {"member_limit": 100000}, "USAGE_LIMIT_INVALID"),
            (7, {}, "can't invite members to a private chat"),
            (-1009999999999, {}, "chat not found"),
        ]  # fmt: skip
        for chat_id, kwargs, description in refused:
            with pytest.raises(TelegramBadRequest, match=description):
                await telegram_bot.create_chat_invite_link(chat_id, **kwargs)
        with pytest.raises(TelegramBadRequest, match="INVITE_HASH_EXPIRED"):
            await telegram_bot.revoke_chat_invite_link(CHANNEL, "https://t.me/+nope")

    async def test_joining_through_links(self, telegram_bot: Bot, ana: EmulatedUser, bea: EmulatedUser) -> None:
        inbox = Inbox(telegram_bot, allowed_updates=["message", "chat_member", "chat_join_request"])
        assert await inbox.take(wait=0) == []
        single = await telegram_bot.create_chat_invite_link(CHANNEL, member_limit=1)
        joined = await ana.join(CHANNEL, single.invite_link)
        assert joined["status"] == "member" and joined["update_id"] is not None
        change = (await inbox.one()).chat_member
        assert change is not None and change.invite_link is not None and change.from_user.id == 7
        assert change.invite_link.invite_link == single.invite_link
        assert (change.old_chat_member.status, change.new_chat_member.status) == ("left", "member")
        with pytest.raises(AssertionError, match="INVITE_HASH_EXPIRED.*member limit"):
            await bea.join(CHANNEL, single.invite_link)
        revoked = await telegram_bot.create_chat_invite_link(CHANNEL)
        await telegram_bot.revoke_chat_invite_link(CHANNEL, revoked.invite_link)
        with pytest.raises(AssertionError, match="INVITE_HASH_EXPIRED.*revoked"):
            await bea.join(CHANNEL, revoked.invite_link)
        soon = await telegram_bot.create_chat_invite_link(CHANNEL, expire_date=int(time.time()) + 1)
        await asyncio.sleep(1.1)
        with pytest.raises(AssertionError, match="INVITE_HASH_EXPIRED.*expired"):
            await bea.join(CHANNEL, soon.invite_link)
        with pytest.raises(AssertionError, match="INVITE_HASH_INVALID"):
            await bea.join(CHANNEL, "https://t.me/+nope")
        assert await inbox.take(wait=0) == []
        # Without a link, the community channel is open to anyone.
        assert (await bea.join(CHANNEL))["status"] == "member"

    async def test_a_private_channel_needs_a_link(self, http: aiohttp.ClientSession, telegram_bot: Bot,
                                                  emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        body = {"chat_id": PRIVATE_CHANNEL, "title": "Diana · VIP", "private": True}
        async with http.post(f"{emulator.base_url}/control/channels", json=body) as response:
            assert (await response.json())["result"] == {"id": PRIVATE_CHANNEL, "type": "channel",
                                                         "title": "Diana · VIP"}  # fmt: skip
        named = {**body, "username": "diana_vip"}
        async with http.post(f"{emulator.base_url}/control/channels", json=named) as response:
            assert response.status == 400
        with pytest.raises(AssertionError, match="CHANNEL_PRIVATE"):
            await ana.join(PRIVATE_CHANNEL)
        link = await telegram_bot.create_chat_invite_link(PRIVATE_CHANNEL)
        assert (await ana.join(PRIVATE_CHANNEL, link.invite_link))["status"] == "member"
        assert (await telegram_bot.get_chat_member(PRIVATE_CHANNEL, 7)).status == "member"

    async def test_join_requests_approved_and_declined(self, telegram_bot: Bot, emulator: BotAPIEmulator,
                                                       ana: EmulatedUser, bea: EmulatedUser) -> None:  # fmt: skip
        inbox = Inbox(telegram_bot, allowed_updates=["message", "chat_member", "chat_join_request"])
        await inbox.take(wait=0)
        link = await telegram_bot.create_chat_invite_link(CHANNEL, name="Solicitudes", creates_join_request=True)
        asked = await ana.join(CHANNEL, link.invite_link)
        assert asked["status"] == "pending" and asked["update_id"] is not None
        assert await ana.join(CHANNEL, link.invite_link) == {"update_id": None, "status": "pending"}
        request = (await inbox.one()).chat_join_request
        assert request is not None and request.chat.id == CHANNEL and request.from_user.id == 7
        assert request.user_chat_id == 7 and request.invite_link is not None
        assert request.invite_link.invite_link == link.invite_link and request.date is not None
        assert (await telegram_bot.get_chat_member(CHANNEL, 7)).status == "left"
        # While the request is pending, the bot may write to the requester.
        assert await telegram_bot.send_message(request.user_chat_id, "¡Hola! Revisamos tu solicitud")
        assert await telegram_bot.approve_chat_join_request(CHANNEL, 7)
        change = (await inbox.one()).chat_member
        assert change is not None and change.from_user.id == BOT_ID
        assert (change.old_chat_member.status, change.new_chat_member.status) == ("left", "member")
        assert change.invite_link is not None and change.invite_link.invite_link == link.invite_link
        assert (await telegram_bot.get_chat_member(CHANNEL, 7)).status == "member"
        with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
            await telegram_bot.approve_chat_join_request(CHANNEL, 7)
        assert (await bea.join(CHANNEL, link.invite_link))["status"] == "pending"
        await inbox.take()
        assert await telegram_bot.decline_chat_join_request(CHANNEL, 8)
        with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
            await telegram_bot.decline_chat_join_request(CHANNEL, 8)
        assert (await telegram_bot.get_chat_member(CHANNEL, 8)).status == "left"
        assert await inbox.take(wait=0) == []
        kinds = [e["kind"] for e in emulator.chats[CHANNEL].transcript]
        assert kinds == ["user_join_request", "bot_approve_join_request", "user_join", "user_join_request",
                         "bot_decline_join_request"]  # fmt: skip
        assert emulator.chats[CHANNEL].transcript[2]["approved"] is True

    async def test_ban_unban_and_rejoin(self, telegram_bot: Bot, ana: EmulatedUser) -> None:
        inbox = Inbox(telegram_bot, allowed_updates=["message", "chat_member"])
        await ana.send("hola")
        await inbox.take()
        await ana.join(CHANNEL)
        await inbox.take()
        assert await telegram_bot.ban_chat_member(CHANNEL, 7, revoke_messages=True)
        banned = (await inbox.one()).chat_member
        assert banned is not None and banned.from_user.id == BOT_ID
        assert (banned.old_chat_member.status, banned.new_chat_member.status) == ("member", "kicked")
        member = await telegram_bot.get_chat_member(CHANNEL, 7)
        assert member.status == "kicked" and int(member.until_date.timestamp()) == 0  # type: ignore[union-attr]
        with pytest.raises(AssertionError, match="USER_BANNED_IN_CHANNEL"):
            await ana.join(CHANNEL)
        assert await telegram_bot.unban_chat_member(CHANNEL, 7, only_if_banned=True)
        unbanned = (await inbox.one()).chat_member
        assert unbanned is not None and (unbanned.old_chat_member.status, unbanned.new_chat_member.status) == (
            "kicked", "left")  # fmt: skip
        assert (await telegram_bot.get_chat_member(CHANNEL, 7)).status == "left"
        assert (await ana.join(CHANNEL))["status"] == "member"
        await inbox.take()
        # only_if_banned leaves a member alone; without it, unbanning a member removes them.
        assert await telegram_bot.unban_chat_member(CHANNEL, 7, only_if_banned=True)
        assert (await telegram_bot.get_chat_member(CHANNEL, 7)).status == "member"
        assert await telegram_bot.unban_chat_member(CHANNEL, 7)
        assert (await telegram_bot.get_chat_member(CHANNEL, 7)).status == "left"
        until = int(time.time()) + 3600
        assert await telegram_bot.ban_chat_member(CHANNEL, 7, until_date=until)
        timed = await telegram_bot.get_chat_member(CHANNEL, 7)
        assert timed.status == "kicked" and int(timed.until_date.timestamp()) == until  # type: ignore[union-attr]
        with pytest.raises(TelegramBadRequest, match="can't ban members in private chats"):
            await telegram_bot.ban_chat_member(7, 7)
        with pytest.raises(TelegramBadRequest, match="method is available for supergroup and channel chats only"):
            await telegram_bot.unban_chat_member(7, 7)
        with pytest.raises(TelegramBadRequest, match="user is an administrator"):
            await telegram_bot.ban_chat_member(CHANNEL, BOT_ID)
        assert (await telegram_bot.get_chat_member(CHANNEL, BOT_ID)).status == "administrator"
