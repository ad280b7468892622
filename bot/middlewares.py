"""Cross-cutting concerns of the updates: one user's updates in order."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import NextMiddlewareType
from aiogram.types import TelegramObject, User

if TYPE_CHECKING:
    pass

log = logging.getLogger("diana.bot")


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
