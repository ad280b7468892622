"""The journey workflow: a thin Temporal shell around the pure rules in ``workflows.rules``.

One workflow per Telegram user (``journey-<telegram_user_id>``). The bot sends each update
as an Update whose id is Telegram's ``update_id``; the handler answers from the state at
once and queues the side effects, which the main loop carries out as activities so the
Postgres projection never holds up a reply.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import rules, search_attributes
    from workflows.contracts import (
        AwardBesitos,
        Effect,
        JourneyInput,
        JourneyReply,
        JourneyRequest,
        JourneyState,
        SaveProfile,
        UnlockAchievement,
    )

PROJECTION_TIMEOUT: Final = timedelta(seconds=15)
# Postgres may be away for a while: keep retrying, never give up on the projection.
PROJECTION_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


def journey_id(user_id: int) -> str:
    return f"journey-{user_id}"


@workflow.defn(name="Journey")
class JourneyWorkflow:
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        self.state = input.state or JourneyState(user_id=input.user_id)
        self._published: dict[str, Any] = {}

    @workflow.run
    async def run(self, input: JourneyInput) -> None:
        self._publish_search_attributes()
        while True:
            await workflow.wait_condition(lambda: bool(self.state.pending_effects) or self._should_continue_as_new())
            # Carry out effects in order; stop early when a new run is due (a long Postgres outage
            # must not grow this run's history without bound: the new run carries the rest).
            while self.state.pending_effects and not self._should_continue_as_new():
                await self._carry_out(self.state.pending_effects[0])
                self.state.pending_effects = self.state.pending_effects[1:]
            if self._should_continue_as_new():
                # Handlers never continue-as-new themselves; wait until they are all done.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(JourneyInput(user_id=self.state.user_id, state=self.state))

    @workflow.update(name="Interact")
    def interact(self, request: JourneyRequest) -> JourneyReply:
        """Apply one Telegram update and return the screen to show."""
        duplicate = rules.is_duplicate(self.state, request)
        try:
            decision = rules.decide(self.state, request, workflow.now())
        except rules.Rejection as rejection:
            # Validators are skipped on replay and for updates re-applied after a reset: refuse
            # the Update here too, never fail the workflow task.
            raise ApplicationError(str(rejection), type=rejection.kind, non_retryable=True) from None
        if duplicate:
            return JourneyReply(screen=decision.screen, language=self.state.language, duplicate=True)
        self.state = decision.state
        self.state.pending_effects = [*self.state.pending_effects, *decision.effects]
        self._publish_search_attributes()
        return JourneyReply(screen=decision.screen, language=self.state.language)

    @interact.validator
    def validate_interact(self, request: JourneyRequest) -> None:
        """Reject bad input before it enters the history: nothing changes."""
        try:
            rules.validate(self.state, request)
        except rules.Rejection as rejection:
            raise ApplicationError(str(rejection), type=rejection.kind, non_retryable=True) from None

    @workflow.query(name="State")
    def current_state(self) -> JourneyState:
        return self.state

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    async def _carry_out(self, effect: Effect) -> None:
        try:
            await workflow.execute_activity(
                _ACTIVITY_FOR[type(effect)],
                effect,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
                summary=f"{effect.kind.replace('_', ' ')} for journey {self.state.user_id}",
            )
        except ActivityError as failure:
            # Only a non-retryable failure gets here (Postgres refused the row itself): park the
            # effect where support sees it instead of blocking every later one.
            workflow.logger.error("projection refused %s for journey %s: %s", effect.kind, self.state.user_id,
                                  failure.cause)  # fmt: skip
            self.state.parked_effects = [*self.state.parked_effects, effect]

    def _publish_search_attributes(self) -> None:
        values = rules.search_attribute_values(self.state)
        changed = {name: value for name, value in values.items() if self._published.get(name) != value}
        if not changed:
            return
        updates: list[SearchAttributeUpdate[Any]] = []
        for name, value in changed.items():
            key = search_attributes.KEYS[name]
            updates.append(key.value_unset() if value is None else key.value_set(value))
        workflow.upsert_search_attributes(updates)
        self._published.update(changed)


# Activity names as registered by the worker (see activities.projection).
_ACTIVITY_FOR: Final[dict[type[Any], str]] = {
    SaveProfile: "record_profile",
    AwardBesitos: "append_besitos_ledger",
    UnlockAchievement: "record_achievement",
}
