"""Buttons of journey screens: each press goes to the journey, and the screen is redrawn in place."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message, Update

from bot.callbacks import JourneyCB
from bot.journeys import Journeys
from bot.replies import Refusal, ask, journey_request
from bot.texts import language_of, render, t
from workflows.contracts import JourneyError

router = Router(name=__name__)


@router.callback_query(JourneyCB.filter())
async def press(query: CallbackQuery, callback_data: JourneyCB, event_update: Update, journeys: Journeys,
                bot: Bot) -> None:  # fmt: skip
    """A journey button: the journey decides the next screen, which replaces the pressed one."""
    language = language_of(query.from_user.language_code)
    # Journey buttons live only in the user's own private chat.
    if query.message is None or query.message.chat.id != query.from_user.id:
        await query.answer(t(f"reject.{JourneyError.FOREIGN_USER}", language), show_alert=True)
        return
    request = journey_request(
        event_update, query.from_user, "button", action=callback_data.action, screen=callback_data.screen
    )
    outcome = await ask(journeys, request, query.from_user.language_code)
    if isinstance(outcome, Refusal):
        await query.answer(outcome.text, show_alert=True)
        return
    await query.answer()
    text, markup = render(outcome.screen, outcome.language)
    if not isinstance(query.message, Message):  # too old to edit: send it anew
        await bot.send_message(query.from_user.id, text, reply_markup=markup)
        return
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        # A redelivered press redraws the same screen; Telegram rejects the identical edit.
        if "message is not modified" not in error.message:
            raise
