"""The bot's door to the journeys: every update becomes an Update on the user's workflow."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final, TypeVar, cast

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from adapters.content_version import ActiveContent
from workflows.contracts import JourneyError, JourneyInput, JourneyReply, JourneyRequest, SupportReply, SupportRequest
from workflows.journey import JourneyWorkflow, journey_id

REJECTIONS: Final = frozenset(
    {JourneyError.UNKNOWN_ACTION, JourneyError.STALE_SCREEN, JourneyError.FOREIGN_USER, JourneyError.NOT_STARTED,
     JourneyError.INVALID_INPUT, JourneyError.ERASED, JourneyError.INVOICE_STALE, JourneyError.INVOICE_FOREIGN,
     JourneyError.PLAN_GONE, JourneyError.ALREADY_PAID, JourneyError.SUPPORT_REFUSED, JourneyError.BANNED}
)  # fmt: skip
R = TypeVar("R", bound=BaseModel)
# The journey's Updates by reference. temporalio types an update given an explicit name by its coroutine, not its
# result: these say what each returns.
INTERACT: Final = cast(
    "UpdateMethodMultiParam[[JourneyWorkflow, JourneyRequest], JourneyReply]", JourneyWorkflow.interact
)
SUPPORT: Final = cast(
    "UpdateMethodMultiParam[[JourneyWorkflow, SupportRequest], SupportReply]", JourneyWorkflow.support
)


class JourneyRejected(Exception):
    """The journey refused the update; nothing changed. ``kind`` is a ``JourneyError`` name."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.message = message


class Journeys:
    """Sends requests to ``journey-<user id>``, starting it on the user's first contact."""

    def __init__(self, client: Client, task_queue: str, content: ActiveContent) -> None:
        self.client = client
        self.task_queue = task_queue
        self.content = content

    async def interact(self, request: JourneyRequest) -> JourneyReply:
        """Apply ``request`` exactly once (the Telegram update is the Temporal update id).

        :raises JourneyRejected: the journey's validator refused the request.
        """
        request = request.model_copy(update={"content_version": self.content.version})
        start = WithStartWorkflowOperation(
            JourneyWorkflow.run,
            JourneyInput(user_id=request.user_id),
            id=journey_id(request.user_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self.task_queue,
        )
        try:
            reply = await self.client.execute_update_with_start_workflow(
                INTERACT, request, start_workflow_operation=start, id=telegram_update_id(request)
            )
        except WorkflowUpdateFailedError as failure:
            raise _rejection(failure) from None
        return reply

    async def interact_if_started(self, request: JourneyRequest) -> JourneyReply:
        """Like ``interact``, for updates that must not open a journey (channel reactions and joins).

        :raises JourneyRejected: ``JourneyNotStarted`` when the user has no journey yet.
        """
        request = request.model_copy(update={"content_version": self.content.version})
        handle = self.client.get_workflow_handle_for(JourneyWorkflow.run, journey_id(request.user_id))
        return await _existing(request.user_id, handle.execute_update(INTERACT, request,
                                                                      id=telegram_update_id(request)))  # fmt: skip

    async def support(self, request: SupportRequest) -> SupportReply:
        """A staff change to an existing journey; see ``request_support``."""
        return await request_support(self.client, request)


def telegram_update_id(request: JourneyRequest) -> str:
    """The Update id of a Telegram update: a redelivery is the same Update, applied once."""
    return f"telegram-update-{request.delivery}"


async def request_support(client: Client, request: SupportRequest) -> SupportReply:
    """A staff change (admin in Telegram, support in the CLI) to an existing journey, applied once per ``request_id``.

    :raises JourneyRejected: the journey refused it (unknown charge, erased journey, no such journey).
    """
    handle = client.get_workflow_handle_for(JourneyWorkflow.run, journey_id(request.user_id))
    return await _existing(request.user_id, handle.execute_update(SUPPORT, request,
                                                                  id=f"support-{request.request_id}"))  # fmt: skip


async def _existing(user_id: int, update: Awaitable[R]) -> R:
    """An Update on a journey that must already exist; a missing one is ``JourneyNotStarted``."""
    try:
        return await update
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise JourneyRejected(JourneyError.NOT_STARTED, f"user {user_id} has no journey") from None
        raise
    except WorkflowUpdateFailedError as failure:
        raise _rejection(failure) from None


def _rejection(failure: WorkflowUpdateFailedError) -> Exception:
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.type in REJECTIONS:
        return JourneyRejected(cause.type, cause.message)
    return failure
