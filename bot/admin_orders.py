"""🎁 Pedidos: the orders waiting for the admins (creator's rewards made by hand), each marked delivered or refunded.

The list comes from Postgres (``adapters.orders``), the oldest first. The journey is the truth: ✅ Entregado and
↩️ Reembolsar go through its ``Support`` Update (``adapters.staff.change``), applied once per request id (the button
press) and audited. A refund waits for its admin's ✅ on a preview (``bot.confirmations``). An order another admin
handled first is answered as such and nothing changes: the journey refuses a second delivery or refund of one entry.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Final

import asyncpg
from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from redis.asyncio import Redis
from temporalio.service import RPCError

from adapters import orders, staff
from adapters.callbacks import OrderCB
from adapters.content_store import active_shop
from adapters.journeys import Journeys
from adapters.texts import language_of, t
from bot import confirmations
from bot.admins import AdminOnly, guarded_router
from bot.confirmations import ConfirmCB
from workflows.contracts import Language, Purchase
from workflows.days import local_moment

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

CONFIRM_ACTION: Final = "order_refund"
REASON: Final = "desde 🎁 Pedidos en Telegram"
# A backpack entry's name in the journey: what a button may carry (anything else is a forged or broken press).
PURCHASE_NAME: Final = re.compile(r"p[0-9]{1,9}")
# Telegram shows at most 200 characters of a button's answer.
ANSWER_LIMIT: Final = 200

Handled = frozenset[tuple[int, str]]


def orders_button(language: str) -> InlineKeyboardButton:
    """The admin panel's button that opens the list."""
    return InlineKeyboardButton(text=t("admin.panel.button.orders", language),
                                callback_data=OrderCB(action="list").pack())  # fmt: skip


async def orders_view(pool: asyncpg.Pool, language: str,
                      handled: Handled = frozenset()) -> tuple[str, InlineKeyboardMarkup]:  # fmt: skip
    """The orders waiting, as text and a ✅/↩️ pair per order. ``handled``: orders just delivered or refunded, left out
    even if Postgres has not caught up with the journey yet."""
    found = await orders.waiting(pool, orders.MAX_SHOWN + len(handled))
    fresh = [order for order in found.orders if (order.user_id, order.purchase) not in handled]
    total, shown = found.total - (len(found.orders) - len(fresh)), fresh[: orders.MAX_SHOWN]
    refresh = [InlineKeyboardButton(text=t("admin.orders.refresh", language),
                                    callback_data=OrderCB(action="refresh").pack())]  # fmt: skip
    if not shown:
        return t("admin.orders.none", language), InlineKeyboardMarkup(inline_keyboard=[refresh])
    shop, timezone = await active_shop(pool)
    lang: Language = "en" if language == "en" else "es"
    lines, rows = [t("admin.orders.title", language, total=total)], []
    for number, order in enumerate(shown, start=1):
        item = shop.by_code.get(order.item)
        lines += ["", t("admin.orders.line", language, number=number, item=order.item, price=order.price,
                        item_name=item.name.get(lang) if item else order.item, name=order.first_name or "?",
                        username=f" @{order.username}" if order.username else "", user_id=order.user_id,
                        purchase=order.purchase, date=local_moment(order.bought_at, timezone))]  # fmt: skip
        rows.append([InlineKeyboardButton(text=t(f"admin.orders.{action}", language, number=number),
                                          callback_data=OrderCB(action=action, user_id=order.user_id,
                                                                purchase=order.purchase).pack())
                     for action in ("deliver", "refund")])  # fmt: skip
    if total > len(shown):
        lines.append(t("admin.panel.more", language, count=total - len(shown)))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[*rows, refresh])


async def redraw(bot: Bot, chat_id: int, message_id: int, pool: asyncpg.Pool, language: str,
                 handled: Handled = frozenset()) -> None:  # fmt: skip
    text, keyboard = await orders_view(pool, language, handled)
    with contextlib.suppress(TelegramBadRequest):  # "message is not modified", or a list too old to edit
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard)


@router.callback_query(OrderCB.filter(), flags={"admin": AdminOnly("orders")})
async def press(query: CallbackQuery, callback_data: OrderCB, bot: Bot, journeys: Journeys, pool: asyncpg.Pool,
                redis: Redis) -> None:  # fmt: skip
    """A button of the orders list (or the panel's 🎁): show it, redraw it, deliver an order, or ask to refund one."""
    language = language_of(query.from_user.language_code)
    action = callback_data.action
    if action == "list":
        await query.answer()
        text, keyboard = await orders_view(pool, language)
        await bot.send_message(query.from_user.id, text, reply_markup=keyboard)
        return
    if not isinstance(query.message, Message) or (action != "refresh" and not _names_an_order(callback_data)):
        await query.answer(t("admin.panel.unknown", language), show_alert=True)
        return
    if action == "refresh":
        await query.answer()
        await redraw(bot, query.message.chat.id, query.message.message_id, pool, language)
    elif action == "deliver":
        await deliver(query, query.message, callback_data, bot, journeys, pool, language)
    elif action == "refund":
        await ask_refund(query, query.message, callback_data, journeys, pool, redis, language)
    else:
        await query.answer(t("admin.panel.unknown", language), show_alert=True)


def _names_an_order(data: OrderCB) -> bool:
    return data.user_id > 0 and PURCHASE_NAME.fullmatch(data.purchase) is not None


