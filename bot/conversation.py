"""Free text written to Diana."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message, Update

from adapters.journeys import Journeys
from bot.replies import answer_in_chat, ask, journey_request

router = Router(name=__name__)


@router.message(F.text)
async def free_text(message: Message, event_update: Update, journeys: Journeys) -> None:
    """Any other text (unknown commands included): the journey answers in Diana's voice."""
    assert message.from_user is not None and message.text is not None
    request = journey_request(event_update, message.from_user, "text", text=message.text)
    await answer_in_chat(message, await ask(journeys, request, message.from_user.language_code))
