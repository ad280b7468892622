"""The private VIP channel: paid users get a single-use invite link; when VIP ends they are taken out.

Taking out is ban then unban: the user leaves the channel now and may come back through a new
link after paying again. Both activities are idempotent (the invite is claimed like a message;
banning and unbanning twice changes nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.telegram import TelegramActivities, telegram_refusals_are_final
from adapters.texts import t
from workflows import side_effects
from workflows.contracts import CloseVipChannel, OpenVipChannel

# Long enough to tap it later today, short enough that a forwarded link is soon worthless.
INVITE_LIFETIME: Final = timedelta(hours=24)


class VipChannelActivities(side_effects.VipChannel):
    def __init__(self, bot: Bot, channel_id: int | None, messages: TelegramActivities) -> None:
        self.bot = bot
        self.channel_id = channel_id
        self.messages = messages

    @activity.defn
    async def open_vip_channel(self, effect: OpenVipChannel) -> None:
        if self.channel_id is None:
            activity.logger.warning("no VIP channel configured: user %s gets no invite", effect.user_id)
            return
        if not await self.messages.claim(effect.idempotency_key, effect.user_id):
            return
        try:
            async with telegram_refusals_are_final("the VIP channel's invite"):
                # A user taken out before (an earlier VIP ended) may come back.
                await self.bot.unban_chat_member(self.channel_id, effect.user_id, only_if_banned=True)
                link = await self.bot.create_chat_invite_link(
                    self.channel_id,
                    name=f"VIP {effect.user_id}",
                    expire_date=datetime.now(UTC) + INVITE_LIFETIME,
                    member_limit=1,
                )
        except ApplicationError:
            await self.messages.mark_undeliverable(effect.idempotency_key)
            raise
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=t("vip.channel.button", effect.language), url=link.invite_link)]])  # fmt: skip
        text = t("vip.channel.invite", effect.language, hours=int(INVITE_LIFETIME.total_seconds() // 3600))
        await self.messages.deliver(effect.idempotency_key, self.bot.send_message(effect.user_id, text,
                                                                                 reply_markup=markup))  # fmt: skip

    @activity.defn
    async def close_vip_channel(self, effect: CloseVipChannel) -> None:
        if self.channel_id is None:
            return
        try:
            await self.bot.ban_chat_member(self.channel_id, effect.user_id)
        except TelegramBadRequest as refused:
            # Never joined, or already gone: nothing to take away.
            activity.logger.info("user %s not banned from the VIP channel: %s", effect.user_id, refused.message)
        async with telegram_refusals_are_final("taking the user out of the VIP channel"):
            await self.bot.unban_chat_member(self.channel_id, effect.user_id, only_if_banned=True)
