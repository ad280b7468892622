"""The Door workflow (``door-<channel>-<user>``): one join request to a free channel, approved after a delay.

Started by the bot for each ``chat_join_request`` of a free channel (``bot.door``; a redelivered update finds the
running one). A thin shell around ``workflows.door_rules``, shaped like temporalio's timer samples: the wait message
(what the channel is, Diana's links), a durable timer (the delay in force when the request arrived, counted from
Telegram's date of it; an admin's ``approve_now`` signal cuts it short), then the ban check and the approval, then
the welcome. The timer lives in Temporal: a restarted worker goes on where the last one was, and the approval is
one activity whose retries are harmless (an approval already done is found, not repeated). A user who blocked the
bot is approved without messages; a withdrawn request or a banned user is not approved.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import door_rules as rules
    from workflows.contracts import MessageRefusal
    from workflows.door_contracts import DoorAnswer, DoorInput, DoorMessage, DoorOutcome, DoorResult
    from workflows.side_effects import Door

TRY: Final = timedelta(seconds=30)
# The ban check and the approval are never given up (a Telegram or journey outage only delays them).
PATIENT: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# A message not sent within this is let go: the approval does not wait on it.
MESSAGE_LIMIT: Final = timedelta(minutes=5)
REFUSALS: Final = frozenset({MessageRefusal.BLOCKED, MessageRefusal.UNDELIVERABLE})


@workflow.defn(name="Door")
class DoorWorkflow:
    def __init__(self) -> None:
        self._now = False

    @workflow.signal
    def approve_now(self) -> None:
        """An admin's "approve all now": the wait ends at once (the ban check still applies)."""
        self._now = True

    @workflow.run
    async def run(self, input: DoorInput) -> DoorResult:
        if await self._banned(input):
            return DoorResult(outcome=await self._answer(input, approve=False))
        silent = not await self._say(input, "wait")
        left = rules.time_left(input.requested_at, timedelta(seconds=input.delay_seconds), workflow.now())
        if left > timedelta(0) and not self._now:
            try:
                await workflow.wait_condition(lambda: self._now, timeout=left,
                                              timeout_summary=f"the door of user {input.user_id}")  # fmt: skip
            except TimeoutError:
                pass
        if await self._banned(input):  # banned meanwhile
            return DoorResult(outcome=await self._answer(input, approve=False), silent=silent)
        outcome = await self._answer(input, approve=True)
        if outcome == "approved" and not silent:
            silent = not await self._say(input, "welcome")
        return DoorResult(outcome=outcome, silent=silent)

    async def _banned(self, input: DoorInput) -> bool:
        return await workflow.execute_activity_method(Door.door_banned, input.user_id, start_to_close_timeout=TRY,
                                                      retry_policy=PATIENT)  # fmt: skip

    async def _answer(self, input: DoorInput, *, approve: bool) -> DoorOutcome:
        answer = DoorAnswer(chat_id=input.chat_id, user_id=input.user_id, approve=approve)
        return await workflow.execute_activity_method(Door.door_answer, answer, start_to_close_timeout=TRY,
                                                      retry_policy=PATIENT)  # fmt: skip

    async def _say(self, input: DoorInput, kind: str) -> bool:
        """False when the user cannot be written to (blocked the bot, no chat); a message that could not be sent in
        time for another reason is let go (True: later ones are still tried)."""
        message = DoorMessage(kind="wait" if kind == "wait" else "welcome", chat_id=input.chat_id,
                              user_id=input.user_id, language=input.language, channel_title=input.channel_title,
                              delay_seconds=input.delay_seconds,
                              idempotency_key=rules.message_key(input.chat_id, input.user_id, input.requested_at,
                                                                kind))  # fmt: skip
        try:
            await workflow.execute_activity_method(Door.send_door_message, message, start_to_close_timeout=TRY,
                                                   schedule_to_close_timeout=MESSAGE_LIMIT, retry_policy=PATIENT)  # fmt: skip
        except ActivityError as failure:
            cause = failure.cause
            refused = isinstance(cause, ApplicationError) and cause.type in REFUSALS
            workflow.logger.info("door message %s to %s not sent (%s)", kind, input.user_id,
                                 "refused" if refused else "gave up")  # fmt: skip
            return not refused
        return True