async def deliver(query: CallbackQuery, listed: Message, data: OrderCB, bot: Bot, journeys: Journeys,
                  pool: asyncpg.Pool, language: str) -> None:  # fmt: skip
    """✅ Entregado: the journey marks the order delivered and tells the user, once (the press is the request id)."""
    try:
        await staff.change(journeys.client, pool, data.user_id, "deliver_order", actor=f"admin:{query.from_user.id}",
                           reason=REASON, purchase=data.purchase, request_id=f"callback-{query.id}")  # fmt: skip
    except staff.SupportError as error:
        await query.answer((await why_not(journeys, data, str(error), language))[:ANSWER_LIMIT], show_alert=True)
        await redraw(bot, listed.chat.id, listed.message_id, pool, language)
        return
    except RPCError:
        log.exception("order %s of %s not delivered", data.purchase, data.user_id)
        await query.answer(t("reject.unavailable", language)[:ANSWER_LIMIT], show_alert=True)
        return
    await query.answer(t("admin.orders.delivered", language, purchase=data.purchase)[:ANSWER_LIMIT])
    await redraw(bot, listed.chat.id, listed.message_id, pool, language, frozenset({(data.user_id, data.purchase)}))


async def ask_refund(query: CallbackQuery, listed: Message, data: OrderCB, journeys: Journeys, pool: asyncpg.Pool,
                     redis: Redis, language: str) -> None:  # fmt: skip
    """↩️ Reembolsar: a preview of what goes back to whom, waiting for this admin's ✅."""
    try:
        entry = await _entry(journeys, data)
    except (staff.SupportError, RPCError) as error:
        await query.answer(t("admin.orders.refused", language, reason=str(error))[:ANSWER_LIMIT], show_alert=True)
        return
    purchase, name = entry
    if purchase is None or purchase.status != "waiting":
        await query.answer(_already(purchase, language, t("admin.orders.already.gone", language)), show_alert=True)
        return
    shop, _ = await active_shop(pool)
    item = shop.by_code.get(purchase.item)
    preview = t("admin.orders.refund_preview", language, purchase=purchase.id, name=name, user_id=data.user_id,
                item_name=item.name.get("en" if language == "en" else "es") if item else purchase.item,
                price=purchase.price)  # fmt: skip
    # The request id is this press's: however the preview is answered, the refund applies once.
    details = {"user_id": data.user_id, "purchase": purchase.id, "name": name, "list": listed.message_id,
               "request_id": f"callback-{query.id}"}  # fmt: skip
    await query.answer()
    await confirmations.ask(listed, redis, admin_id=query.from_user.id, action=CONFIRM_ACTION, details=details,
                            preview=preview, language=language)  # fmt: skip


@router.callback_query(ConfirmCB.filter(F.action == CONFIRM_ACTION), flags={"admin": AdminOnly("order refund")})
async def confirm_refund(query: CallbackQuery, callback_data: ConfirmCB, bot: Bot, journeys: Journeys,
                         pool: asyncpg.Pool, redis: Redis) -> None:  # fmt: skip
    """✅ under a refund's preview: the besitos go back once, the user is told, the list is redrawn; ✖️ forgets it."""
    language = language_of(query.from_user.language_code)
    pending = await confirmations.take(query, callback_data, redis, pool, language)
    if pending is None or not isinstance(query.message, Message):
        return
    details = pending.details
    data = OrderCB(action="refund", user_id=int(details["user_id"]), purchase=str(details["purchase"]))
    try:
        # Delivered by another admin while the preview waited: not refunded behind their back.
        purchase, _ = await _entry(journeys, data)
        if purchase is None or purchase.status != "waiting":
            await query.message.answer(_already(purchase, language, t("admin.orders.already.gone", language)))
            return
        reply = await staff.change(journeys.client, pool, data.user_id, "refund_purchase",
                                   actor=f"admin:{query.from_user.id}", reason=REASON, purchase=data.purchase,
                                   request_id=str(details["request_id"]))  # fmt: skip
    except staff.SupportError as error:
        await query.message.answer(await why_not(journeys, data, str(error), language))
        return
    except RPCError:
        log.exception("order %s of %s not refunded", data.purchase, data.user_id)
        await query.message.answer(t("reject.unavailable", language))
        return
    await query.message.answer(t("admin.orders.refunded", language, purchase=data.purchase, name=str(details["name"]),
                                 message=reply.message))  # fmt: skip
    await redraw(bot, query.message.chat.id, int(details["list"]), pool, language,
                 frozenset({(data.user_id, data.purchase)}))  # fmt: skip


async def _entry(journeys: Journeys, data: OrderCB) -> tuple[Purchase | None, str]:
    """The order as the journey holds it (None: no such entry) and the user's first name."""
    state = await staff.journey_state(journeys.client, data.user_id)
    purchase = next((p for p in state.wallet.purchases if p.id == data.purchase), None)
    return purchase, state.profile.first_name if state.profile else str(data.user_id)


async def why_not(journeys: Journeys, data: OrderCB, error: str, language: str) -> str:
    """Why the journey refused: the order was delivered or refunded already (by another admin), is gone, or the
    journey's own reason."""
    try:
        purchase, _ = await _entry(journeys, data)
    except (staff.SupportError, RPCError):
        return t("admin.orders.refused", language, reason=error)
    return _already(purchase, language, t("admin.orders.refused", language, reason=error))


def _already(purchase: Purchase | None, language: str, otherwise: str) -> str:
    if purchase is None:
        return t("admin.orders.already.gone", language)
    if purchase.status in ("delivered", "refunded"):
        return t(f"admin.orders.already.{purchase.status}", language)
    return otherwise
