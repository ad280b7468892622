"""The journey workflow: a thin Temporal shell around the pure rules in ``workflows.rules``.

One workflow per Telegram user (``journey-<telegram_user_id>``). The bot sends each update
as an Update whose id is Telegram's ``update_id``; the handler answers from the state at
once and queues the side effects, which the main loop carries out as activities. A turn's
Postgres rows go in one local activity inside the workflow task that answers (a few ms; the
answer leaves with it), or, while Postgres is slow or away, as regular activities that retry
without holding up any reply. The content (story, missions, achievements) comes
from the worker's library of stored versions, which never change; each request names the active
version, so a newly activated one reaches running journeys on their next update.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from opentelemetry import context as tracing

    from workflows import rules, search_attributes, support
    from workflows.content import Content
    from workflows.contracts import (
        PROJECTION_EFFECTS,
        AwardBesitos,
        CloseVipChannel,
        CompleteMission,
        Effect,
        EraseData,
        ExportData,
        JourneyError,
        JourneyInput,
        JourneyReply,
        JourneyRequest,
        JourneyState,
        Notify,
        OpenVipChannel,
        PassRedemption,
        ProjectionBatch,
        ProjectionEffect,
        ProjectionOutcome,
        RecordDecision,
        RecordPayment,
        RecordReaction,
        RedeemPass,
        RefundPayment,
        SaveProfile,
        SaveStoryProgress,
        SaveSubscription,
        SendInvoice,
        SupportReply,
        SupportRequest,
        UnlockAchievement,
        UpdateLeaderboard,
    )

PROJECTION_TIMEOUT: Final = timedelta(seconds=15)
# Postgres may be away for a while: keep retrying, never give up on the projection.
PROJECTION_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Leaderboards carry absolute totals that the next award rewrites: a Redis outage is not worth waiting for.
LEADERBOARD_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
CONTENT_RETRY: Final = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)
# Stored content versions never change, so a journey reads them from its worker's shared library (an extern
# function the worker installs, ``worker.content_library``) instead of carrying each in its history. Runs that
# loaded content through the ``load_content`` activity keep doing so.
CONTENT_OF: Final = "diana.content_of"
CONTENT_LIBRARY_PATCH: Final = "content-from-the-worker-library"
# A turn's projection rows go to Postgres in one activity (and one transaction), not one activity per row; a
# local activity first, inside the workflow task that answered, so the turn costs Temporal no task round trip.
# The answer waits for it: at most LOCAL_PROJECTION_TIMEOUT, after which (Postgres slow or away) the journey
# uses regular activities, retried without end, until one succeeds.
PROJECTION_PATCH: Final = "projection-per-turn-local-first"
LOCAL_PROJECTION_TIMEOUT: Final = timedelta(seconds=1)
# Every timer started or cancelled and every search-attribute upsert is a write on the Temporal server (the
# embedded one has a single writer), so a turn should cost none. From generation 1 on: the alarm timer runs until
# its moment changes (not restarted by each turn); the attributes are published once per workflow task, however
# many handlers it ran; and those that change on most turns (balance, fragment, last seen) at most once per
# SETTLED_ATTRIBUTES_WINDOW, the last values by one trailing timer. Stage, level, VIP and the memo go out at once.
SETTLED_ATTRIBUTES_WINDOW: Final = timedelta(minutes=1)


def journey_id(user_id: int) -> str:
    return f"journey-{user_id}"


class _Timer:
    """One workflow timer toward a moment, replaced only when the moment changes."""

    def __init__(self, summary: str) -> None:
        self.due: datetime | None = None
        self.rang = False
        self._summary = summary
        self._sleep: asyncio.Task[None] | None = None

    def set(self, due: datetime | None) -> None:
        if due == self.due and not self.rang:
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


@workflow.defn(name="Journey")
class JourneyWorkflow:
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        self.state = input.state or JourneyState(user_id=input.user_id)
        self.content: Content | None = None
        self._content_version = 0
        # Loading content awaits an activity: requests must not interleave around it.
        self._lock = asyncio.Lock()
        self._published: dict[str, Any] = {}
        self._published_at: datetime | None = None
        self._stale = False
        self._alarm = _Timer("reminder or VIP expiry")
        self._settle = _Timer("publish the settled search attributes")
        # Held by the run: a task nobody references may be collected while it waits.
        self._publisher: asyncio.Task[None] | None = None
        # Updates accepted by a validator and not yet handled. Only validators read it (they do not run on
        # replay), so it never steers the workflow's commands.
        self._accepted: set[str] = set()
        # The tracing context each pending effect was decided in (the Telegram update's), so its activity
        # joins that update's trace. In memory only: replay rebuilds it, and it never steers commands.
        self._causes: list[tracing.Context | None] = [None] * len(self.state.pending_effects)
        # Runs of generation 1 on (JourneyInput.begin) take every patched path without asking: each
        # workflow.patched() that records its marker also upserts the TemporalChangeVersion search attribute, a
        # visibility write per patch for every run. Older runs ask, as they did when they were recorded.
        self._generation = input.generation
        # Whether the next turn's projection may run as a local activity (see PROJECTION_PATCH). Rebuilt the same
        # way on replay: it follows the outcomes the history records.
        self._local_projection = True

    @workflow.run
    async def run(self, input: JourneyInput) -> None:
        self._state_changed()
        own_trace = tracing.get_current()
        if self._generation >= 1:
            self._publisher = asyncio.create_task(self._keep_search_attributes_current())
        while True:
            tracing.attach(own_trace)
            if self._generation >= 1:
                await self._wait_for_work()
            else:
                alarm = await self._until_alarm()
                try:
                    await workflow.wait_condition(
                        self._has_work, timeout=alarm, timeout_summary="reminder or VIP expiry"
                    )
                except TimeoutError:
                    if self.content is not None:
                        self._queue(rules.alarm(self.state, self.content, workflow.now()))
                        self._publish_search_attributes()
                    continue
            # Carry out effects in order; stop early when a new run is due (a long Postgres outage
            # must not grow this run's history without bound: the new run carries the rest).
            while self.state.pending_effects and not self._should_continue_as_new():
                batch = self._projection_ahead()
                if batch and self._takes(PROJECTION_PATCH):
                    await self._record_projection(batch)
                    self._done(len(batch))
                    continue
                await self._carry_out(self.state.pending_effects[0], self._causes[0] if self._causes else None)
                self._done(1)
            if self.state.stage == "erased" and not self.state.pending_effects:
                # The user asked to be forgotten: the data is gone and this journey ends here.
                await workflow.wait_condition(workflow.all_handlers_finished)
                return
            if self._should_continue_as_new():
                # Handlers never continue-as-new themselves; wait until they are all done.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(JourneyInput.begin(self.state.user_id, self.state))

    @workflow.update(name="Interact")
    async def interact(self, request: JourneyRequest) -> JourneyReply:
        """Apply one Telegram update and return the screen to show."""
        try:
            return await self._interact(request)
        finally:
            self._accepted.discard(workflow.current_update_info().id)  # type: ignore[union-attr]

    async def _interact(self, request: JourneyRequest) -> JourneyReply:
        async with self._lock:
            content = await self._content_for(request.content_version)
            duplicate = rules.is_duplicate(self.state, request)
            redemption = None
            if request.kind == "redeem" and not duplicate:
                redemption = await self._redeem_pass(request, content)
            try:
                decision = rules.decide(self.state, request, workflow.now(), content, redemption)
            except rules.Rejection as rejection:
                # Validators are skipped on replay and for updates re-applied after a reset: refuse
                # the Update here too, never fail the workflow task.
                raise ApplicationError(str(rejection), type=rejection.kind, non_retryable=True) from None
            if duplicate:
                return JourneyReply(screen=decision.screen, language=self.state.language, duplicate=True)
            self.state = decision.state
            self._queue(decision.effects)
            self._state_changed()
            return JourneyReply(screen=decision.screen, language=self.state.language, toast=decision.toast)

    @interact.validator
    def validate_interact(self, request: JourneyRequest) -> None:
        """Reject bad input before it enters the history: nothing changes."""
        loaded = self.content if self._content_version >= request.content_version else None
        try:
            if not self._accepted:
                rules.validate(self.state, request, loaded)
            else:
                # Updates ahead of this one (two at once, or re-applied after a reset) will change the state it
                # meets: only what holds in any state is checked here, the handler checks the rest in turn.
                rules.validate_shape(self.state.user_id, request)
        except rules.Rejection as rejection:
            raise ApplicationError(str(rejection), type=rejection.kind, non_retryable=True) from None
        self._accepted.add(workflow.current_update_info().id)  # type: ignore[union-attr]

    @workflow.update(name="Support")
    async def support(self, request: SupportRequest) -> SupportReply:
        """A change made by staff (a refund, a grant, a ban...): applied once per ``request_id``, audited by the caller."""
        try:
            return await self._support(request)
        finally:
            self._accepted.discard(workflow.current_update_info().id)  # type: ignore[union-attr]

    async def _support(self, request: SupportRequest) -> SupportReply:
        async with self._lock:
            content = await self._content_for(self.state.content_version)
            try:
                outcome = support.apply(self.state, request, workflow.now(), content)
            except rules.Rejection as rejection:
                raise ApplicationError(str(rejection), type=rejection.kind, non_retryable=True) from None
            if outcome.duplicate:
                return SupportReply(ok=True, message=outcome.message, duplicate=True)
            self.state = outcome.state
            self._queue(outcome.effects)
            self._state_changed()
            return SupportReply(ok=True, message=outcome.message)

    @support.validator
    def validate_support(self, request: SupportRequest) -> None:
        if not self._accepted:
            # Otherwise checked by the handler in turn, against the state the updates ahead of it leave.
            try:
                support.validate(self.state, request)
            except rules.Rejection as rejection:
                raise ApplicationError(str(rejection), type=rejection.kind, non_retryable=True) from None
        self._accepted.add(workflow.current_update_info().id)  # type: ignore[union-attr]

    @workflow.query(name="State")
    def current_state(self) -> JourneyState:
        return self.state

    async def _wait_for_work(self) -> None:
        """Until there are effects to carry out or the alarm rings."""
        self._alarm.set(await self._next_alarm())
        await workflow.wait_condition(lambda: self._has_work() or self._alarm.rang)
        if self._alarm.take() and self.content is not None:
            self._queue(rules.alarm(self.state, self.content, workflow.now()))
            self._stale = True

    async def _keep_search_attributes_current(self) -> None:
        """Publish once per workflow task that changed the state (each upsert is a visibility write on the server),
        however many handlers it ran, and while the main loop waits on effects; and what was held back, when due."""
        while True:
            await workflow.wait_condition(lambda: self._stale or self._settle.rang)
            settled = self._settle.take()
            self._stale = False
            self._publish_search_attributes(settled=settled)

    def _state_changed(self) -> None:
        """The state changed: publish what the Temporal UI shows of it (see _keep_search_attributes_current)."""
        if self._generation >= 1:
            self._stale = True
        else:
            self._publish_search_attributes()

    def _takes(self, patch: str) -> bool:
        """Whether this run takes a path added before generation 1 (see ``self._generation``); a path added later
        needs ``workflow.patched`` for every run, generation 1 included."""
        return self._generation >= 1 or workflow.patched(patch)

    def _has_work(self) -> bool:
        return bool(self.state.pending_effects) or self._should_continue_as_new() or self.state.stage == "erased"

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    def _done(self, count: int) -> None:
        self.state.pending_effects = self.state.pending_effects[count:]
        self._causes = self._causes[count:]

    def _projection_ahead(self) -> list[ProjectionEffect]:
        """The effects at the head of the queue that one projection activity writes together (a turn's rows)."""
        batch: list[ProjectionEffect] = []
        for effect in self.state.pending_effects:
            if not isinstance(effect, PROJECTION_EFFECTS) or (isinstance(effect, UpdateLeaderboard) and effect.remove):
                break
            batch.append(effect)
        return batch

    async def _record_projection(self, batch: list[ProjectionEffect]) -> None:
        cause = self._causes[0] if self._causes else None
        if cause is not None:
            tracing.attach(cause)  # never detached: see _carry_out
        turn = ProjectionBatch(user_id=self.state.user_id, effects=batch)
        summary = f"record {len(batch)} changes for journey {self.state.user_id}"
        outcome: ProjectionOutcome | None = None
        if self._local_projection:
            try:
                outcome = await workflow.execute_local_activity(
                    "record_projection",
                    turn,
                    result_type=ProjectionOutcome,
                    start_to_close_timeout=LOCAL_PROJECTION_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=1),
                    summary=summary,
                )
            except FailureError as failure:  # a local activity's failure arrives as it is (no ActivityError around it)
                if isinstance(failure, CancelledError):
                    raise
                workflow.logger.warning("projection of journey %s goes through regular activities until Postgres "
                                        "answers: %s", self.state.user_id, failure)  # fmt: skip
                self._local_projection = False
        if outcome is None:
            outcome = await workflow.execute_activity(
                "record_projection",
                turn,
                result_type=ProjectionOutcome,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
                summary=summary,
            )
            self._local_projection = True
        for position in outcome.refused:
            # Postgres refused the row for good: park it where support sees it, as _carry_out does.
            workflow.logger.error("%s refused for journey %s", batch[position].kind, self.state.user_id)
            self.state.parked_effects = [*self.state.parked_effects, batch[position]]

    def _queue(self, effects: list[Effect]) -> None:
        self.state.pending_effects = [*self.state.pending_effects, *effects]
        self._causes = [*self._causes, *[tracing.get_current()] * len(effects)]

    async def _content_for(self, requested: int) -> Content:
        """The content version to play: the newest one seen, loaded once per run (never an older one)."""
        version = max(requested, self.state.content_version)
        if version == 0:
            raise ApplicationError("no content version is active", type=JourneyError.CONTENT_UNAVAILABLE,
                                   non_retryable=True)  # fmt: skip
        if (self.content is None or self._content_version != version) and self._takes(CONTENT_LIBRARY_PATCH):
            # A version the worker cannot read now fails this workflow task, which Temporal retries.
            self.content = workflow.extern_functions()[CONTENT_OF](version)
            self._content_version = version
            self.state.content_version = version
        elif self.content is None or self._content_version != version:
            try:
                self.content = await workflow.execute_activity(
                    "load_content",
                    version,
                    result_type=Content,
                    start_to_close_timeout=PROJECTION_TIMEOUT,
                    retry_policy=CONTENT_RETRY,
                    summary=f"load content version {version}",
                )
            except ActivityError as failure:
                raise ApplicationError(f"content version {version} could not be loaded: {failure.cause}",
                                       type=JourneyError.CONTENT_UNAVAILABLE, non_retryable=True) from None  # fmt: skip
            self._content_version = version
            self.state.content_version = version
        assert self.content is not None
        return self.content

    async def _next_alarm(self) -> datetime | None:
        """When the journey must wake on its own (reminder, VIP event), or None for never."""
        if self.state.stage != "active" or not self.state.content_version:
            return None
        async with self._lock:
            content = await self._content_for(self.state.content_version)
        return rules.next_alarm(self.state, content, workflow.now())

    async def _until_alarm(self) -> timedelta | None:
        due = await self._next_alarm()
        return None if due is None else max(due - workflow.now(), timedelta(seconds=1))

    async def _redeem_pass(self, request: JourneyRequest, content: Content) -> PassRedemption:
        """Claim a VIP pass in Postgres (one use, expiring); the claim is the user's even if this task is retried."""
        try:
            rules.validate(self.state, request, content)
        except rules.Rejection as rejection:
            raise ApplicationError(str(rejection), type=rejection.kind, non_retryable=True) from None
        redemption: PassRedemption = await workflow.execute_activity(
            "redeem_vip_pass",
            RedeemPass(token=request.action, user_id=self.state.user_id, at=workflow.now()),
            result_type=PassRedemption,
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=CONTENT_RETRY,
            summary=f"redeem a VIP pass for journey {self.state.user_id}",
        )
        return redemption

    async def _carry_out(self, effect: Effect, cause: tracing.Context | None) -> None:
        leaderboard = isinstance(effect, UpdateLeaderboard) and not effect.remove
        if cause is not None:
            # Attached, never detached: a detach after the await may run in another context (an evicted
            # run's cleanup). The main loop attaches the run's own context back when the effects are done.
            tracing.attach(cause)
        try:
            await workflow.execute_activity(
                _ACTIVITY_FOR[type(effect)],
                effect,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=LEADERBOARD_RETRY if leaderboard else PROJECTION_RETRY,
                summary=f"{effect.kind.replace('_', ' ')} for journey {self.state.user_id}",
            )
        except ActivityError as failure:
            if leaderboard:
                # The next award writes the totals again; Redis being down costs nothing lasting.
                workflow.logger.warning("leaderboard not updated for journey %s: %s", self.state.user_id, failure.cause)
                return
            # Only a non-retryable failure gets here (Postgres refused the row, the user blocked the bot):
            # park the effect where support sees it instead of blocking every later one.
            workflow.logger.error("%s refused for journey %s: %s", effect.kind, self.state.user_id, failure.cause)
            self.state.parked_effects = [*self.state.parked_effects, effect]

    def _publish_search_attributes(self, *, settled: bool = False) -> None:
        """Keep what the Temporal UI filters on (and the memo operators read) current; unchanged values cost nothing.

        ``settled``: the trailing timer rang, publish what was held back (see SETTLED_ATTRIBUTES_WINDOW).
        """
        values: dict[str, Any] = dict(rules.search_attribute_values(self.state))
        if self._takes(search_attributes.PATCH):
            for name, value in rules.memo_values(self.state).items():
                values[f"memo:{name}"] = value
        else:
            values = {name: value for name, value in values.items() if name not in search_attributes.LATER}
        changed = {name: value for name, value in values.items() if self._published.get(name) != value}
        if not changed:
            return
        if not settled and self._published_at is not None and self._generation >= 1:
            settles_at = self._published_at + SETTLED_ATTRIBUTES_WINDOW
            if changed.keys() <= search_attributes.SETTLED and workflow.now() < settles_at:
                self._settle.set(settles_at)
                return
        self._settle.set(None)
        self._published_at = workflow.now()
        updates: list[SearchAttributeUpdate[Any]] = []
        memo: dict[str, Any] = {}
        for name, value in changed.items():
            if name.startswith("memo:"):
                memo[name.removeprefix("memo:")] = value
                continue
            key = search_attributes.KEYS[name]
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        if memo:
            workflow.upsert_memo(memo)
        self._published.update(changed)


# Activity names as registered by the worker (see the ``activities`` package).
_ACTIVITY_FOR: Final[dict[type[Any], str]] = {
    SaveProfile: "record_profile",
    AwardBesitos: "append_besitos_ledger",
    UnlockAchievement: "record_achievement",
    CompleteMission: "record_mission",
    SaveStoryProgress: "record_story_progress",
    RecordDecision: "record_decision",
    RecordReaction: "record_reaction",
    UpdateLeaderboard: "update_leaderboard",
    Notify: "send_notification",
    ExportData: "send_data_export",
    EraseData: "erase_personal_data",
    SendInvoice: "send_invoice",
    RecordPayment: "record_payment",
    SaveSubscription: "record_subscription",
    RefundPayment: "refund_payment",
    OpenVipChannel: "open_vip_channel",
    CloseVipChannel: "close_vip_channel",
}
