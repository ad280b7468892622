"""Deleting an erased journey from Temporal: its keys destroyed first, then every run of its chain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from infra.payload_keys import destroy_keys, retire_keys, retire_keys_made_before
from workflows.contracts import ForgetJourney, LeftoverKeys
from workflows.deletion import JourneyDeletionWorkflow
from workflows.side_effects import Forgetting


async def start_deletion(conn: asyncpg.Connection) -> None:
    """From the erasure inside a journey: retire its keys (what follows gets a new one) and have it deleted once it
    has closed. Started once per run (its id is the run's), however often the erasure is retried."""
    info = activity.info()
    assert info.workflow_id is not None, "run by a journey"
    key_ids = await retire_keys(conn, info.workflow_id)
    forget = ForgetJourney(workflow_id=info.workflow_id, run_id=info.workflow_run_id, key_ids=[str(k) for k in key_ids])
    await activity.client().start_workflow(
        JourneyDeletionWorkflow.run, forget, id=f"forget-{info.workflow_run_id}", task_queue=info.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )  # fmt: skip


class ForgettingActivities(Forgetting):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn
    async def journey_closed(self, forget: ForgetJourney) -> datetime | None:
        handle = activity.client().get_workflow_handle(forget.workflow_id, run_id=forget.run_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None  # deleted already (this workflow retried after the deletion)
            raise
        if description.close_time is None:
            raise ApplicationError("the erased journey is still closing", type="JourneyStillRuns")
        return description.close_time

    @activity.defn
    async def destroy_keys(self, key_ids: list[str]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            return await destroy_keys(conn, [uuid.UUID(k) for k in key_ids])

    @activity.defn
    async def delete_runs(self, forget: ForgetJourney) -> list[str]:
        client = activity.client()
        chain = await _chain(client, forget.workflow_id, forget.run_id)
        # Oldest first: a retry walks back from the newest and stops at the first run already gone.
        for run_id in reversed(chain):
            activity.heartbeat(run_id)
            try:
                await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=forget.workflow_id, run_id=run_id)))  # fmt: skip
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
        activity.logger.info("erased journey deleted from Temporal: %d run(s)", len(chain))
        return chain

    @activity.defn
    async def retire_leftover_keys(self, leftover: LeftoverKeys) -> LeftoverKeys:
        async with self.pool.acquire() as conn, conn.transaction():
            retired = await retire_keys_made_before(conn, leftover.workflow_id,
                                                    leftover.made_before or datetime.now(UTC))  # fmt: skip
        return leftover.model_copy(update={"key_ids": [str(k) for k in retired]})

    @activity.defn
    async def discard_unused_keys(self, leftover: LeftoverKeys) -> int:
        """The erased run's last payloads had a key of their own; destroyed unless a new journey is using it."""
        try:
            latest = await activity.client().get_workflow_handle(leftover.workflow_id).describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        else:
            if latest.run_id not in leftover.deleted_runs:
                return 0  # a new journey began meanwhile: its first payloads may be under this key (retired, readable)
        return await self.destroy_keys(leftover.key_ids)

    @activity.defn
    async def destroy_own_keys(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await destroy_keys(conn, await retire_keys(conn, activity.info().workflow_id or ""))


async def _chain(client: Client, workflow_id: str, last_run: str) -> list[str]:
    """The runs of a continue-as-new chain, newest first, from each run's first event (its predecessor's id)."""
    chain: list[str] = []
    run_id: str | None = last_run
    while run_id:
        previous = None
        try:
            async for event in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events():
                previous = event.workflow_execution_started_event_attributes.continued_execution_run_id or None
                break
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            return chain  # deleted already, and everything before it
        chain.append(run_id)
        run_id = previous
    return chain
