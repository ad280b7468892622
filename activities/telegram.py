"""Messages the journeys send on their own: notifications, and the user's data export.

Telegram has no idempotency key, so each message is claimed in Postgres (``notifications``)
before it is sent and marked sent after: a retried activity or a restarted worker finds the
claim and does not send again. Only a crash between Telegram's answer and the mark (a few
milliseconds) can repeat a message; losing one is not possible, since the claim is retried.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.exports import export_document
from adapters.texts import render, t
from workflows import side_effects
from workflows.contracts import ExportData, Notify

UNDELIVERABLE: Final = "Undeliverable"


class TelegramActivities(side_effects.Messages):
    def __init__(self, bot: Bot, pool: asyncpg.Pool) -> None:
        self.bot = bot
        self.pool = pool

    async def claim(self, key: str, user_id: int) -> bool:
        """True when this message still has to be sent (never sent, or a crashed earlier attempt)."""
        status = await self.pool.fetchval(
            """
            INSERT INTO notifications (idempotency_key, telegram_user_id, status) VALUES ($1, $2, 'sending')
            ON CONFLICT (idempotency_key) DO UPDATE SET status = notifications.status
            RETURNING status
            """,
            key,
            user_id,
        )
        return bool(status == "sending")

    async def _mark(self, key: str, status: str) -> None:
        await self.pool.execute(
            "UPDATE notifications SET status = $2, sent_at = now() WHERE idempotency_key = $1", key, status
        )

    async def deliver(self, key: str, sending: Awaitable[object]) -> None:
        """Send a claimed message and mark it; a refusal from Telegram is final, an outage is retried."""
        try:
            await sending
        except (TelegramForbiddenError, TelegramBadRequest) as refused:
            # Blocked, or no such chat: sending again will not help; 5xx and 429 raise other errors.
            await self._mark(key, "undeliverable")
            raise ApplicationError(f"Telegram refused the message: {refused.message}", type=UNDELIVERABLE,
                                   non_retryable=True) from None  # fmt: skip
        await self._mark(key, "sent")

    @activity.defn
    async def send_notification(self, effect: Notify) -> None:
        if not await self.claim(effect.idempotency_key, effect.user_id):
            activity.logger.info("notification %s already sent", effect.idempotency_key)
            return
        text, markup = render(effect.screen, effect.language)
        await self.deliver(effect.idempotency_key, self.bot.send_message(effect.user_id, text, reply_markup=markup))

    @activity.defn
    async def send_data_export(self, effect: ExportData) -> None:
        """A JSON document with the journey and every Postgres row about the user, sent as a file."""
        if not await self.claim(effect.idempotency_key, effect.user_id):
            return
        document = await export_document(self.pool, effect.user_id, effect.journey, effect.requested_at)
        payload = document.encode()
        file = BufferedInputFile(payload, filename=f"diana-{effect.user_id}.json")
        caption = t("export.caption", effect.language)
        await self.deliver(effect.idempotency_key, self.bot.send_document(effect.user_id, file, caption=caption))
