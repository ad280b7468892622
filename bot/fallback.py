"""Whatever no other router took: unknown or forged buttons, stickers, photos."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.texts import language_of, t
from workflows.contracts import JourneyError

router = Router(name=__name__)


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
