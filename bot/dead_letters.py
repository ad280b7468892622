"""Updates no journey could take are kept for support, and the bot moves on.

A handler whose journey did not answer in time (or could not apply the update) tells the user to try again and
calls ``keep_for_support``; a handler that raised is caught here. Either way the update is written whole to
``dead_letters`` (Postgres) with the reason, counts as handled (polling confirms it, the webhook answers 200:
Telegram would otherwise deliver it again and again), and support lists and re-drives it
(``diana-support dead-letters``, ``diana-support redrive``). An update taken ``MAX_ATTEMPTS`` times without
finishing (the bot crashed on it each time) is kept without being handled again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextvars import ContextVar
from typing import Any, Final

import asyncpg
from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import NextMiddlewareType
from aiogram.types import TelegramObject, Update, User
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("diana.bot")

MAX_ATTEMPTS: Final = 3
ATTEMPTS_TTL_SECONDS: Final = 24 * 3600
_KEPT: ContextVar[str | None] = ContextVar("diana_dead_letter", default=None)


def keep_for_support(reason: str) -> None:
    """The user was answered, but no journey took this update: keep it for support once the handler is done."""
    _KEPT.set(reason)


def update_digest(update: Update) -> str:
    """What tells this very update from another with the same id (a Bot API server may hand an id out again)."""
    return hashlib.sha256(update.model_dump_json(exclude_none=True, by_alias=True).encode()).hexdigest()[:16]


def attempts_key(update: Update) -> str:
    """Counts the times this very update was taken."""
    return f"diana:update-attempts:{update.update_id}:{update_digest(update)}"


class DeadLetters(BaseMiddleware):
    def __init__(self, pool: asyncpg.Pool, redis: Redis) -> None:
        self._pool = pool
        self._redis = redis

    async def __call__(self, handler: NextMiddlewareType[TelegramObject], event: TelegramObject,
                       data: dict[str, Any]) -> Any:  # fmt: skip
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        attempts = await self._attempt(event)
        if attempts > MAX_ATTEMPTS:
            await self._keep(event, user, f"taken {attempts - 1} times without finishing", attempts)
            return None
        token = _KEPT.set(None)
        try:
            result = await handler(event, data)
        except Exception as error:
            log.exception("update %s failed; kept for support", event.update_id)
            await self._keep(event, user, f"{type(error).__name__}: {str(error)[:300]}", attempts)
            return None
        finally:
            reason = _KEPT.get()
            _KEPT.reset(token)
        if reason is not None:
            await self._keep(event, user, reason, attempts)
        return result

    async def _attempt(self, update: Update) -> int:
        key = attempts_key(update)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, ATTEMPTS_TTL_SECONDS)
                count, _ = await pipe.execute()
            return int(count)
        except (RedisError, OSError):
            return 1  # not counted while Redis is away: the update is handled as usual

    async def _keep(self, update: Update, user: User | None, reason: str, attempts: int) -> None:
        try:
            await store_dead_letter(self._pool, update, user.id if user else None, reason)
        except (asyncpg.PostgresError, OSError):
            if attempts < MAX_ATTEMPTS:
                raise  # not handled: delivered again, and kept then
            log.error("update %s could not be kept for support (%s) and is lost", update.update_id, reason)


async def store_dead_letter(pool: asyncpg.Pool, update: Update, user_id: int | None, reason: str) -> None:
    """One row per update and reason; kept again (after a re-drive), it waits again."""
    await pool.execute(
        """
        INSERT INTO dead_letters (update_id, telegram_user_id, update_json, error) VALUES ($1, $2, $3::jsonb, $4)
        ON CONFLICT (update_id, error) DO UPDATE SET created_at = now(), redriven_at = NULL
        """,
        update.update_id,
        user_id,
        json.dumps(update.model_dump(mode="json", exclude_none=True, by_alias=True)),
        reason,
    )
