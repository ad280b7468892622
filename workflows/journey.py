"""The journey workflow: one per Telegram user (``journey-<telegram_user_id>``), a thin shell around the rules.

Each Telegram update is an Update (its id is Telegram's ``update_id``), and a turn reads as the process: accept
(the validator refuses bad input before it enters the history) → decide (the pure rules, on the content version
the request names) → queue (in the outbox, ``workflows.outbox``) → carry out (the main loop, as activities).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from opentelemetry import context as tracing

    from workflows import referrals, rules, shop, support, wallet
    from workflows.content import Content
    from workflows.contracts import (
        Effect,
        JourneyError,
        JourneyInput,
        JourneyReply,
        JourneyRequest,
        JourneyState,
        MessageRefusal,
        Notify,
        PassRedemption,
        RedeemPass,
        ReleaseStock,
        StockClaim,
        StockClaimed,
        SupportReply,
        SupportRequest,
        WalletReply,
        WalletRequest,
    )
    from workflows.outbox import ACTIVITY_TIMEOUT, Outbox
    from workflows.referral_contracts import Invitation, ReferralReply, ReferralRequest, ResolveReferral
    from workflows.search_attributes import JourneyPublisher
    from workflows.side_effects import Payments, Referrals, Shop
    from workflows.timer import Timer
    from workflows.update_failures import contained, refused_as_update_failure

# Stored content versions never change: read from the worker's library (``worker.content_library``), not histories.
CONTENT_OF: Final = "diana.content_of"
PASS_RETRY: Final = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)
ENDED: Final = ("erased", "lapsed")


def journey_id(user_id: int) -> str:
    return f"journey-{user_id}"


@workflow.defn(name="Journey")
class JourneyWorkflow:
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        state = input.state or JourneyState(user_id=input.user_id, opened_at=workflow.now())
        # The outbox owns the effects in flight; the state the rules see and copy carries none.
        self.outbox = Outbox(state.user_id, state.pending_effects, state.parked_effects, state.parked_dropped,
                             refused=self._refused)  # fmt: skip
        self.state = state.model_copy(update={"pending_effects": [], "parked_effects": []})
        self.content: Content | None = None
        self.publisher = JourneyPublisher()
        self.alarm = Timer("reminder or VIP expiry")
        self._lock = asyncio.Lock()
        # Updates accepted and not yet handled: read by validators only (not run on replay), it steers no command.
        self._accepted: set[str] = set()

    @workflow.run
    async def run(self, input: JourneyInput) -> str:
        """Lives as long as its user: returns only when the journey ends, saying how ("erased", "lapsed")."""
        own_trace = tracing.get_current()
        # Held by the run: a task nobody references may be collected while it waits.
        self._publishing = asyncio.create_task(self.publisher.keep_current(lambda: self.state))
        while True:
            tracing.attach(own_trace)
            await self._wait_for_work()
            await self.outbox.carry_out(stop=self._should_continue_as_new)
            if self.state.stage in ENDED and not self.outbox:
                # Forgotten (their wish, or an introduction left unfinished): the data is gone, the journey ends here.
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.state.stage
            if self._should_continue_as_new():
                # Handlers never continue-as-new themselves; wait until they are all done.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(JourneyInput(user_id=self.state.user_id, state=self.current_state()))

    @workflow.update(name="Interact")
    async def interact(self, request: JourneyRequest) -> JourneyReply:
        """Apply one Telegram update and return the screen to show."""
        async with self._turn():
            content = self._content_for(request.content_version)
            duplicate = rules.is_duplicate(self.state, request)
            redeeming = request.kind == "redeem" and not duplicate
            redemption = await self._redeem_pass(request, content) if redeeming else None
            claim = await self._claim_stock(request, content) if not duplicate else None
            invitation = await self._invitation(request) if not duplicate else None
            if request.kind == "button" and request.action == referrals.OPEN and not self.state.referral.code:
                self.state.referral.code = referrals.new_code(workflow.random().random())
            # Validators are skipped on replay and for updates re-applied after a reset: the rules check again.
            try:
                with refused_as_update_failure():
                    decision = rules.decide(self.state, request, workflow.now(), content, redemption, claim,
                                           invitation)  # fmt: skip
            except Exception:
                if claim is not None and claim.claimed:  # refused after all: the unit goes back on the shelf
                    self.outbox.queue([ReleaseStock(claim_id=claim.claim_id)])
                raise
            if duplicate:
                return JourneyReply(screen=decision.screen, language=self.state.language, duplicate=True)
            self._accept(decision.state, decision.effects)
            return JourneyReply(screen=decision.screen, language=self.state.language, toast=decision.toast)

    @interact.validator
    def validate_interact(self, request: JourneyRequest) -> None:
        """Reject bad input before it enters the history: nothing changes."""
        loaded = self.content if self.state.content_version >= request.content_version else None
        with refused_as_update_failure():
            if not self._accepted:
                rules.validate(self.state, request, loaded)
            else:
                # Updates ahead of this one (two at once, or re-applied after a reset) will change the state it
                # meets: only what holds in any state is checked here, the handler checks the rest in turn.
                rules.validate_shape(self.state.user_id, request)
        self._accepted.add(_update_id())

    @workflow.update(name="Support")
    async def support(self, request: SupportRequest) -> SupportReply:
        """A change made by staff (a refund, a grant, a ban...): applied once per ``request_id``, audited by the caller."""
        async with self._turn():
            with refused_as_update_failure():
                outcome = support.apply(self.state, request, workflow.now(), self._content_for(request.content_version))
            if outcome.duplicate:
                return SupportReply(ok=True, message=outcome.message, duplicate=True)
            self._accept(outcome.state, outcome.effects)
            return SupportReply(ok=True, message=outcome.message)

    @support.validator
    def validate_support(self, request: SupportRequest) -> None:
        if not self._accepted:  # otherwise checked by the handler in turn, as above
            with refused_as_update_failure():
                support.validate(self.state, request)
        self._accepted.add(_update_id())

    @workflow.update(name="Wallet")
    async def wallet(self, request: WalletRequest) -> WalletReply:
        """An auction holds, lets go of or takes this user's besitos: applied once per ``request_id``."""
        async with self._turn():
            if request.user_id != self.state.user_id:
                raise ApplicationError("this journey belongs to another user", type=JourneyError.FOREIGN_USER,
                                       non_retryable=True)  # fmt: skip
            if self.state.stage in ENDED or self.state.content_version == 0:
                return WalletReply(ok=False, refusal="closed")
            with refused_as_update_failure():  # a fault fails this Update, never the journey's workflow task
                outcome = wallet.apply(self.state, request, workflow.now(), self._content_for(0))
            if not outcome.reply.duplicate:
                self._accept(outcome.state, outcome.effects)
            return outcome.reply

    @workflow.update(name="Referral")
    async def referral(self, request: ReferralRequest) -> ReferralReply:
        """A newcomer this user invited joined, finished the introduction or paid: applied once per (newcomer, event)."""
        async with self._turn():
            if request.referrer != self.state.user_id:
                raise ApplicationError("this journey belongs to another user", type=JourneyError.FOREIGN_USER,
                                       non_retryable=True)  # fmt: skip
            if self.state.stage in ENDED or self.state.content_version == 0:
                return ReferralReply(ok=False)
            with refused_as_update_failure():
                outcome = referrals.apply(self.state, request, workflow.now(), self._content_for(0))
            if not outcome.reply.duplicate:
                effects = outcome.effects
                if effects and outcome.state.profile is not None:  # the profile row follows every award
                    effects = [rules.save_profile(outcome.state, workflow.now()), *effects]
                self._accept(outcome.state, effects)
            return outcome.reply

    @workflow.query(name="State")
    def current_state(self) -> JourneyState:
        return self.state.model_copy(update={"pending_effects": self.outbox.effects,
                                             "parked_effects": list(self.outbox.parked),
                                             "parked_dropped": self.outbox.dropped})  # fmt: skip

    def _refused(self, effect: Effect, why: str | None) -> None:
        if isinstance(effect, Notify):  # Telegram's "blocked" answers stop the daily reminders
            rules.message_refused(self.state, blocked=why == MessageRefusal.BLOCKED)

    def _accept(self, state: JourneyState, effects: list[Effect]) -> None:
        self.state = state
        self.outbox.queue(effects)
        self.publisher.state_changed()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """One handler at a time (a pass is claimed by an activity inside a turn); then no longer 'accepted'."""
        try:
            async with self._lock:
                yield
        finally:
            self._accepted.discard(_update_id())

    async def _wait_for_work(self) -> None:
        """Until there are effects to carry out, a new run is due, or the alarm rings."""
        due = None
        with contained("the alarm"):  # a reminder, a VIP event, or the end of an introduction left unfinished
            content = self._content_for(0) if self.state.content_version else None
            due = rules.next_alarm(self.state, content, workflow.now())
        self.alarm.set(due)
        await workflow.wait_condition(lambda: self._has_work() or self.alarm.rang)
        if self.alarm.take():
            with contained("the alarm"):
                self._accept(self.state, rules.alarm(self.state, self.content, workflow.now()))

    def _has_work(self) -> bool:
        return bool(self.outbox) or self._should_continue_as_new() or self.state.stage in ENDED

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    def _content_for(self, requested: int) -> Content:
        """The content version to play: the newest one seen, read once per run (never an older one)."""
        version = max(requested, self.state.content_version)
        if version == 0:
            raise ApplicationError("no content version is active", type=JourneyError.CONTENT_UNAVAILABLE,
                                   non_retryable=True)  # fmt: skip
        if self.content is None or self.state.content_version != version:
            try:  # a version the worker cannot read *now* fails this workflow task, which Temporal retries
                self.content = workflow.extern_functions()[CONTENT_OF](version)
                self.state.content_version = version
            except ApplicationError:  # one it can never read (gone, or refused by today's schema)
                if self.content is None:
                    raise  # refuses the update as unavailable
        return self.content  # the newest version it could read

    async def _claim_stock(self, request: JourneyRequest, content: Content) -> StockClaimed | None:
        """A limited item's unit, claimed in Postgres for this purchase (atomically across all users) before the rules
        charge for it; none is claimed for a purchase the rules would refuse anyway."""
        item = shop.buying(request.action, content) if request.kind == "button" else None
        if item is None:
            return None
        with refused_as_update_failure():
            rules.validate(self.state, request, content)
        if shop.refusal(self.state, item, workflow.now()) is not None:
            return None
        assert item.stock is not None
        claim = StockClaim(claim_id=shop.claim_id(self.state, request.delivery), item=item.code, stock=item.stock,
                           user_id=self.state.user_id, at=workflow.now())  # fmt: skip
        return await workflow.execute_activity_method(
            Shop.claim_stock, claim, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=PASS_RETRY,
            summary=f"claim one {item.code} for journey {self.state.user_id}",
        )  # fmt: skip

    async def _invitation(self, request: JourneyRequest) -> Invitation | None:
        """The valid invitation a new journey's /start carries (``None``: none, not new, no such code, their own)."""
        if request.kind != "start" or not referrals.is_code(request.action) or self.state.stage != "new":
            return None
        resolved = await workflow.execute_activity_method(
            Referrals.resolve_referral_code, ResolveReferral(code=request.action, newcomer=self.state.user_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=PASS_RETRY,
            summary=f"check the invitation that brought journey {self.state.user_id}",
        )  # fmt: skip
        if not resolved.valid:
            return None
        return Invitation(code=request.action, token=referrals.new_code(workflow.random().random()))

    async def _redeem_pass(self, request: JourneyRequest, content: Content) -> PassRedemption:
        """Claim a VIP pass in Postgres (one use, expiring); the claim is the user's even if this task is retried."""
        with refused_as_update_failure():
            rules.validate(self.state, request, content)
        return await workflow.execute_activity_method(
            Payments.redeem_vip_pass, RedeemPass(token=request.action, user_id=self.state.user_id, at=workflow.now()),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=PASS_RETRY,
            summary=f"redeem a VIP pass for journey {self.state.user_id}",
        )  # fmt: skip


def _update_id() -> str:
    return workflow.current_update_info().id  # type: ignore[union-attr]  # only called inside an update
