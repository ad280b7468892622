"""The JourneyDeletion workflow: after an erasure, the journey's keys are destroyed, then every run of it deleted.

An erased journey retires its data keys and starts this workflow (``erase_personal_data``), then ends. Once its
whole continue-as-new chain has closed, the keys go first (from that moment every byte the user ever put into
Temporal is unreadable, in the live database and in any backup of it), then every run of the chain is deleted.
A new ``/start`` meanwhile begins a new journey under a new key, and is left alone: the key the erased run made
for its last payloads is kept while a new journey may be using it, and destroyed when none does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ForgetJourney, LeftoverKeys
    from workflows.side_effects import Forgetting

STEP_TIMEOUT: Final = timedelta(seconds=60)
# Until the erased journey has closed (it ends right after the erasure) and while Temporal or Postgres are away.
PATIENT_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# How long a new /start that raced the erasure may take to show up in Temporal before its key is judged unused.
NEW_JOURNEY_GRACE: Final = timedelta(seconds=10)


@workflow.defn(name="JourneyDeletion")
class JourneyDeletionWorkflow:
    @workflow.run
    async def run(self, forget: ForgetJourney) -> None:
        closed_at = await workflow.execute_activity_method(
            Forgetting.journey_closed, forget, start_to_close_timeout=STEP_TIMEOUT, retry_policy=PATIENT_RETRY
        )
        await workflow.execute_activity_method(
            Forgetting.destroy_keys, forget.key_ids, start_to_close_timeout=STEP_TIMEOUT, retry_policy=PATIENT_RETRY
        )
        deleted = await workflow.execute_activity_method(
            Forgetting.delete_runs, forget, start_to_close_timeout=STEP_TIMEOUT, retry_policy=PATIENT_RETRY
        )
        leftover = await workflow.execute_activity_method(
            Forgetting.retire_leftover_keys,
            LeftoverKeys(workflow_id=forget.workflow_id, made_before=closed_at, deleted_runs=deleted),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=PATIENT_RETRY,
        )
        if leftover.key_ids:
            await workflow.sleep(NEW_JOURNEY_GRACE)
            await workflow.execute_activity_method(
                Forgetting.discard_unused_keys, leftover, start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=PATIENT_RETRY,
            )  # fmt: skip
        # Last, this workflow's own key: what it carried (the journey's id) is unreadable too.
        await workflow.execute_activity_method(
            Forgetting.destroy_own_keys, start_to_close_timeout=STEP_TIMEOUT, retry_policy=PATIENT_RETRY
        )
