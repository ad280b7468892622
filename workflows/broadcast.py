"""The Broadcast workflow: one admin text to every user of a segment, resumable, never sent twice.

The workflow pages through the segment in ``telegram_user_id`` order (``broadcast_recipients``) and
hands each page to ``send_broadcast_page``, which paces the messages within Telegram's limits and
claims each one in ``notifications`` before sending it. The only state is the progress (a cursor and
counts), so a crashed worker, a retried page or a continue-as-new picks up exactly where it was:
pages already done are behind the cursor, and messages of a page in flight are already claimed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.broadcast_contracts import (
        BroadcastInput,
        BroadcastPage,
        BroadcastProgress,
        BroadcastRecord,
        RecipientsRequest,
    )
    from workflows.side_effects import Broadcasting

DATABASE_TIMEOUT: Final = timedelta(seconds=30)
# Postgres or Telegram may be away for a while: a broadcast waits for them rather than giving up.
PATIENT_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# A page of 100 takes ~4 s at the broadcast pace, more when Telegram asks to wait; a dead worker is
# noticed by its missing heartbeat, long before this.
PAGE_TIMEOUT: Final = timedelta(minutes=15)
PAGE_HEARTBEAT: Final = timedelta(seconds=10)


@workflow.defn(name="Broadcast")
class BroadcastWorkflow:
    @workflow.init
    def __init__(self, input: BroadcastInput) -> None:
        self.progress = input.progress or BroadcastProgress()

    @workflow.run
    async def run(self, input: BroadcastInput) -> BroadcastProgress:
        if self.progress.started_at is None:
            self.progress.started_at = workflow.now()
            if input.inactive_days is not None:
                self.progress.inactive_before = workflow.now() - timedelta(days=input.inactive_days)
        if not self.progress.recorded:
            await self._record(input, Broadcasting.record_broadcast)
            self.progress.recorded = True
        while not self.progress.done:
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(input.model_copy(update={"progress": self.progress}))
            await self._next_page(input)
        self.progress.finished_at = workflow.now()
        await self._record(input, Broadcasting.finish_broadcast)
        return self.progress

    @workflow.query(name="Progress")
    def current_progress(self) -> BroadcastProgress:
        return self.progress

    async def _next_page(self, input: BroadcastInput) -> None:
        first = self.progress.pages == 0 and self.progress.cursor == 0
        page = await workflow.execute_activity_method(
            Broadcasting.broadcast_recipients,
            RecipientsRequest(
                broadcast_id=input.broadcast_id,
                segment=input.segment,
                inactive_before=self.progress.inactive_before,
                after=self.progress.cursor,
                limit=input.page_size,
                count=first,
            ),
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=PATIENT_RETRY,
            summary=f"recipients of {input.broadcast_id} after {self.progress.cursor}",
        )
        if page.total is not None:
            self.progress.total = page.total
        if not page.user_ids:
            self.progress.done = True
            self.progress.total = self.progress.handled
            return
        outcome = await workflow.execute_activity_method(
            Broadcasting.send_broadcast_page,
            BroadcastPage(
                broadcast_id=input.broadcast_id,
                text=input.text,
                user_ids=page.user_ids,
                media=input.media,
                protect_content=input.protect_content,
                star_count=input.star_count,
                paid_media_payload=input.paid_media_payload,
            ),
            start_to_close_timeout=PAGE_TIMEOUT,
            heartbeat_timeout=PAGE_HEARTBEAT,
            retry_policy=PATIENT_RETRY,
            summary=f"send {input.broadcast_id} to {len(page.user_ids)} users",
        )
        self.progress.sent += outcome.sent
        self.progress.blocked += outcome.blocked
        self.progress.failed += outcome.failed
        self.progress.unconfirmed += outcome.unconfirmed
        self.progress.cursor = page.user_ids[-1]
        self.progress.pages += 1
        self.progress.total = max(self.progress.total, self.progress.handled)

    async def _record(self, input: BroadcastInput, activity: Callable[[Any, BroadcastRecord], Awaitable[None]]) -> None:
        """The ``broadcasts`` row at the start, its totals and the admin's summary at the end."""
        await workflow.execute_activity_method(
            activity,
            BroadcastRecord(
                broadcast_id=input.broadcast_id,
                actor=input.actor,
                segment=input.segment,
                inactive_days=input.inactive_days,
                text=input.text,
                language=input.language,
                progress=self.progress,
            ),
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=PATIENT_RETRY,
            summary=f"{activity.__name__.replace('_', ' ')} {input.broadcast_id}",
        )
