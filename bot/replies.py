"""From an update to the journey and back: build the request, ask the journey, show the screen."""

from __future__ import annotations

import logging

from aiogram.types import Message, Update, User

from adapters.journeys import JourneyRejected, Journeys, JourneyUnavailable
from adapters.screens import ScreenSender
from adapters.texts import language_of, t
from bot.dead_letters import keep_for_support, update_digest
from workflows.contracts import JourneyReply, JourneyRequest, RequestKind, TelegramProfile

log = logging.getLogger("diana.bot")


class Refusal:
    """Why the journey did not answer, as text for the user."""

    def __init__(self, key: str, language: str) -> None:
        self.text = t(key, language)


def journey_request(
    update: Update, user: User, kind: RequestKind, *, action: str = "", screen: int = 0, text: str = ""
) -> JourneyRequest:
    """The journey's view of ``update``; its fingerprint tells a redelivery from a reused update id."""
    return JourneyRequest(
        update_id=update.update_id,
        fingerprint=update_digest(update),
        user_id=user.id,
        kind=kind,
        action=action,
        screen=screen,
        text=text,
        profile=TelegramProfile(
            user_id=user.id, first_name=user.first_name, username=user.username, language_code=user.language_code
        ),
    )


async def ask(journeys: Journeys, request: JourneyRequest, language_code: str | None) -> JourneyReply | Refusal:
    language = language_of(language_code)
    try:
        return await journeys.interact(request)
    except JourneyRejected as rejected:
        return Refusal(f"reject.{rejected.kind}", language)
    except JourneyUnavailable as unavailable:
        log.warning("update %s kept for support: %s", request.update_id, unavailable.reason)
        keep_for_support(unavailable.reason)
        return Refusal("reject.unavailable", language)


async def answer_in_chat(message: Message, outcome: JourneyReply | Refusal, screens: ScreenSender) -> None:
    """Show the outcome as new messages in the user's chat."""
    if isinstance(outcome, Refusal):
        await message.answer(outcome.text)
        return
    assert message.bot is not None
    await screens.send(message.bot, message.chat.id, outcome.screen, outcome.language)
