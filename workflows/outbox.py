"""The journey's outbox: effects decided and not yet carried out, in order, each as the activity it asks for.

Each pending effect keeps the trace context it was decided in (the Telegram update's), so its activity joins
that update's trace; that context lives in memory only (replay rebuilds it, and it never steers commands).
A turn's projection rows go to Postgres in one activity (one transaction): a local activity first, inside
the workflow task that answered, so the turn costs Temporal no task round trip; while Postgres is slow or
away (over LOCAL_PROJECTION_TIMEOUT), regular activities retried without end, holding up no reply. An effect
the outside world refuses for good is parked where support sees it, never blocking the ones after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from opentelemetry import context as tracing

    from workflows.contracts import (
        PROJECTION_EFFECTS,
        CloseVipChannel,
        Effect,
        EraseData,
        ExportData,
        Notify,
        OpenVipChannel,
        ProjectionBatch,
        ProjectionEffect,
        ProjectionOutcome,
        RecordPayment,
        RefundPayment,
        SaveSubscription,
        SendInvoice,
        UpdateLeaderboard,
    )
    from workflows.side_effects import Leaderboards, Messages, Payments, Projection, VipChannel

ACTIVITY_TIMEOUT: Final = timedelta(seconds=15)
LOCAL_PROJECTION_TIMEOUT: Final = timedelta(seconds=1)
# Postgres may be away for a while: keep retrying, never give up on the projection.
PATIENT_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Leaderboards carry absolute totals that the next award rewrites: a Redis outage is not worth waiting for.
LEADERBOARD_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)

# The one mapping from an effect to the activity that carries it out (projection rows go in batches, below).
ACTIVITY_FOR: Final[dict[type[Any], Callable[[Any, Any], Awaitable[None]]]] = {
    UpdateLeaderboard: Leaderboards.update_leaderboard,
    Notify: Messages.send_notification,
    ExportData: Messages.send_data_export,
    EraseData: Projection.erase_personal_data,
    SendInvoice: Payments.send_invoice,
    RecordPayment: Payments.record_payment,
    SaveSubscription: Payments.record_subscription,
    RefundPayment: Payments.refund_payment,
    OpenVipChannel: VipChannel.open_vip_channel,
    CloseVipChannel: VipChannel.close_vip_channel,
}


@dataclass
class Pending:
    effect: Effect
    cause: tracing.Context | None  # the trace context it was decided in


class Outbox:
    def __init__(self, user_id: int, pending: list[Effect], parked: list[Effect]) -> None:
        self.user_id = user_id
        self.pending = [Pending(effect, None) for effect in pending]
        self.parked = list(parked)
        # Whether the next turn's projection may run as a local activity. Rebuilt the same way on replay: it follows
        # the outcomes the history records.
        self._local_projection = True

    def __bool__(self) -> bool:
        return bool(self.pending)

    @property
    def effects(self) -> list[Effect]:
        return [entry.effect for entry in self.pending]

    def queue(self, effects: list[Effect]) -> None:
        cause = tracing.get_current()
        self.pending += [Pending(effect, cause) for effect in effects]

    async def carry_out(self, stop: Callable[[], bool]) -> None:
        """Every pending effect in order, queued meanwhile included, until none is left or ``stop()`` (a new run is
        due: a long Postgres outage must not grow this run's history without bound; the new run carries the rest)."""
        while self.pending and not stop():
            head = self.pending[0]
            if head.cause is not None:
                # Attached, never detached: a detach after the await may run in another context (an evicted run's
                # cleanup). The journey attaches its own context back when the effects are done.
                tracing.attach(head.cause)
            batch = self._projection_ahead()
            if batch:
                await self._record_projection(batch)
            else:
                await self._carry_out(head.effect)
            del self.pending[: max(len(batch), 1)]

    def _projection_ahead(self) -> list[ProjectionEffect]:
        """The effects at the head of the queue that one projection activity writes together (a turn's rows)."""
        batch: list[ProjectionEffect] = []
        for entry in self.pending:
            effect = entry.effect
            if not isinstance(effect, PROJECTION_EFFECTS) or (isinstance(effect, UpdateLeaderboard) and effect.remove):
                break
            batch.append(effect)
        return batch

    async def _record_projection(self, effects: list[ProjectionEffect]) -> None:
        batch = ProjectionBatch(user_id=self.user_id, effects=effects)
        summary = f"record {len(effects)} changes for journey {self.user_id}"
        outcome: ProjectionOutcome | None = None
        if self._local_projection:
            try:
                outcome = await workflow.execute_local_activity_method(
                    Projection.record_projection, batch, start_to_close_timeout=LOCAL_PROJECTION_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=1), summary=summary,
                )  # fmt: skip
            except FailureError as failure:  # a local activity's failure arrives as it is (no ActivityError around it)
                if isinstance(failure, CancelledError):
                    raise
                workflow.logger.warning("projection of journey %s goes through regular activities until Postgres "
                                        "answers: %s", self.user_id, failure)  # fmt: skip
                self._local_projection = False
        if outcome is None:
            outcome = await workflow.execute_activity_method(
                Projection.record_projection, batch, start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=PATIENT_RETRY, summary=summary,
            )  # fmt: skip
            self._local_projection = True
        for position in outcome.refused:
            self._park(effects[position], "Postgres refused it")

    async def _carry_out(self, effect: Effect) -> None:
        leaderboard = isinstance(effect, UpdateLeaderboard)
        try:
            await workflow.execute_activity_method(
                ACTIVITY_FOR[type(effect)], effect, start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=LEADERBOARD_RETRY if leaderboard else PATIENT_RETRY,
                summary=f"{effect.kind.replace('_', ' ')} for journey {self.user_id}",
            )  # fmt: skip
        except ActivityError as failure:
            if leaderboard:
                # The next award writes the totals again; Redis being down costs nothing lasting.
                workflow.logger.warning("leaderboard not updated for journey %s: %s", self.user_id, failure.cause)
                return
            # Only a non-retryable failure gets here (Postgres refused the row, the user blocked the bot).
            self._park(effect, str(failure.cause))

    def _park(self, effect: Effect, why: str) -> None:
        workflow.logger.error("%s refused for journey %s: %s", effect.kind, self.user_id, why)
        self.parked.append(effect)
