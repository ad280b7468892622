"""Pacing of Diana's bulk messages (broadcasts and daily reminders) under Telegram's limits.

Telegram allows a bot about 30 messages a second overall (and one a second per chat). Bulk messages share
``BULK_RATE`` of those, leaving room for interactive replies, which are never paced. The budget is one for the
whole deployment: every worker takes its sends from the same per-second count in Redis (``SharedPacer``), and each
also spaces its own sends evenly (``Pacer``), so a wave never leaves as a burst. After a 429 every bulk send, in
every worker, waits Telegram's ``retry_after``. With Redis away, each worker paces itself alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

# Bulk sends a second, for the whole bot (Telegram's ceiling is ~30; interactive replies use the rest).
BULK_RATE: Final = 25.0
WINDOW_KEY: Final = "diana:bulk-pace:second:{}"
HOLD_KEY: Final = "diana:bulk-pace:hold"
log = logging.getLogger("diana.pacing")


class Pacing(Protocol):
    async def wait(self) -> None: ...

    def hold(self, seconds: float) -> None: ...


class Pacer:
    """At most ``rate`` sends a second, evenly spaced; after a 429 nobody sends until Telegram's wait is over.

    One per worker: every bulk send of the worker (broadcast pages, reminders) takes its turn here.

    :param rate: sends per second.
    :param clock: monotonic seconds (tests pass a fake one).
    :param sleep: waits that many seconds (tests pass one that moves the fake clock).
    """

    def __init__(self, rate: float = BULK_RATE, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:  # fmt: skip
        if rate <= 0:
            msg = f"rate must be positive, got {rate}"
            raise ValueError(msg)
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next send may go out; each call takes one slot."""
        async with self._lock:
            delay = self._next - self._clock()
            if delay > 0:
                await self._sleep(delay)
            # Spacing is measured from the actual send: a late send never lets the next one catch up.
            self._next = max(self._next, self._clock()) + self.interval

    def hold(self, seconds: float) -> None:
        """Telegram said wait: no send before ``seconds`` from now."""
        self._next = max(self._next, self._clock() + seconds)


class SharedPacer:
    """The deployment's one bulk budget: ``rate`` sends a second across every worker (Redis counts each second),
    each worker's own sends evenly spaced (``local``), and Telegram's 429 waits shared with every worker."""

    def __init__(self, redis: Redis, rate: float = BULK_RATE, *, local: Pacer | None = None) -> None:
        self.redis = redis
        self.rate = rate
        self.local = local or Pacer(rate)
        self._hold_until = 0.0  # a 429 this worker saw, not yet told to the others

    async def wait(self) -> None:
        """Return when the next bulk send may go out; each call takes one slot of the shared second."""
        spaced = False
        try:
            await self._tell_others()
            await self.local.wait()
            spaced = True
            await self._shared_slot()
        except (RedisError, OSError) as away:
            log.warning("bulk pacing without Redis (this worker alone): %s", away)
            if not spaced:
                await self.local.wait()

    def hold(self, seconds: float) -> None:
        """Telegram said wait: this worker at once, every worker from its next send."""
        self.local.hold(seconds)
        self._hold_until = max(self._hold_until, time.time() + seconds)

    async def _tell_others(self) -> None:
        """A 429 this worker saw holds every worker's bulk sends for as long as Telegram asked."""
        now = time.time()
        if self._hold_until > now:
            await self.redis.set(HOLD_KEY, "1", px=max(1, int((self._hold_until - now) * 1000)))
        self._hold_until = 0.0

    async def _shared_slot(self) -> None:
        while True:
            now = time.time()
            held = await self.redis.pttl(HOLD_KEY)
            if held > 0:
                await asyncio.sleep(held / 1000)
                continue
            second = int(now)
            key = WINDOW_KEY.format(second)
            taken = await self.redis.incr(key)
            if taken == 1:
                await self.redis.expire(key, 10)
            if taken <= self.rate:
                return
            await asyncio.sleep(second + 1 - now)
