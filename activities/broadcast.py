"""Admin broadcasts: who is in a segment, and sending a page of messages within Telegram's limits.

Pacing: every message goes through the deployment's bulk budget (:mod:`activities.pacing`, shared with the
daily reminders); the per-chat limit holds by construction, since a broadcast sends each user one message. When Telegram still answers 429, the session middleware waits
``retry_after`` and tries again; should that give up, the pacer holds every send for ``retry_after``
and the message is tried again, a bounded number of times.

Exactly once, as far as Telegram allows: each message is claimed in ``notifications`` (key
``broadcast:<id>:<user id>``) before it is sent and marked after. A retried page, a second worker or a
redelivered start finds the claim and does not send again. The journeys' notifications
(:class:`activities.telegram.TelegramActivities`) resend a claim left "sending" by a crash; a broadcast
does not: whether that one message arrived is unknown, so it is counted ``unconfirmed`` instead of
risking a second copy (at most one per crashed page, the one in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final, Literal

import asyncpg
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.pacing import Pacer, Pacing
from adapters.audience import RECIPIENTS_SQL, segment_size
from adapters.screens import PostPart, post_parts
from adapters.texts import t
from workflows import side_effects
from workflows.broadcast_contracts import (
    BroadcastPage,
    BroadcastRecord,
    PageOutcome,
    RecipientsPage,
    RecipientsRequest,
    message_key,
    report_key,
)

# Times one message is offered again after a 429 the session middleware did not absorb.
MAX_FLOOD_RETRIES: Final = 5
HEARTBEAT_EVERY: Final = 2.0
FLOODED: Final = "BroadcastFlooded"

Outcome = Literal["sent", "blocked", "failed", "unconfirmed"]

# One round trip: a fresh claim returns ``claimed``; otherwise the earlier claim's status, and whether
# the user is marked blocked (to count an earlier 403 as blocked, not failed).
CLAIM_SQL: Final = """
    WITH fresh AS (
        INSERT INTO notifications (idempotency_key, telegram_user_id, status) VALUES ($1, $2, 'sending')
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING status
    )
    SELECT (SELECT count(*) FROM fresh) = 1 AS claimed,
           (SELECT status FROM notifications WHERE idempotency_key = $1) AS earlier,
           (SELECT blocked_at IS NOT NULL FROM users WHERE telegram_user_id = $2) AS blocked
