"""Cross-cutting concerns: one user's updates in order, and patient outbound calls."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

from aiogram import BaseMiddleware
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import NextMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import Response
from aiogram.types import TelegramObject, User

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.methods.base import TelegramType

log = logging.getLogger("diana.bot")

# aiogram parses every answer as ``Response[<the method's result type>]``. pydantic keeps such classes only
# weakly and aiogram's models build their validators on first use, so after each garbage collection the
# next call rebuilt its class: 2-15 ms of CPU per Bot API call, the bot's largest cost under load
# (benchmarks/load.py). Holding each one once keeps pydantic's cache warm.
_RESPONSE_TYPES: dict[type[Any], Any] = {}


class UserSerialisation(BaseMiddleware):
    """Handle one user's updates one at a time, in arrival order.

    A journey accepts at most 10 Updates in flight, and a user's taps must apply in the order
    they were made; ``asyncio.Lock`` wakes waiters first-come, first-served.
    """

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def __call__(
        self,
        handler: NextMiddlewareType[TelegramObject],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._waiting[user.id] = self._waiting.get(user.id, 0) + 1
        try:
            async with lock:
                return await handler(event, data)
        finally:
            self._waiting[user.id] -= 1
            if self._waiting[user.id] == 0:
                del self._waiting[user.id], self._locks[user.id]


class PatientRequests(BaseRequestMiddleware):
    """Retry outbound Bot API calls on 429 (after ``retry_after``) and 5xx/network errors, within bounds.

    It also holds the class each answer is parsed with (see ``_RESPONSE_TYPES``).
    """

    MAX_ATTEMPTS: Final = 5
    MAX_WAIT: Final = 30.0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if type(method) not in _RESPONSE_TYPES:
            returning: Any = method.__returning__
            _RESPONSE_TYPES[type(method)] = Response[returning]
        delay = 0.5
        for attempt in range(1, self.MAX_ATTEMPTS + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as flood:
                if attempt == self.MAX_ATTEMPTS or flood.retry_after > self.MAX_WAIT:
                    raise
                log.warning("Telegram asked to wait %ss before %s", flood.retry_after, type(method).__name__)
                await asyncio.sleep(flood.retry_after)
            except (TelegramServerError, TelegramNetworkError):
                if attempt == self.MAX_ATTEMPTS:
                    raise
                log.warning("Telegram failed %s (attempt %d), retrying", type(method).__name__, attempt)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")
