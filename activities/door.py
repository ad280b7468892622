"""The free channels' door in Telegram: the wait message with Diana's links, the approval, the welcome.

Messages are claimed like the journeys' own (``TelegramActivities.claim``): each is sent once. Telegram lets the
bot write to someone who asked to join (``user_chat_id``) even if they never started it; a user who blocked the
bot answers 403, which fails the message for good (the door then approves in silence). Telegram allows writing to
someone who never started the bot for 5 minutes after the request: a later welcome to them may be refused, and
the approval stands. Approving twice is not
possible: a request already approved is gone (HIDE_REQUESTER_MISSING), and the user is then found a member.
"""

from __future__ import annotations

from typing import Final

import asyncpg
from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from activities.telegram import REFUSALS, TelegramActivities
from adapters.content_store import active_community
from adapters.texts import t
from workflows import side_effects
from workflows.door_contracts import DoorAnswer, DoorMessage, DoorOutcome
from workflows.journey import JourneyWorkflow, journey_id

MEMBER: Final = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.RESTRICTED, ChatMemberStatus.ADMINISTRATOR,
                           ChatMemberStatus.CREATOR})  # fmt: skip
# Telegram's word for a request that is not there (withdrawn, or already handled).
GONE: Final = "HIDE_REQUESTER_MISSING"


class DoorActivities(side_effects.Door):
    def __init__(self, bot: Bot, pool: asyncpg.Pool, messages: TelegramActivities) -> None:
        self.bot = bot
        self.pool = pool
        self.messages = messages

    @activity.defn
    async def door_banned(self, user_id: int) -> bool:
        handle = activity.client().get_workflow_handle(journey_id(user_id))
        try:
            state = await handle.query(JourneyWorkflow.current_state)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:  # never started the bot, or erased: nobody banned them
                return False
            raise
        return state.banned

    @activity.defn
    async def send_door_message(self, message: DoorMessage) -> None:
        if not await self.messages.claim(message.idempotency_key, message.user_id):
            activity.logger.info("door message %s already sent", message.idempotency_key)
            return
        channel = message.channel_title or t("door.channel.unnamed", message.language)
        markup = None
        if message.kind == "wait":
            community = await active_community(self.pool)
            minutes = max(round(message.delay_seconds / 60), 1)
            text = t("door.wait", message.language, channel=channel, wait=t(
                "door.wait.soon" if message.delay_seconds < 60 * 60 else "door.wait.later", message.language,
                minutes=minutes, hours=max(round(message.delay_seconds / 3600), 1)))  # fmt: skip
            buttons = [[InlineKeyboardButton(text=link.label.get(message.language), url=link.url)]
                       for link in community.links]  # fmt: skip
            markup = InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None
        else:
            text = t("door.welcome", message.language, channel=channel)
        await self.messages.deliver(message.idempotency_key,
                                    self.bot.send_message(message.user_id, text, reply_markup=markup))  # fmt: skip

    @activity.defn
    async def door_answer(self, answer: DoorAnswer) -> DoorOutcome:
        try:
            if answer.approve:
                await self.bot.approve_chat_join_request(answer.chat_id, answer.user_id)
                return "approved"
            await self.bot.decline_chat_join_request(answer.chat_id, answer.user_id)
            return "declined"
        except TelegramBadRequest as refused:
            if answer.approve and await self._member(answer):
                return "approved"  # an earlier attempt approved it (its answer was lost), or the user got in
            if GONE in refused.message or not answer.approve:
                activity.logger.info("join request of %s to %s gone: %s", answer.user_id, answer.chat_id,
                                     refused.message)  # fmt: skip
                return "withdrawn" if answer.approve else "declined"
            activity.logger.warning("Telegram refused the door of %s: %s", answer.chat_id, refused.message)
            return "refused"
        except REFUSALS as refused:
            activity.logger.warning("Telegram refused the door of %s: %s", answer.chat_id, refused.message)
            return "refused"

    async def _member(self, answer: DoorAnswer) -> bool:
        try:
            member = await self.bot.get_chat_member(answer.chat_id, answer.user_id)
        except REFUSALS:
            return False
        return member.status in MEMBER
