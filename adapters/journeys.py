"""The door to the journeys: every update becomes an Update on the user's workflow, and every call has a deadline.

A journey that cannot answer in time (its workflow tasks failing, no worker, Temporal away) never holds up the
caller: the call gives up at its deadline with ``JourneyUnavailable``, the user is told to try again, and the
bot keeps the update for support (``bot.dead_letters``). Temporal keeps the Update if it was accepted, and its
id makes a later delivery of the same Telegram update apply once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Final, TypeVar, cast

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
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
     JourneyError.PLAN_GONE, JourneyError.ALREADY_PAID, JourneyError.SUPPORT_REFUSED, JourneyError.BANNED,
     JourneyError.LAPSED}
)  # fmt: skip
# What a person does that opens a journey: /start, /diana, writing to Diana. A button press never does (a button is
# on a screen a journey sent: without one it is a stranger's forged press, or an old screen of an ended journey),
# nor do channel activity and payments.
OPENING_KINDS: Final = frozenset({"start", "menu", "text"})
# How long a caller waits for a journey's answer: well within what Telegram waits for a webhook, and what a user
# waits before tapping again.
DEADLINE_SECONDS: Final = 10.0
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


class JourneyUnavailable(Exception):
    """The journey did not answer in time, or could not apply the update; ``reason`` says which, for support."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Journeys:
    """Sends requests to ``journey-<user id>``, starting it on the user's first contact."""

    def __init__(self, client: Client, task_queue: str, content: ActiveContent, *,
                 deadline: float = DEADLINE_SECONDS) -> None:  # fmt: skip
        self.client = client
        self.task_queue = task_queue
        self.content = content
        self.deadline = deadline

    async def interact(self, request: JourneyRequest, *, deadline: float | None = None) -> JourneyReply:
        """Apply ``request`` exactly once (the Telegram update is the Temporal update id).

        :raises JourneyRejected: the journey refused the request; nothing changed.
        :raises JourneyUnavailable: no answer within ``deadline`` (default: the door's), or the journey failed.
        """
        if request.kind not in OPENING_KINDS:
            return await self.interact_if_started(request, deadline=deadline)
        request = request.model_copy(update={"content_version": self.content.version})
        start = WithStartWorkflowOperation(
            JourneyWorkflow.run,
            JourneyInput(user_id=request.user_id),
            id=journey_id(request.user_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self.task_queue,
        )
        update = self.client.execute_update_with_start_workflow(
            INTERACT, request, start_workflow_operation=start, id=telegram_update_id(request)
        )
        return await _answer(request.user_id, update, deadline or self.deadline)

    async def interact_if_started(self, request: JourneyRequest, *, deadline: float | None = None) -> JourneyReply:
        """Like ``interact``, for updates that must not open a journey (channel reactions and joins, payments).

        :raises JourneyRejected: ``JourneyNotStarted`` when the user has no journey yet.
        """
        request = request.model_copy(update={"content_version": self.content.version})
        handle: WorkflowHandle[JourneyWorkflow, str] = self.client.get_workflow_handle(journey_id(request.user_id))
        update = handle.execute_update(INTERACT, request, id=telegram_update_id(request))
        try:
            return await _answer(request.user_id, update, deadline or self.deadline)
        except JourneyRejected as rejected:
            if rejected.kind == JourneyError.ERASED and await _ended_as(handle) == "lapsed":
                raise JourneyRejected(
                    JourneyError.LAPSED, "the journey ended with its introduction unfinished"
                ) from None
            raise

    async def support(self, request: SupportRequest) -> SupportReply:
        """A staff change to an existing journey; see ``request_support``."""
        return await request_support(self.client, request, deadline=self.deadline)


async def _ended_as(handle: WorkflowHandle[JourneyWorkflow, str]) -> str | None:
    """How an ended journey ended ("erased", "lapsed"); None when that cannot be read now."""
    try:
        async with asyncio.timeout(2):
            return await handle.result(follow_runs=False)
    except (TimeoutError, RPCError, WorkflowFailureError):
        return None


def telegram_update_id(request: JourneyRequest) -> str:
    """The Update id of a Telegram update: a redelivery is the same Update, applied once."""
    return f"telegram-update-{request.delivery}"


async def request_support(client: Client, request: SupportRequest, *,
                          deadline: float = DEADLINE_SECONDS) -> SupportReply:  # fmt: skip
    """A staff change (admin in Telegram, support in the CLI) to an existing journey, applied once per ``request_id``.

    :raises JourneyRejected: the journey refused it (unknown charge, erased journey, no such journey).
    :raises JourneyUnavailable: no answer within ``deadline``.
    """
    handle: WorkflowHandle[JourneyWorkflow, str] = client.get_workflow_handle(journey_id(request.user_id))
    update = handle.execute_update(SUPPORT, request, id=f"support-{request.request_id}")
    return await _answer(request.user_id, update, deadline)


async def request_support_with_start(client: Client, task_queue: str, request: SupportRequest, *,
                                     deadline: float = DEADLINE_SECONDS) -> SupportReply:  # fmt: skip
    """Like ``request_support``, starting the journey (stage "new") when the user has none yet, as a first contact
    does: the change is the new journey's first Update. The request names the content version to play."""
    start = WithStartWorkflowOperation(
        JourneyWorkflow.run,
        JourneyInput(user_id=request.user_id),
        id=journey_id(request.user_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=task_queue,
    )
    update = client.execute_update_with_start_workflow(
        SUPPORT, request, start_workflow_operation=start, id=f"support-{request.request_id}"
    )
    return await _answer(request.user_id, update, deadline)


async def _answer(user_id: int, update: Awaitable[R], deadline: float) -> R:
    """The journey's answer within ``deadline``; a missing journey is ``JourneyNotStarted``."""
    try:
        async with asyncio.timeout(deadline):
            return await update
    except TimeoutError:
        raise JourneyUnavailable(f"journey {user_id} did not answer within {deadline:g} s") from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND and "completed" in error.message:
            # A journey ends only when its user is forgotten (or staff ended it).
            raise JourneyRejected(JourneyError.ERASED, f"the journey of user {user_id} has ended") from None
        if error.status == RPCStatusCode.NOT_FOUND:
            raise JourneyRejected(JourneyError.NOT_STARTED, f"user {user_id} has no journey") from None
        raise JourneyUnavailable(
            f"journey {user_id} unreachable: {error.status.name if error.status else error}"
        ) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise JourneyUnavailable(f"journey {user_id} did not answer before Temporal gave up") from None
    except WorkflowUpdateFailedError as failure:
        cause = failure.cause
        if isinstance(cause, ApplicationError) and cause.type in REJECTIONS:
            raise JourneyRejected(cause.type, cause.message) from None
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise JourneyUnavailable(f"journey {user_id} could not apply it: {message}") from None
