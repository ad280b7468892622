"""Buttons of journey screens: each press goes to the journey, and the screen is redrawn in place."""

from __future__ import annotations

import asyncio

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Update

from adapters.callbacks import JourneyCB
from adapters.journeys import Journeys
from adapters.screens import ScreenSender
from adapters.texts import language_of, t
from bot.replies import Refusal, ask, journey_request
from workflows.contracts import JourneyError

router = Router(name=__name__)


@router.callback_query(JourneyCB.filter())
async def press(query: CallbackQuery, callback_data: JourneyCB, event_update: Update, journeys: Journeys,
                bot: Bot, screens: ScreenSender) -> None:  # fmt: skip
    """A journey button: the journey decides the next screen, which replaces the pressed one."""
    language = language_of(query.from_user.language_code)
    # Journey buttons live only in the user's own private chat.
    if query.message is None or query.message.chat.id != query.from_user.id:
        await _answer(query, t(f"reject.{JourneyError.FOREIGN_USER}", language))
        return
    request = journey_request(
        event_update, query.from_user, "button", action=callback_data.action, screen=callback_data.screen
    )
    outcome = await ask(journeys, request, query.from_user.language_code)
    if isinstance(outcome, Refusal):
        await _answer(query, outcome.text)
        return
    # The spinner stops and the screen is redrawn at once: the user waits for one round trip, not two.
    await asyncio.gather(_answer(query), screens.replace(bot, query.message, outcome.screen, outcome.language))


async def _answer(query: CallbackQuery, alert: str | None = None) -> None:
    """Stop the button's spinner (an answer too late for Telegram is no error: ``adapters.telegram.LateCallbackAnswers``)."""
    await query.answer(alert, show_alert=alert is not None)