"""


class BroadcastActivities(side_effects.Broadcasting):
    def __init__(self, bot: Bot, pool: asyncpg.Pool, *, pacer: Pacing | None = None) -> None:
        self.bot = bot
        self.pool = pool
        self.pacer = pacer or Pacer()

    @activity.defn
    async def broadcast_recipients(self, request: RecipientsRequest) -> RecipientsPage:
        """The next page of the segment after ``request.after``, in user id order (and the segment's size)."""
        args = (request.after, request.segment, request.inactive_before)
        rows = await self.pool.fetch(RECIPIENTS_SQL, *args, request.limit)
        total = await segment_size(self.pool, request.segment, request.inactive_before, request.after) if (
            request.count) else None  # fmt: skip
        return RecipientsPage(user_ids=[row["telegram_user_id"] for row in rows], total=total)

    @activity.defn
    async def send_broadcast_page(self, page: BroadcastPage) -> PageOutcome:
        """Send the page's messages one by one, each at most once; counts what became of every one."""
        outcome = PageOutcome()
        async with _heartbeating():
            for user_id in page.user_ids:
                result = await self._send_once(page, user_id)
                setattr(outcome, result, getattr(outcome, result) + 1)
        activity.logger.info("broadcast %s, a page of %d: %s", page.broadcast_id, len(page.user_ids), outcome)
        return outcome

    @activity.defn
    async def record_broadcast(self, record: BroadcastRecord) -> None:
        """The broadcast's row, once (a retried start leaves it as it is)."""
        await self.pool.execute(
            """
            INSERT INTO broadcasts (id, actor, segment, inactive_days, text, created_at)
            VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))
            ON CONFLICT (id) DO NOTHING
            """,
            record.broadcast_id,
            record.actor,
            record.segment,
            record.inactive_days,
            record.text,
            record.progress.started_at,
        )

    @activity.defn
    async def finish_broadcast(self, record: BroadcastRecord) -> None:
        """Write the totals, then tell the admin how it went (once: the summary is claimed like every message)."""
        progress = record.progress
        await self.pool.execute(
            """
            INSERT INTO broadcasts (id, actor, segment, inactive_days, text, created_at, finished_at, sent,
                                    skipped_blocked, failed, unconfirmed, total)
            VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), $7, $8, $9, $10, $11, $12)
            ON CONFLICT (id) DO UPDATE SET finished_at = EXCLUDED.finished_at, sent = EXCLUDED.sent,
                skipped_blocked = EXCLUDED.skipped_blocked, failed = EXCLUDED.failed,
                unconfirmed = EXCLUDED.unconfirmed, total = EXCLUDED.total
            """,
            record.broadcast_id,
            record.actor,
            record.segment,
            record.inactive_days,
            record.text,
            progress.started_at,
            progress.finished_at,
            progress.sent,
            progress.blocked,
            progress.failed,
            progress.unconfirmed,
            progress.total,
        )
        key = report_key(record.broadcast_id)
        claim = await self.pool.fetchrow(CLAIM_SQL, key, record.actor)
        if not claim["claimed"]:
            return
        text = t("admin.broadcast.finished", record.language, id=record.broadcast_id, sent=progress.sent,
                 blocked=progress.blocked, failed=progress.failed, unconfirmed=progress.unconfirmed,
                 total=progress.total)  # fmt: skip
        try:
            await self.bot.send_message(record.actor, text)
        except (TelegramForbiddenError, TelegramBadRequest) as refused:
            activity.logger.warning("the summary of %s did not reach the admin: %s", record.broadcast_id,
                                    refused.message)  # fmt: skip
            await self._mark(key, "undeliverable")
            return
        except (TelegramRetryAfter, TelegramServerError):
            await self._release(key)  # not sent: the retry claims it again
            raise
        await self._mark(key, "sent")

    async def _send_once(self, page: BroadcastPage, user_id: int) -> Outcome:
        """Each message of the post (its media, then its words when they do not fit a caption) claimed and sent on its
        own: a retry resumes after the last one sent, and none goes twice. The first decides what became of it."""
        # Plain text: the admin's words are shown as typed, never parsed as HTML; under or after the media.
        parts = post_parts(page.text, page.media, protect_content=page.protect_content, star_count=page.star_count,
                           payload=page.paid_media_payload)  # fmt: skip
        for index, part in enumerate(parts):
            key = message_key(page.broadcast_id, user_id) + (f":{index}" if index else "")
            outcome = await self._send_part(page.broadcast_id, key, user_id, part)
            if outcome != "sent":
                return outcome
        return "sent"

    async def _send_part(self, broadcast_id: str, key: str, user_id: int, part: PostPart) -> Outcome:
        claim = await self.pool.fetchrow(CLAIM_SQL, key, user_id)
        if not claim["claimed"]:
            return _earlier_outcome(claim["earlier"], bool(claim["blocked"]))
        for _ in range(MAX_FLOOD_RETRIES):
            try:
                await self.pacer.wait()
            except asyncio.CancelledError:
                # Cancelled (or timed out) while waiting its turn: nothing went out, a retry sends it.
                await self._release(key)
                raise
            try:
                await part(self.bot, user_id)
            except TelegramRetryAfter as flood:
                activity.logger.warning("Telegram asks broadcast %s to wait %ss", broadcast_id, flood.retry_after)
                self.pacer.hold(flood.retry_after)
                continue
            except TelegramForbiddenError:
                await self._mark_blocked(key, user_id)
                return "blocked"
            except TelegramBadRequest as refused:
                activity.logger.info("broadcast %s not delivered to %s: %s", broadcast_id, user_id, refused.message)
                await self._mark(key, "undeliverable")
                return "failed"
            except TelegramServerError:
                # Telegram answered that it failed (after the session's own retries): the message did not
                # go, and the page's retry sends it.
                await self._release(key)
                raise
            except TelegramNetworkError as lost:
                # Telegram never reached: nothing went out. Any other lost answer (a timeout) may have
                # been delivered: that claim stays, and is counted unconfirmed by the retry.
                if _never_connected(lost):
                    await self._release(key)
                raise
            await self._mark(key, "sent")
            return "sent"
        await self._release(key)
        raise ApplicationError(f"Telegram kept asking broadcast {broadcast_id} to wait", type=FLOODED)

    async def _mark(self, key: str, status: str) -> None:
        await self.pool.execute(
            "UPDATE notifications SET status = $2, sent_at = now() WHERE idempotency_key = $1", key, status
        )

    async def _mark_blocked(self, key: str, user_id: int) -> None:
        """The user blocked the bot: skip them in later broadcasts, until they come back."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE notifications SET status = 'undeliverable', sent_at = now() WHERE idempotency_key = $1", key
            )
            await conn.execute("UPDATE users SET blocked_at = now() WHERE telegram_user_id = $1", user_id)

    async def _release(self, key: str) -> None:
        """Drop a claim whose message certainly did not go out, so a retry sends it."""
        await self.pool.execute("DELETE FROM notifications WHERE idempotency_key = $1 AND status = 'sending'", key)


def _never_connected(error: TelegramNetworkError) -> bool:
    """aiogram names the aiohttp error: a refused or unresolvable connection sent nothing."""
    return error.message.startswith(("ClientConnectorError", "ClientConnectorDNSError"))


def _earlier_outcome(status: str | None, blocked: bool) -> Outcome:
    """What an earlier attempt (a crashed worker, a retried page) made of this message."""
    if status == "sent":
        return "sent"
    if status == "undeliverable":
        return "blocked" if blocked else "failed"
    return "unconfirmed"


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat while a page is sent, also through Telegram's waits: a dead worker is noticed in seconds."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
