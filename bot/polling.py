"""Long polling that confirms an update to Telegram only once it has been handled.

aiogram's own polling confirms a batch as soon as it has started handling it: a bot killed in
between loses those updates (the journey may have moved on, the user never sees the answer).
Here the offset sent to ``getUpdates`` never passes an update still in hand, so after a crash
Telegram hands the unfinished ones to the next process; the journey applies each update id once,
so the redelivery only repeats the answer. Updates are still handled concurrently (one user's in
order, see ``UserSerialisation``); on stop, the ones in hand are finished before confirming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

from aiogram.methods import GetUpdates
from aiogram.utils.backoff import Backoff, BackoffConfig

from bot.dead_letters import MAX_ATTEMPTS
from infra.settings import DRAIN_SECONDS

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher
    from aiogram.types import Update

log = logging.getLogger("diana.bot")

POLL_TIMEOUT: Final = 30
# While updates are in hand getUpdates returns them again (everything from the oldest one in hand): ask again
# after this pause, or as soon as the oldest is done and the offset moves. Asking on every finished update
# would re-read up to 100 updates per handled one. New updates wait at most this long.
BUSY_PAUSE: Final = 0.1
RETRY_PAUSE: Final = 1.0
BACKOFF: Final = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.3, jitter=0.1)


class ConfirmedPolling:
    """Feeds ``dispatcher`` the updates of ``bot`` until ``stop`` is set; see the module docstring."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, *, allowed_updates: list[str] | None = None,
                 timeout: int = POLL_TIMEOUT) -> None:  # fmt: skip
        self._dispatcher = dispatcher
        self._bot = bot
        self._allowed_updates = allowed_updates
        self._timeout = timeout
        self._in_hand: dict[int, asyncio.Task[None]] = {}
        # Handled, but not yet below the offset (an older update is still in hand): not to be taken again.
        self._done: set[int] = set()
        self._next = 0  # one past the highest update id taken in this process

    def offset(self) -> int | None:
        """Everything below the oldest update still in hand is done (and may be confirmed)."""
        offset = min(self._in_hand) if self._in_hand else self._next
        self._done = {update_id for update_id in self._done if update_id >= offset}
        return offset or None

    async def run(self, stop: asyncio.Event) -> None:
        await self._dispatcher.emit_startup(bot=self._bot, dispatcher=self._dispatcher,
                                            **self._dispatcher.workflow_data)  # fmt: skip
        stopping = asyncio.create_task(stop.wait())
        try:
            await self._poll(stopping)
        finally:
            stopping.cancel()
            await self._drain()
            await self._dispatcher.emit_shutdown(bot=self._bot, dispatcher=self._dispatcher,
                                                 **self._dispatcher.workflow_data)  # fmt: skip

    async def _poll(self, stopping: asyncio.Task[bool]) -> None:
        backoff = Backoff(config=BACKOFF)
        while not stopping.done():
            busy = bool(self._in_hand)
            request = GetUpdates(offset=self.offset(), timeout=0 if busy else self._timeout,
                                 allowed_updates=self._allowed_updates)  # fmt: skip
            fetch = asyncio.create_task(self._bot(request, request_timeout=self._timeout + 10))
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetch
                return
            try:
                updates = fetch.result()
            except Exception as error:  # like aiogram: polling outlives any Bot API failure
                delay = next(backoff)
                log.error("failed to fetch updates (%s: %s); retrying in %.1fs", type(error).__name__, error, delay)
                await asyncio.wait({stopping}, timeout=delay)
                continue
            backoff.reset()
            taken = []
            for update in updates:
                # Not one already in hand or done, nor the same update twice in one batch (a redelivery).
                if update.update_id not in self._in_hand and update.update_id not in self._done:
                    self._take(update)
                    taken.append(update)
            if busy and not taken and self._in_hand:
                oldest = self._in_hand[min(self._in_hand)]
                await asyncio.wait({oldest, stopping}, timeout=BUSY_PAUSE, return_when=asyncio.FIRST_COMPLETED)

    def _take(self, update: Update) -> None:
        update_id = update.update_id
        self._next = max(self._next, update_id + 1)
        task = asyncio.create_task(self._handle(update))
        self._in_hand[update_id] = task
        task.add_done_callback(lambda done: self._finished(update_id, done))

    def _finished(self, update_id: int, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return  # cut off at stop: stays unconfirmed, for the next process
        self._in_hand.pop(update_id, None)
        self._done.add(update_id)

    async def _handle(self, update: Update) -> None:
        """Handle it; if even keeping it for support failed (``bot.dead_letters``), try again a few times, as Telegram
        does for a webhook, holding the window at it. Then it is confirmed like any other: never fetched forever."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                await self._dispatcher.feed_update(self._bot, update)
                return
            except Exception:
                log.exception("update %s failed (attempt %d)", update.update_id, attempt)
                if attempt < MAX_ATTEMPTS:
                    await asyncio.sleep(RETRY_PAUSE * attempt)

    async def _drain(self) -> None:
        """Finish the updates in hand, then confirm what is done so the next process does not repeat it."""
        if self._in_hand:
            _, unfinished = await asyncio.wait(set(self._in_hand.values()), timeout=DRAIN_SECONDS)
            for task in unfinished:
                task.cancel()
            if unfinished:
                log.warning("%d updates unfinished at stop: Telegram hands them to the next process", len(unfinished))
                await asyncio.wait(unfinished)
        offset = self.offset()
        if offset is None:
            return
        try:
            await self._bot(GetUpdates(offset=offset, limit=1, timeout=0, allowed_updates=self._allowed_updates))
        except Exception as error:  # the next process gets them again, and answers once more
            log.warning("could not confirm handled updates (%s); they will be redelivered", error)
