"""The journey's outbox: effects decided and not yet carried out, in order, each as the activity it asks for.

Each pending effect keeps the trace context it was decided in (the Telegram update's), so its activity joins
that update's trace; that context lives in memory only (replay rebuilds it, and it never steers commands).
A turn's projection rows go to Postgres in one activity (one transaction): a local activity first, inside
the workflow task that answered, so the turn costs Temporal no task round trip; while Postgres is slow or
away (over LOCAL_PROJECTION_TIMEOUT), regular activities retried without end, holding up no reply. An effect
the outside world refuses for good, or Telegram does not take within ``TELEGRAM_PATIENCE``, is parked where support
sees it, never blocking the ones after it. When a new run is due while an effect is still being tried, the try is
called off and the effect goes to the new run with the rest: a long outage never grows one run without bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from opentelemetry import context as tracing

    from workflows.contracts import (
        PROJECTION_EFFECTS,
        TELEGRAM_EFFECTS,
        CloseVipChannel,
        EditStarSubscription,
        Effect,
        EraseData,
        ExportData,
        Notify,
        OpenVipChannel,
        ParkedEffect,
        ProjectionBatch,
        ProjectionEffect,
        ProjectionOutcome,
        RecordPayment,
        RefundPayment,
        SaveSubscription,
        SendInvoice,
        UpdateLeaderboard,
    )
    from workflows.referral_contracts import SaveReferralCode, TellReferrer
    from workflows.side_effects import Leaderboards, Messages, Payments, Projection, Referrals, VipChannel

ACTIVITY_TIMEOUT: Final = timedelta(seconds=15)
LOCAL_PROJECTION_TIMEOUT: Final = timedelta(seconds=1)
# Postgres may be away for a while: keep retrying, never give up on the projection.
PATIENT_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Leaderboards carry absolute totals that the next award rewrites: a Redis outage is not worth waiting for.
LEADERBOARD_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
# Telegram away for longer than this: the message, invoice or channel change is parked for support (a message
# hours late is worth little, and the messages behind it wait). Postgres work (the ledger's projection, payments,
# erasure) is never given up: it waits, carried from run to run, until Postgres answers.
TELEGRAM_PATIENCE: Final = timedelta(hours=2)
# Parked effects a journey keeps for support (newest); older ones are only counted (a user who blocked the bot).
MAX_PARKED: Final = 20

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
    SaveReferralCode: Referrals.save_referral_code,
    TellReferrer: Referrals.tell_referrer,
    EditStarSubscription: Payments.edit_star_subscription,
}


@dataclass
class Pending:
    effect: Effect
    cause: tracing.Context | None  # the trace context it was decided in


class Outbox:
    def __init__(self, user_id: int, pending: list[Effect], parked: list[ParkedEffect], dropped: int = 0, *,
                 refused: Callable[[Effect, str | None], None] | None = None) -> None:  # fmt: skip
        """``refused(effect, why)`` hears of each effect refused for good (``why``: the failure's type)."""
        self.user_id = user_id
        self.refused = refused
        self.pending = [Pending(effect, None) for effect in pending]
        self.parked = list(parked)
        self.dropped = dropped
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
        due: the effect being tried is called off and, with the rest, carried into the new run)."""
        while self.pending and not stop():
            head = self.pending[0]
            if head.cause is not None:
                # Attached, never detached: a detach after the await may run in another context (an evicted run's
                # cleanup). The journey attaches its own context back when the effects are done.
                tracing.attach(head.cause)
            batch = self._projection_ahead()
            done = await (self._record_projection(batch, stop) if batch else self._carry_out(head.effect, stop))
            if not done:
                return
            del self.pending[: max(len(batch), 1)]

    def _projection_ahead(self, start: int = 0) -> list[ProjectionEffect]:
        """The effects from ``start`` in the queue that one projection activity writes together (a turn's rows)."""
        batch: list[ProjectionEffect] = []
        for entry in self.pending[start:]:
            effect = entry.effect
            if not isinstance(effect, PROJECTION_EFFECTS) or (isinstance(effect, UpdateLeaderboard) and effect.remove):
                break
            batch.append(effect)
        return batch

    async def _record_projection(self, effects: list[ProjectionEffect], stop: Callable[[], bool]) -> bool:
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
            attempt = workflow.start_activity_method(
                Projection.record_projection, batch, start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=PATIENT_RETRY, summary=summary,
            )  # fmt: skip
            if not await _finished(attempt, stop):
                return False
            outcome = attempt.result()
            self._local_projection = True
        for position in outcome.refused:
            self._park(effects[position], "Postgres refused it")
        return True

    async def _carry_out(self, effect: Effect, stop: Callable[[], bool]) -> bool:
        """Carry out one effect (True), parking it when it cannot succeed; False when called off for a new run."""
        leaderboard = isinstance(effect, UpdateLeaderboard)
        telegram = isinstance(effect, TELEGRAM_EFFECTS)
        attempt = workflow.start_activity_method(
            ACTIVITY_FOR[type(effect)], effect, start_to_close_timeout=ACTIVITY_TIMEOUT,
            # A referrer's journey that cannot take the news holds this one's effects up no longer than Telegram would.
            schedule_to_close_timeout=TELEGRAM_PATIENCE if telegram or isinstance(effect, TellReferrer) else None,
            retry_policy=LEADERBOARD_RETRY if leaderboard else PATIENT_RETRY,
            summary=f"{effect.kind.replace('_', ' ')} for journey {self.user_id}",
        )  # fmt: skip
        # While Telegram has not taken a message, the rows behind it go to Postgres meanwhile: nothing there waits
        # on a message (the messages behind it, and a data export that reads those rows, keep their places).
        while telegram and not attempt.done() and not stop():
            await workflow.wait_condition(lambda: attempt.done() or stop() or bool(self._projection_ahead(1)))
            batch = self._projection_ahead(1)
            if attempt.done() or stop() or not batch:
                continue
            if not await self._record_projection(batch, stop):
                break
            del self.pending[1 : 1 + len(batch)]
        if not await _finished(attempt, stop):
            return False
        failure = attempt.exception()
        if failure is None:
            return True
        if not isinstance(failure, ActivityError):
            raise failure
        if leaderboard:
            # The next award writes the totals again; Redis being down costs nothing lasting.
            workflow.logger.warning("leaderboard not updated for journey %s: %s", self.user_id, failure.cause)
            return True
        # Refused for good (Postgres refused the row, Telegram refused: blocked, no such chat, no rights), or Telegram
        # did not take it within its patience.
        self._park(effect, str(failure.cause))
        if self.refused is not None:
            self.refused(effect, failure.cause.type if isinstance(failure.cause, ApplicationError) else None)
        return True

    def _park(self, effect: Effect, why: str) -> None:
        workflow.logger.error("%s refused for journey %s: %s", effect.kind, self.user_id, why)
        self.parked.append(ParkedEffect(effect=effect, reason=why[:500], parked_at=workflow.now()))
        if len(self.parked) > MAX_PARKED:
            self.dropped += len(self.parked) - MAX_PARKED
            del self.parked[:-MAX_PARKED]


async def _finished(attempt: workflow.ActivityHandle[Any], stop: Callable[[], bool]) -> bool:
    """Wait for an activity; when a new run is due first, call it off (its effect is tried again there): False."""
    await workflow.wait_condition(lambda: attempt.done() or stop())
    if attempt.done():
        return True
    attempt.cancel()
    # Wait for the cancellation itself (workflow.wait raises nothing: the attempt's own outcome is not needed).
    await workflow.wait([attempt])
    return False
