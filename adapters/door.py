"""The free channels' door as the bot and the admins see it: the delay (Postgres) and the requests waiting (the
running ``Door`` workflows, through Temporal's visibility)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from workflows.door import DoorWorkflow
from workflows.door_contracts import DoorInput
from workflows.door_rules import DEFAULT_DELAY, door_id, parse_door_id

# The most requests the admins' list shows (the rest are counted); "approve all" takes every one.
MAX_SHOWN: Final = 20


@dataclass(frozen=True)
class PendingRequest:
    chat_id: int
    user_id: int
    requested_at: datetime | None
    workflow_id: str


async def door_delay(pool: asyncpg.Pool | asyncpg.Connection) -> timedelta:
    """The delay in force: the admin's, or the default before any admin set one."""
    seconds = await pool.fetchval("SELECT delay_seconds FROM door_settings")
    return DEFAULT_DELAY if seconds is None else timedelta(seconds=seconds)


async def set_door_delay(pool: asyncpg.Pool | asyncpg.Connection, delay: timedelta, admin_id: int) -> None:
    await pool.execute(
        """
        INSERT INTO door_settings (singleton, delay_seconds, changed_by, changed_at) VALUES (true, $1, $2, now())
        ON CONFLICT (singleton) DO UPDATE SET delay_seconds = EXCLUDED.delay_seconds,
            changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at
        """,
        int(delay.total_seconds()),
        admin_id,
    )


def _pending_query(task_queue: str) -> str:
    return f"WorkflowType = 'Door' AND ExecutionStatus = 'Running' AND TaskQueue = '{task_queue}'"


async def pending_requests(client: Client, task_queue: str) -> list[PendingRequest]:
    """Every request still waiting, the oldest first (Temporal's visibility trails starts by a moment)."""
    found = []
    async for execution in client.list_workflows(_pending_query(task_queue)):
        ids = parse_door_id(execution.id)
        if ids is not None:
            found.append(PendingRequest(ids[0], ids[1], execution.start_time, execution.id))
    return sorted(found, key=lambda request: (request.requested_at is None, request.requested_at, request.user_id))


async def approve_all_now(client: Client, task_queue: str) -> int:
    """Every waiting request's timer cut short; how many were signalled (one that ended meanwhile is not)."""
    signalled = 0
    for request in await pending_requests(client, task_queue):
        try:
            await client.get_workflow_handle(request.workflow_id).signal(DoorWorkflow.approve_now)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        signalled += 1
    return signalled


async def open_door(client: Client, task_queue: str, request: DoorInput) -> None:
    """The request's door: started once (a redelivered update finds the running one)."""
    await client.start_workflow(DoorWorkflow.run, request, id=door_id(request.chat_id, request.user_id),
                                task_queue=task_queue,
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)  # fmt: skip
