"""One workflow timer toward a moment, replaced only when the moment comes earlier.

Every timer started or cancelled is a write on the Temporal server (the embedded one has a single writer):
a journey keeps one running until its moment changes instead of restarting it on every turn.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow


class Timer:
    def __init__(self, summary: str) -> None:
        self.due: datetime | None = None
        self.rang = False
        self._summary = summary
        self._sleep: asyncio.Task[None] | None = None

    def set(self, due: datetime | None) -> None:
        """Wait toward ``due``; a timer already running toward an earlier moment is kept (when it rings, the journey
        looks again and finds nothing due yet), so a moment that moves later each turn costs no new timer."""
        if not self.rang and self.due is not None and due is not None and self.due <= due:
            return
        if self._sleep is not None:
            self._sleep.cancel()
        self.due, self.rang = due, False
        self._sleep = None if due is None else asyncio.create_task(self._ring(due))

    def take(self) -> bool:
        """Whether it rang since the last call; a timer that rang is spent."""
        rang, self.rang = self.rang, False
        if rang:
            self.due, self._sleep = None, None
        return rang

    async def _ring(self, due: datetime) -> None:
        # Never less than a second: an event already due must not spin the loop.
        await workflow.sleep(max(due - workflow.now(), timedelta(seconds=1)), summary=self._summary)
        self.rang = True
