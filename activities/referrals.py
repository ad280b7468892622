"""Referrals outside the journey: invitation codes in Postgres, and the referrer's journey told of a newcomer."""

from __future__ import annotations

from typing import Final, cast

import asyncpg
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from workflows import side_effects
from workflows.contracts import JourneyError
from workflows.journey import JourneyWorkflow, journey_id
from workflows.referral_contracts import (
    ReferralReply,
    ReferralRequest,
    ReferralResolved,
    ResolveReferral,
    SaveReferralCode,
    TellReferrer,
)

# temporalio types an update given an explicit name by its coroutine, not its result: this says what it returns.
REFERRAL: Final = cast(
    "UpdateMethodMultiParam[[JourneyWorkflow, ReferralRequest], ReferralReply]", JourneyWorkflow.referral
)

# Written once per user; a user whose row is gone (erased meanwhile) gets none.
SAVE_SQL: Final = """
    INSERT INTO referral_codes (code, telegram_user_id, created_at)
    SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE telegram_user_id = $2)
    ON CONFLICT DO NOTHING
"""


class ReferralActivities(side_effects.Referrals):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn
    async def resolve_referral_code(self, request: ResolveReferral) -> ReferralResolved:
        owner = await self.pool.fetchval("SELECT telegram_user_id FROM referral_codes WHERE code = $1", request.code)
        return ReferralResolved(valid=owner is not None and owner != request.newcomer)

    @activity.defn
    async def save_referral_code(self, effect: SaveReferralCode) -> None:
        await self.pool.execute(SAVE_SQL, effect.code, effect.user_id, effect.created_at)

    @activity.defn
    async def tell_referrer(self, effect: TellReferrer) -> None:
        """The referrer's ``Referral`` Update, its id the event's: a retry of this activity is the same Update. A code
        gone (its owner erased) has nobody to tell."""
        referrer = await self.pool.fetchval("SELECT telegram_user_id FROM referral_codes WHERE code = $1", effect.code)
        if referrer is None:
            return
        request = ReferralRequest(referrer=referrer, newcomer=effect.newcomer, event=effect.event)
        handle = activity.client().get_workflow_handle(journey_id(referrer))
        try:
            await handle.execute_update(REFERRAL, request, id=f"referral-{effect.newcomer}-{effect.event}")
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # the referrer's journey ended (erased): nobody to tell
                raise
        except WorkflowUpdateFailedError as failure:
            cause = failure.cause
            # A fault applying it (JourneyFailed) is asked again: the journey is unchanged, and may take it later.
            if isinstance(cause, ApplicationError) and cause.non_retryable and cause.type != JourneyError.FAILED:
                activity.logger.warning("journey %s refused a referral: %s", referrer, cause)
                return
            raise
