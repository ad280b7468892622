"""Diana's Telegram bot: a thin translator from updates to journey Updates, one Router per feature."""

from __future__ import annotations

from aiogram import Dispatcher, F
from aiogram.enums import ChatType

from bot import conversation, fallback, navigation, start
from bot.journeys import Journeys
from bot.middlewares import UserSerialisation


def build_dispatcher(journeys: Journeys) -> Dispatcher:
    dispatcher = Dispatcher(journeys=journeys)
    dispatcher.update.outer_middleware(UserSerialisation())
    # Journeys live in the private chat with Diana: a root filter here gates every router's messages.
    dispatcher.message.filter(F.chat.type == ChatType.PRIVATE)
    # Order matters: commands before free text, fallback last.
    dispatcher.include_routers(start.router, navigation.router, conversation.router, fallback.router)
    return dispatcher
