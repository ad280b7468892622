"""Per-user rate limit in Redis: a flood of updates is dropped early, with one friendly word per window."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Final

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import NextMiddlewareType
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update, User
from redis.exceptions import RedisError

from adapters.texts import language_of, t
from infra.telemetry import RATE_LIMITED

if TYPE_CHECKING:
    from aiogram import Bot
    from redis.asyncio import Redis

log = logging.getLogger("diana.bot")

KEY_PREFIX: Final = "ratelimit:"
# The window starts at a user's first update (not at a clock boundary), so a burst is never split in two.
_COUNT: Final = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# After Redis failed, updates pass unchecked for this long before Redis is asked again: an outage
# must not add a connection timeout to every reply.
RETRY_REDIS_AFTER: Final = 5.0


class RateLimit(BaseMiddleware):
    """At most ``updates`` messages and button presses per user in ``window`` seconds.

    The first update over the limit gets a friendly answer; the rest of the window is dropped
    silently (no journey call, no Bot API call). Payments are never limited: the money already
    moved. With Redis down every update passes (logged once per outage): the journey goes on.
    """

    def __init__(self, redis: Redis, *, updates: int, window: int, exempt: frozenset[int] = frozenset()) -> None:
        self._redis = redis
        self._updates = updates
        self._window = window
        self._exempt = exempt
        self._count = redis.register_script(_COUNT)
        self._redis_down_until = 0.0
        self._outage_logged = False

    async def __call__(
        self,
        handler: NextMiddlewareType[TelegramObject],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if self._updates <= 0 or user is None or user.id in self._exempt or not _limited(event):
            return await handler(event, data)
        count = await self._hit(user.id)
        if count is None:
            RATE_LIMITED.labels(outcome="unchecked").inc()
            return await handler(event, data)
        if count <= self._updates:
            return await handler(event, data)
        if count == self._updates + 1:
            RATE_LIMITED.labels(outcome="answered").inc()
            await _slow_down(data["bot"], event, user, self._window)
        else:
            RATE_LIMITED.labels(outcome="dropped").inc()
        return None

    async def _hit(self, user_id: int) -> int | None:
        """This update's number in the user's window, or None when Redis cannot tell."""
        if time.monotonic() < self._redis_down_until:
            return None
        try:
            count = int(await self._count(keys=[f"{KEY_PREFIX}{user_id}"], args=[self._window]))
        except (RedisError, OSError) as error:
            self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER
            if not self._outage_logged:
                self._outage_logged = True
                log.warning("rate limit off: Redis unavailable (%s); updates pass unchecked", error)
            return None
        if self._outage_logged:
            self._outage_logged = False
            log.info("rate limit on again: Redis answers")
        return count


def _limited(event: TelegramObject) -> bool:
    """Private messages and button presses are limited; payments, pre-checkout queries and channel joins are not."""
    if not isinstance(event, Update):
        return False
    if event.callback_query is not None:
        return True
    message = event.message
    return (
        message is not None
        and message.chat.type == ChatType.PRIVATE
        and message.successful_payment is None
        and message.refunded_payment is None
    )


async def _slow_down(bot: Bot, event: TelegramObject, user: User, window: int) -> None:
    assert isinstance(event, Update)
    text = t("rate_limit.slow_down", language_of(user.language_code), seconds=window)
    try:
        if event.callback_query is not None:
            await bot.answer_callback_query(event.callback_query.id, text, show_alert=True)
        elif event.message is not None:
            await bot.send_message(event.message.chat.id, text)
    except TelegramAPIError as error:
        log.warning("could not ask user %s to slow down: %s", user.id, error.message)
