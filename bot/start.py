"""Commands: /start (onboarding or welcome back), /diana (the menu), /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message, Update

from adapters.journeys import Journeys
from adapters.screens import ScreenSender
from adapters.texts import language_of, t
from bot.replies import answer_in_chat, ask, journey_request
from workflows.referrals import code_from_payload

router = Router(name=__name__)


@router.message(CommandStart())
async def start(message: Message, command: CommandObject, event_update: Update, journeys: Journeys,
                screens: ScreenSender) -> None:  # fmt: skip
    """/start, with or without a deep-link payload: Diana's introduction, or the menu for a returning user. Of a
    payload only an invitation's code (``ref_<code>``, checked for its shape) reaches the journey."""
    assert message.from_user is not None
    code = code_from_payload(command.args)
    request = journey_request(event_update, message.from_user, "start", action=code or "")
    await answer_in_chat(message, await ask(journeys, request, message.from_user.language_code), screens)


@router.message(Command("diana", "menu"))
async def menu(message: Message, event_update: Update, journeys: Journeys, screens: ScreenSender) -> None:
    """/diana: the main menu."""
    assert message.from_user is not None
    request = journey_request(event_update, message.from_user, "menu")
    await answer_in_chat(message, await ask(journeys, request, message.from_user.language_code), screens)


@router.message(Command("help"))
async def help_command(message: Message) -> None:
    """/help: how to talk to Diana."""
    language = language_of(message.from_user.language_code if message.from_user else None)
    await message.answer(t("help", language))
