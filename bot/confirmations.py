"""Admin actions that reach many people or move a lot wait for the admin's ✅, as content activation does.

The action waits in Redis, bound to the admin who asked, for ``CONFIRM_TTL``. ✅ takes it atomically (of two presses,
or two bot processes, only one runs it), ✖️ forgets it; a stale press, or another admin's, finds nothing to run.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

import asyncpg
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.audit import write_audit
from adapters.callbacks import CallbackPrefix
from adapters.texts import t

CONFIRM_TTL: Final = 1800  # seconds a preview waits for its ✅
PENDING_KEY: Final = "diana:admin:confirm:{}"
log = logging.getLogger("diana.bot")


GO: Final = "go"
CANCEL: Final = "cancel"


class ConfirmCB(CallbackData, prefix=CallbackPrefix.CONFIRM):
    """✅ or ✖️ under a preview: which kind of action, which one, and the answer (``GO``; anything else cancels)."""

    action: str
    token: str
    answer: str


class PendingAction(BaseModel):
    admin_id: int
    action: str
    details: dict[str, Any]


async def ask(message: Message, redis: Redis, *, admin_id: int, action: str, details: dict[str, Any],
              preview: str, language: str) -> None:  # fmt: skip
    """Keep the action for the admin's answer and show the preview with ✅ and ✖️."""
    token = secrets.token_urlsafe(8)
    pending = PendingAction(admin_id=admin_id, action=action, details=details)
    try:
        await redis.set(PENDING_KEY.format(token), pending.model_dump_json(), ex=CONFIRM_TTL)
    except RedisError:
        log.exception("%s from admin %s not kept for confirmation", action, admin_id)
        await message.answer(t("reject.unavailable", language))
        return
    buttons = [[InlineKeyboardButton(text=t("admin.confirm.go", language),
                                     callback_data=ConfirmCB(action=action, token=token, answer=GO).pack()),
                InlineKeyboardButton(text=t("admin.confirm.cancel", language),
                                     callback_data=ConfirmCB(action=action, token=token, answer=CANCEL).pack())]]  # fmt: skip
    await message.answer(preview, reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))


async def take(query: CallbackQuery, callback_data: ConfirmCB, redis: Redis, pool: asyncpg.Pool,
               language: str) -> PendingAction | None:  # fmt: skip
    """The action a ✅ may run now (taken: it runs once), or None when there is nothing to run: the press was ✖️, stale,
    or another admin's. Every press is answered here (another admin's audited)."""
    key = PENDING_KEY.format(callback_data.token)
    raw = await redis.get(key)
    pending = _parse(raw)
    if pending is None or pending.action != callback_data.action:
        await query.answer(t("admin.confirm.stale", language), show_alert=True)
        return None
    if pending.admin_id != query.from_user.id:
        await write_audit(pool, f"admin:{query.from_user.id}", f"{pending.action} refused", None,
                          "another admin's preview", {"callback_data": query.data or ""})  # fmt: skip
        await query.answer(t("admin.confirm.foreign", language), show_alert=True)
        return None
    # Taken atomically: of two presses (or two bot processes) only one gets it.
    if not await redis.delete(key):
        await query.answer(t("admin.confirm.stale", language), show_alert=True)
        return None
    await close_preview(query)
    await query.answer()
    if callback_data.answer != GO:
        if isinstance(query.message, Message):
            await query.message.answer(t("admin.confirm.cancelled", language))
        return None
    return pending


async def close_preview(query: CallbackQuery) -> None:
    """The preview loses its buttons, so it cannot be pressed again."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest:
            pass  # already without buttons


def _parse(raw: bytes | str | None) -> PendingAction | None:
    if raw is None:
        return None
    try:
        return PendingAction.model_validate_json(raw)
    except ValidationError:
        return None
