"""Messages the journeys send on their own: notifications, and the user's data export.

Telegram has no idempotency key, so each message is claimed in Postgres (``notifications``)
before it is sent and marked sent after: a retried activity or a restarted worker finds the
claim and does not send again. Only a crash between Telegram's answer and the mark (a few
milliseconds) can repeat a message; losing one is not possible, since the claim is retried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Final

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNotFound, TelegramRetryAfter
from aiogram.types import BufferedInputFile
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.pacing import Pacing
from adapters.exports import export_document
from adapters.media_library import SHIPPED_MEDIA, MediaLibrary
from adapters.screens import ScreenSender
from adapters.texts import t
from workflows import side_effects
from workflows.contracts import ExportData, MessageRefusal, Notify
from workflows.outbox import ACTIVITY_TIMEOUT

UNDELIVERABLE: Final = MessageRefusal.UNDELIVERABLE
TELEGRAM_REFUSED: Final = "TelegramRefused"
CLAIMED_ELSEWHERE: Final = "ClaimedElsewhere"
# Longer than any attempt of an activity lasts (Temporal's start-to-close timeout, ``outbox.ACTIVITY_TIMEOUT``).
CLAIM_LEASE: Final = ACTIVITY_TIMEOUT + timedelta(seconds=5)
# Answers that asking again will not change: bad request (no such chat or user, no rights), forbidden (blocked, not
# a member, not an admin), not found. 429, 5xx and network errors raise other errors and stay retryable.
REFUSALS: Final = (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound)


@asynccontextmanager
async def telegram_refusals_are_final(what: str) -> AsyncIterator[None]:
    """A call Telegram refuses for good fails the activity without retries: the journey parks the effect for support
    (retrying it every 30 s would hold up every later effect of that journey)."""
    try:
        yield
    except REFUSALS as refused:
        raise ApplicationError(f"Telegram refused {what}: {refused.message}", type=TELEGRAM_REFUSED,
                               non_retryable=True) from None  # fmt: skip


class TelegramActivities(side_effects.Messages):
    def __init__(self, bot: Bot, pool: asyncpg.Pool, *, pacer: Pacing | None = None,
                 screens: ScreenSender | None = None) -> None:  # fmt: skip
        self.bot = bot
        self.pool = pool
        self.screens = screens or ScreenSender(MediaLibrary(pool, SHIPPED_MEDIA))
        # The bulk budget shared with broadcasts (reminders go through it); None: bulk messages are not paced.
        self.pacer = pacer

    async def claim(self, key: str, user_id: int) -> bool:
        """True when this message still has to be sent (never sent, or an earlier attempt that died sending it).

        A claim younger than ``CLAIM_LEASE`` may belong to an attempt still sending (one called off when its journey
        moved to a new run goes on until its own time limit): this attempt then fails, to be retried after it.
        """
        status = await self.pool.fetchval(
            """
            INSERT INTO notifications (idempotency_key, telegram_user_id, status) VALUES ($1, $2, 'sending')
            ON CONFLICT (idempotency_key) DO UPDATE SET claimed_at = now()
                WHERE notifications.status = 'sending' AND notifications.claimed_at < now() - $3::interval
            RETURNING status
            """,
            key,
            user_id,
            CLAIM_LEASE,
        )
        if status is not None:
            return True
        earlier = await self.pool.fetchval("SELECT status FROM notifications WHERE idempotency_key = $1", key)
        if earlier == "sending":
            raise ApplicationError(f"message {key} is being sent by another attempt", type=CLAIMED_ELSEWHERE)
        return False

    async def _mark(self, key: str, status: str) -> None:
        await self.pool.execute(
            "UPDATE notifications SET status = $2, sent_at = now() WHERE idempotency_key = $1", key, status
        )

    async def mark_undeliverable(self, key: str) -> None:
        """A claimed message that will never be sent (Telegram refused what it needed): not tried again."""
        await self._mark(key, "undeliverable")

    async def deliver(self, key: str, sending: Awaitable[object]) -> None:
        """Send a claimed message and mark it; a refusal from Telegram is final, an outage is retried."""
        try:
            await sending
        except REFUSALS as refused:
            # Blocked, or no such chat: sending again will not help; 5xx and 429 raise other errors.
            await self._mark(key, "undeliverable")
            blocked = isinstance(refused, TelegramForbiddenError)
            raise ApplicationError(f"Telegram refused the message: {refused.message}",
                                   type=MessageRefusal.BLOCKED if blocked else UNDELIVERABLE,
                                   non_retryable=True) from None  # fmt: skip
        await self._mark(key, "sent")

    @activity.defn
    async def send_notification(self, effect: Notify) -> None:
        if not await self.claim(effect.idempotency_key, effect.user_id):
            activity.logger.info("notification %s already sent", effect.idempotency_key)
            return
        if effect.bulk and self.pacer is not None:
            await self.pacer.wait()
        try:
            await self.deliver(
                effect.idempotency_key, self.screens.send(self.bot, effect.user_id, effect.screen, effect.language)
            )
        except TelegramRetryAfter as flood:
            # Still flooded after the session's own waits: every bulk send holds back, and this one is retried.
            if effect.bulk and self.pacer is not None:
                self.pacer.hold(flood.retry_after)
            raise

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
