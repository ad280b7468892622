"""/usuario: an admin looks a user up (the same view as ``diana-support show``) and changes their journey.

``/usuario <id|@username>`` shows the journey beside its Postgres projection, with buttons to give or
take back besitos and to ban or unban. ``/dar <id|@username> <cantidad> <motivo>`` gives any amount
(negative takes back); a large one shows a preview and waits for the admin's ✅. Every change goes through the journey's ``Support`` Update, applied once per
Telegram update or button press, and is audited; anyone but an admin is refused and audited.
"""

from __future__ import annotations

import contextlib
import html
import logging
from typing import Final

import asyncpg
from aiogram import F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from redis.asyncio import Redis
from temporalio.service import RPCError

from adapters import staff
from adapters.callbacks import CallbackPrefix
from adapters.journeys import Journeys
from adapters.texts import language_of, t
from bot import confirmations
from bot.admins import AdminOnly, guarded_router
from bot.confirmations import ConfirmCB
from workflows.contracts import SupportAction
from workflows.economy import level_progress
from workflows.progress import spendable

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

BUTTON_GRANT: Final = 50
# A /dar of this many besitos or more (given or taken back) waits for the admin's ✅ on a preview.
LARGE_GRANT: Final = 500
CONFIRM_ACTION: Final = "grant"
PANEL_REASON: Final = "desde /usuario en Telegram"


class AdminUserCB(CallbackData, prefix=CallbackPrefix.ADMIN_USER):
    """A button under a user's view: ``action`` is grant, take, ban, unban or refresh."""

    user_id: int
    action: str


async def _view_text(journeys: Journeys, pool: asyncpg.Pool, user_id: int, language: str) -> tuple[str, bool]:
    view = await staff.view(journeys.client, pool, user_id)
    state = view.state
    profile = state.profile
    sub = state.subscription
    text = t("admin.user.view", language,
             name=profile.first_name if profile else "?", username=f"@{profile.username}" if profile and
             profile.username else "—", user_id=user_id, status=view.status, stage=state.stage,
             besitos=state.besitos, lifetime=state.lifetime_besitos, level=level_progress(state.lifetime_besitos).level,
             fragment=state.story.fragment_id or "—", playthrough=state.story.playthrough,
             decisions=state.story.decisions, vip=sub.status,
             expires=f"{sub.expires_at:%Y-%m-%d}" if sub.expires_at else "—", achievements=len(state.achievements),
             missions=len(state.missions), banned=t("admin.user.yes" if state.banned else "admin.user.no", language),
             last_seen=f"{state.last_seen:%Y-%m-%d %H:%M} UTC" if state.last_seen else "—")  # fmt: skip
    wallet = state.wallet
    text += "\n" + t("admin.user.wallet", language, spendable=spendable(state), reserved=wallet.reserved,
                      spent=wallet.spent, purchases=len(wallet.purchases),
                      waiting=sum(p.status == "waiting" for p in wallet.purchases))  # fmt: skip
    if view.disagreements and state.pending_effects:
        text += "\n\n" + t("admin.user.pending", language, count=len(state.pending_effects))
    elif view.disagreements:
        lines = "\n".join(html.escape(line) for line in view.disagreements)
        text += "\n\n" + t("admin.user.disagrees", language) + f"\n<code>{lines}</code>"
    else:
        text += "\n\n" + t("admin.user.agrees", language)
    return text, state.banned


def _buttons(user_id: int, banned: bool, language: str) -> InlineKeyboardMarkup:
    def button(action: str, label: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=t(label, language, amount=BUTTON_GRANT),
                                    callback_data=AdminUserCB(user_id=user_id, action=action).pack())  # fmt: skip

    return InlineKeyboardMarkup(inline_keyboard=[
        [button("grant", "admin.user.grant"), button("take", "admin.user.take")],
        [button("unban", "admin.user.unban") if banned else button("ban", "admin.user.ban"),
         button("refresh", "admin.user.refresh")],
    ])  # fmt: skip


