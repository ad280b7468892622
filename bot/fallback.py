"""Whatever no other router took: unknown or forged buttons, stickers, photos, and text that cannot be stored."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message
from pydantic_core import PydanticSerializationError

from adapters.texts import language_of, t
from workflows.contracts import JourneyError

log = logging.getLogger("diana.bot")
router = Router(name=__name__)


@router.errors(ExceptionTypeFilter(PydanticSerializationError, UnicodeEncodeError))
async def unstorable_text(event: ErrorEvent) -> None:
    """Text with a lone UTF-16 surrogate (only a forged update carries one) cannot be serialised for the journey,
    Postgres or Temporal: it fails before anything changes. A clear answer, and the update counts as handled
    (Telegram would otherwise deliver it again and again)."""
    update = event.update
    log.warning("update %s carries text that cannot be encoded: %s", update.update_id, type(event.exception).__name__)
    reject = f"reject.{JourneyError.INVALID_INPUT}"
    if update.message is not None and update.message.from_user is not None:
        await update.message.answer(t(reject, language_of(update.message.from_user.language_code)))
    elif update.callback_query is not None:
        query = update.callback_query
        await query.answer(t(reject, language_of(query.from_user.language_code)), show_alert=True)


@router.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    """Callback data that is not ours (forged or from an older bot): a short answer, nothing else."""
    await query.answer(t(f"reject.{JourneyError.UNKNOWN_ACTION}", language_of(query.from_user.language_code)),
                       show_alert=True)  # fmt: skip


@router.message()
async def unsupported(message: Message) -> None:
    """Messages without text."""
    language = language_of(message.from_user.language_code if message.from_user else None)
    await message.answer(t("unsupported", language))
