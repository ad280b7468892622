"""The bot's door to the journeys: every update becomes an Update on the user's workflow."""

from __future__ import annotations

from typing import Final

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from workflows.contracts import JourneyError, JourneyInput, JourneyReply, JourneyRequest
from workflows.journey import JourneyWorkflow, journey_id

REJECTIONS: Final = frozenset(
    {JourneyError.UNKNOWN_ACTION, JourneyError.STALE_SCREEN, JourneyError.FOREIGN_USER, JourneyError.NOT_STARTED,
     JourneyError.INVALID_INPUT}
)  # fmt: skip


class JourneyRejected(Exception):
    """The journey refused the update; nothing changed. ``kind`` is a ``JourneyError`` name."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Journeys:
    """Sends requests to ``journey-<user id>``, starting it on the user's first contact."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    async def interact(self, request: JourneyRequest) -> JourneyReply:
        """Apply ``request`` exactly once (the Telegram update is the Temporal update id).

        :raises JourneyRejected: the journey's validator refused the request.
        """
        start = WithStartWorkflowOperation(
            JourneyWorkflow.run,
            JourneyInput(user_id=request.user_id),
            id=journey_id(request.user_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self.task_queue,
        )
        try:
            return await self.client.execute_update_with_start_workflow(
                JourneyWorkflow.interact,
                request,
                start_workflow_operation=start,
                id=f"telegram-update-{request.delivery}",
            )
        except WorkflowUpdateFailedError as failure:
            cause = failure.cause
            if isinstance(cause, ApplicationError) and cause.type in REJECTIONS:
                raise JourneyRejected(cause.type) from None
            raise