@router.message(Command("usuario", "user"), flags={"admin": AdminOnly("user lookup")})
async def look_up(message: Message, command: CommandObject, journeys: Journeys, pool: asyncpg.Pool) -> None:
    """/usuario <id|@username>: the user's journey beside Postgres, with change buttons."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    who = (command.args or "").strip()
    if not who:
        await message.answer(t("admin.user.usage", language))
        return
    try:
        user_id = await staff.resolve_user(pool, who)
        text, banned = await _view_text(journeys, pool, user_id, language)
    except staff.SupportError as error:
        await message.answer(t("admin.user.not_found", language, reason=str(error)))
        return
    except RPCError:
        log.exception("journey of %s could not be read", who)
        await message.answer(t("reject.unavailable", language))
        return
    await message.answer(text, reply_markup=_buttons(user_id, banned, language))


@router.message(Command("dar", "grant"), flags={"admin": AdminOnly("grant")})
async def grant(message: Message, command: CommandObject, event_update: Update, journeys: Journeys,
                pool: asyncpg.Pool, redis: Redis) -> None:  # fmt: skip
    """/dar <id|@username> <cantidad> <motivo>: give besitos (a negative amount takes them back); from
    ``LARGE_GRANT`` on, a preview waits for the admin's ✅."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 3 or not parts[1].lstrip("-").isdigit() or len(parts[2].strip()) < 3:
        await message.answer(t("admin.user.grant_usage", language))
        return
    amount, reason = int(parts[1]), parts[2].strip()[:500]
    try:
        user_id = await staff.resolve_user(pool, parts[0])
        if abs(amount) >= LARGE_GRANT:
            state = await staff.journey_state(journeys.client, user_id)
            name = state.profile.first_name if state.profile else str(user_id)
            preview = t(f"admin.grant.preview.{'give' if amount > 0 else 'take'}", language, amount=abs(amount),
                        name=name, user_id=user_id, besitos=state.besitos, reason=reason)  # fmt: skip
            details = {"user_id": user_id, "amount": amount, "reason": reason,
                       "request_id": f"telegram-{event_update.update_id}"}  # fmt: skip
            await confirmations.ask(message, redis, admin_id=message.from_user.id, action=CONFIRM_ACTION,
                                    details=details, preview=preview, language=language)  # fmt: skip
            return
        reply = await staff.change(journeys.client, pool, user_id, "grant", actor=f"admin:{message.from_user.id}",
                                     reason=reason, amount=amount, request_id=f"telegram-{event_update.update_id}")  # fmt: skip
    except staff.SupportError as error:
        await message.answer(t("admin.user.refused", language, reason=str(error)))
        return
    except RPCError:
        log.exception("grant for %s not applied", parts[0])
        await message.answer(t("reject.unavailable", language))
        return
    await message.answer(t("admin.user.done", language, message=reply.message))


@router.callback_query(ConfirmCB.filter(F.action == CONFIRM_ACTION), flags={"admin": AdminOnly("grant")})
async def confirm_grant(query: CallbackQuery, callback_data: ConfirmCB, journeys: Journeys, pool: asyncpg.Pool,
                        redis: Redis) -> None:  # fmt: skip
    """✅ under a large grant's preview: applied once (its request id is the command's update); ✖️ forgets it."""
    language = language_of(query.from_user.language_code)
    pending = await confirmations.take(query, callback_data, redis, pool, language)
    if pending is None or not isinstance(query.message, Message):
        return
    details = pending.details
    try:
        reply = await staff.change(journeys.client, pool, int(details["user_id"]), "grant",
                                   actor=f"admin:{query.from_user.id}", reason=str(details["reason"]),
                                   amount=int(details["amount"]), request_id=str(details["request_id"]))  # fmt: skip
    except staff.SupportError as error:
        await query.message.answer(t("admin.user.refused", language, reason=str(error)))
        return
    except RPCError:
        log.exception("grant for %s not applied", details["user_id"])
        await query.message.answer(t("reject.unavailable", language))
        return
    await query.message.answer(t("admin.user.done", language, message=reply.message))


@router.callback_query(
    AdminUserCB.filter(F.action.in_({"grant", "take", "ban", "unban", "refresh"})),
    flags={"admin": AdminOnly("user change")},
)
async def pressed(callback: CallbackQuery, callback_data: AdminUserCB, journeys: Journeys, pool: asyncpg.Pool) -> None:
    """A button under a user's view: a change (applied once per press), or a fresh view."""
    language = language_of(callback.from_user.language_code)
    user_id, action = callback_data.user_id, callback_data.action
    if action != "refresh":
        change: SupportAction = "grant" if action in ("grant", "take") else action  # type: ignore[assignment]
        try:
            reply = await staff.change(journeys.client, pool, user_id, change, actor=f"admin:{callback.from_user.id}",
                                         reason=PANEL_REASON, amount=BUTTON_GRANT if action == "grant" else
                                         -BUTTON_GRANT if action == "take" else 0,
                                         request_id=f"callback-{callback.id}")  # fmt: skip
        except staff.SupportError as error:
            await callback.answer(t("admin.user.refused", language, reason=str(error))[:200], show_alert=True)
            return
        await callback.answer(reply.message[:200])
    try:
        text, banned = await _view_text(journeys, pool, user_id, language)
    except staff.SupportError as error:
        await callback.answer(str(error)[:200], show_alert=True)
        return
    if isinstance(callback.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # "message is not modified": nothing changed since
            await callback.message.edit_text(text, reply_markup=_buttons(user_id, banned, language))
    if action == "refresh":
        await callback.answer()
