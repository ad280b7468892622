"""Free text written to Diana.

Diana answers it in her voice, but the words themselves stay in the chat: no rule reads them, so they never go
into the journey (nor Temporal's history). Only their shape is checked here, as the journey would.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message, Update

from adapters.journeys import Journeys
from adapters.screens import ScreenSender
from adapters.texts import language_of, t
from bot.replies import answer_in_chat, ask, journey_request
from workflows.broadcast_contracts import telegram_length
from workflows.contracts import MAX_TEXT_LENGTH, JourneyError

router = Router(name=__name__)


@router.message(F.text)
async def free_text(message: Message, event_update: Update, journeys: Journeys, screens: ScreenSender) -> None:
    """Any other text (unknown commands included): the journey answers in Diana's voice."""
    assert message.from_user is not None and message.text is not None
    language = message.from_user.language_code
    if not _well_formed(message.text):
        await message.answer(t(f"reject.{JourneyError.INVALID_INPUT}", language_of(language)))
        return
    request = journey_request(event_update, message.from_user, "text")
    await answer_in_chat(message, await ask(journeys, request, language), screens)


def _well_formed(text: str) -> bool:
    """Within Telegram's length, and text that can be stored (no lone UTF-16 surrogate: only a forged update has one)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return telegram_length(text) <= MAX_TEXT_LENGTH
