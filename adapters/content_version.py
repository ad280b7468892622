"""Which content version the journeys should play: the bot reads it from Postgres every few seconds.

Each request carries the version, so an activation reaches every journey on its next update
without signalling 100 000 workflows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import asyncpg

from adapters.content_store import active_content

REFRESH_SECONDS: Final = 5.0
log = logging.getLogger("diana.bot")


class ActiveContent:
    def __init__(self, pool: asyncpg.Pool, *, refresh: float = REFRESH_SECONDS) -> None:
        self.pool = pool
        self.refresh = refresh
        self.version = 0
        self.timezone = "America/Mexico_City"  # replaced by the active content's
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._refresh()
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            try:
                await self._refresh()
            except (OSError, asyncpg.PostgresError) as error:
                # Postgres away: keep playing the version we know.
                log.warning("cannot read the active content version: %s", error)

    async def _refresh(self) -> None:
        version, timezone = await active_content(self.pool)
        if version:
            self.version, self.timezone = version, timezone or self.timezone
