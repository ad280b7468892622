"""The engine floor: the cheapest per-user workflow Temporal can run, for :mod:`benchmarks.load` to compare against.

One workflow per emulated user, reached the way the bot reaches a journey (update-with-start,
``USE_EXISTING``, a fresh Update id per interaction); its Update handler only counts. Whatever
Diana spends above this is Diana's (bot, rules, activities, payloads), not Temporal's. The architecture
floor's bot (:mod:`benchmarks.echo_bot`) reaches the same workflow from Telegram updates.

``python -m benchmarks.floor --address HOST:PORT --task-queue Q`` runs its worker as a process of its
own (as Diana's worker is) until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Final

from temporalio import workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

TOUCH: Final = "Touch"
# As Diana's worker (worker/main.py): every per-user workflow of a run stays cached.
MAX_CACHED_WORKFLOWS: Final = 10_000


@workflow.defn(name="BenchFloor")
class FloorWorkflow:
    def __init__(self) -> None:
        self.touches = 0

    @workflow.run
    async def run(self, touches: int) -> None:
        self.touches = touches
        # Long-lived like a journey: a new run when the history (or the Update count) asks for it.
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.touches)

    @workflow.update(name=TOUCH)
    async def touch(self, value: int) -> int:
        self.touches += 1
        return value


def floor_id(user_id: int) -> str:
    return f"bench-floor-{user_id}"


async def touch(client: Client, task_queue: str, user_id: int, update_id: str, *, value: int | None = None) -> int:
    """One interaction: an Update on the user's workflow, started on first contact (as ``adapters.journeys`` does).

    The Update answers ``value`` (the user id unless given).
    """
    start = WithStartWorkflowOperation(
        FloorWorkflow.run,
        0,
        id=floor_id(user_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=task_queue,
    )
    result: int = await client.execute_update_with_start_workflow(
        TOUCH, user_id if value is None else value, start_workflow_operation=start, id=update_id, result_type=int
    )
    return result


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # As `diana worker` runs journeys: outside the SDK's sandbox, whose cost is neither Temporal's nor Diana's.
    worker = Worker(client, task_queue=task_queue, workflows=[FloorWorkflow], max_cached_workflows=MAX_CACHED_WORKFLOWS,
                    workflow_runner=UnsandboxedWorkflowRunner())  # fmt: skip
    async with worker:
        print(f"floor worker polling {task_queue}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="the engine floor's worker")
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
