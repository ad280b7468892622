"""🚪 The free channels' door: join requests approved after the admin's delay, and the admins' view of them.

A join request to a free channel (``Settings.free_channel_ids``) starts its ``Door`` workflow (``workflows.door``)
with the delay in force now: changing the delay later applies to new requests only (the waiting ones keep theirs,
and "approve all now" is there for them). The workflow sends Diana's messages and approves; the bot only starts it
(a redelivered update finds the one already waiting). Admins: /solicitudes (or the panel's 🚪) lists the requests
waiting, with "approve all now"; /puerta <minutos> sets the delay (0 to 24 h), kept in Postgres.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import CallbackQuery, ChatJoinRequest, InlineKeyboardButton, InlineKeyboardMarkup, Message
from temporalio.service import RPCError

from adapters import door
from adapters.audit import write_audit
from adapters.callbacks import DoorCB
from adapters.journeys import Journeys
from adapters.texts import language_of, t
from bot.admins import AdminOnly, guarded_router
from infra.settings import Settings
from workflows.days import local_moment
from workflows.door_contracts import DoorInput
from workflows.door_rules import MAX_DELAY_MINUTES, parse_delay_minutes

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")


class FreeChannel(Filter):
    """Join requests to a channel configured as free."""

    async def __call__(self, event: ChatJoinRequest, settings: Settings) -> bool:
        return event.chat.id in settings.free_channel_ids


@router.chat_join_request(FreeChannel())
async def free_join_request(event: ChatJoinRequest, journeys: Journeys, pool: asyncpg.Pool) -> None:
    """Someone asks into a free channel: their door opens after the delay in force now."""
    delay = await door.door_delay(pool)
    request = DoorInput(chat_id=event.chat.id, user_id=event.from_user.id,
                        language=language_of(event.from_user.language_code),
                        channel_title=(event.chat.title or "")[:256], delay_seconds=int(delay.total_seconds()),
                        requested_at=event.date)  # fmt: skip
    await door.open_door(journeys.client, journeys.task_queue, request)


def door_button(language: str) -> InlineKeyboardButton:
    """The admin panel's button that opens the list."""
    return InlineKeyboardButton(text=t("admin.panel.button.door", language),
                                callback_data=DoorCB(action="list").pack())  # fmt: skip


def delay_text(delay: timedelta, language: str) -> str:
    minutes = int(delay.total_seconds() // 60)
    if minutes and minutes % 60 == 0:
        return t("admin.door.hours", language, hours=minutes // 60)
    return t("admin.door.minutes", language, minutes=minutes)


async def requests_view(journeys: Journeys, pool: asyncpg.Pool, language: str) -> tuple[str, InlineKeyboardMarkup]:
    """The requests waiting and the delay, with "approve all now" and refresh."""
    pending = await door.pending_requests(journeys.client, journeys.task_queue)
    delay = delay_text(await door.door_delay(pool), language)
    refresh = [InlineKeyboardButton(text=t("admin.door.refresh", language),
                                    callback_data=DoorCB(action="refresh").pack())]  # fmt: skip
    if not pending:
        return t("admin.door.none", language, delay=delay), InlineKeyboardMarkup(inline_keyboard=[refresh])
    lines = [t("admin.door.title", language, total=len(pending), delay=delay)]
    for number, request in enumerate(pending[: door.MAX_SHOWN], start=1):
        since = local_moment(request.requested_at, journeys.content.timezone) if request.requested_at else "?"
        lines.append(t("admin.door.line", language, number=number, user_id=request.user_id, chat_id=request.chat_id,
                       date=since))  # fmt: skip
    if len(pending) > door.MAX_SHOWN:
        lines.append(t("admin.panel.more", language, count=len(pending) - door.MAX_SHOWN))
    approve = [InlineKeyboardButton(text=t("admin.door.approve_all", language),
                                    callback_data=DoorCB(action="approve_all").pack())]  # fmt: skip
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[approve, refresh])


@router.message(Command("solicitudes", "requests"), flags={"admin": AdminOnly("door requests")})
async def list_requests(message: Message, journeys: Journeys, pool: asyncpg.Pool) -> None:
    """/solicitudes: the join requests waiting at the free channels' door."""
    assert message.from_user is not None
    text, keyboard = await requests_view(journeys, pool, language_of(message.from_user.language_code))
    await message.answer(text, reply_markup=keyboard)


@router.message(Command("puerta", "door"), flags={"admin": AdminOnly("door delay")})
async def set_delay(message: Message, command: CommandObject, pool: asyncpg.Pool) -> None:
    """/puerta <minutos>: the delay before new join requests are approved, 0 to 24 h; anything else changes
    nothing and says how."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    minutes = parse_delay_minutes(command.args)
    if minutes is None:
        current = delay_text(await door.door_delay(pool), language)
        await message.answer(t("admin.door.usage", language, delay=current, max=MAX_DELAY_MINUTES))
        return
    delay = timedelta(minutes=minutes)
    await door.set_door_delay(pool, delay, message.from_user.id)
    await write_audit(pool, f"admin:{message.from_user.id}", "door delay", None, None, {"minutes": minutes})
    await message.answer(t("admin.door.changed", language, delay=delay_text(delay, language)))


@router.callback_query(DoorCB.filter(), flags={"admin": AdminOnly("door requests")})
async def press(query: CallbackQuery, callback_data: DoorCB, bot: Bot, journeys: Journeys,
                pool: asyncpg.Pool) -> None:  # fmt: skip
    """A button of the list (or the panel's 🚪): show it, redraw it, or approve every request now."""
    language = language_of(query.from_user.language_code)
    action = callback_data.action
    try:
        if action == "list":
            await query.answer()
            text, keyboard = await requests_view(journeys, pool, language)
            await bot.send_message(query.from_user.id, text, reply_markup=keyboard)
        elif action == "refresh" and isinstance(query.message, Message):
            await query.answer()
            text, keyboard = await requests_view(journeys, pool, language)
            with contextlib.suppress(TelegramBadRequest):  # "message is not modified"
                await query.message.edit_text(text, reply_markup=keyboard)
        elif action == "approve_all":
            count = await door.approve_all_now(journeys.client, journeys.task_queue)
            await write_audit(pool, f"admin:{query.from_user.id}", "door approve all", None, None, {"count": count})
            await query.answer(t("admin.door.approved_all", language, count=count), show_alert=True)
        else:
            await query.answer(t("admin.panel.unknown", language), show_alert=True)
    except RPCError:
        log.exception("the door's requests could not be read or approved")
        await query.answer(t("reject.unavailable", language)[:200], show_alert=True)
