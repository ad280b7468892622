"""Successful payments: kept first, then driven into the journey until it has them.

A payment is written to ``received_payments`` before anything else (its update is confirmed only after), so the
Star is never dropped. If the journey cannot answer now, the user is told their Stars are safe and VIP comes on
its own: ``PaymentDriver`` drives the payment again every ``PAYMENT_RETRY_SECONDS`` (the same Telegram update id,
so it is applied once) and shows the user their VIP when it is. A journey that refuses the payment (erased, the
plan gone) leaves it flagged for support, who apply or refund it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from adapters import received_payments
from adapters.journeys import JourneyRejected, Journeys, JourneyUnavailable
from adapters.screens import ScreenSender
from workflows.contracts import JourneyReply, JourneyRequest

log = logging.getLogger("diana.bot")


async def take_payment(journeys: Journeys, pool: asyncpg.Pool, request: JourneyRequest) -> JourneyReply | str:
    """Keep the payment, then hand it to the journey: its reply, or the locale key of what to tell the user."""
    assert request.payment is not None
    charge_id = request.payment.charge_id
    await received_payments.receive(pool, request)
    try:
        # Never opens a journey: a payment is for one that sent the invoice (a closed one refuses it).
        reply = await journeys.interact_if_started(request)
    except JourneyRejected as rejected:
        log.error("payment %s refused by journey %s (%s): kept for support", charge_id, request.user_id, rejected.kind)
        await received_payments.not_applied(pool, charge_id, f"refused by the journey: {rejected.kind}",
                                            needs_support=True)  # fmt: skip
        return "vip.payment.held"
    except JourneyUnavailable as unavailable:
        log.warning("payment %s not applied yet: %s", charge_id, unavailable.reason)
        await received_payments.not_applied(pool, charge_id, unavailable.reason, needs_support=False)
        return "vip.payment.pending"
    await received_payments.applied(pool, charge_id)
    return reply


async def apply_kept_payment(journeys: Journeys, pool: asyncpg.Pool, bot: Bot, request: JourneyRequest,
                             screens: ScreenSender) -> JourneyReply | str:  # fmt: skip
    """A kept payment handed to its journey again, away from its update: once applied, the user is shown the journey's
    answer (their VIP) in their chat."""
    outcome = await take_payment(journeys, pool, request)
    if isinstance(outcome, JourneyReply):
        with contextlib.suppress(TelegramAPIError):  # applied either way; the VIP screen shows it too
            await screens.send(bot, request.user_id, outcome.screen, outcome.language)
    return outcome


class PaymentDriver:
    """Drives the payments a journey could not take yet, until each is applied (or refused, for support)."""

    def __init__(self, journeys: Journeys, pool: asyncpg.Pool, bot: Bot, screens: ScreenSender, *,
                 every: float) -> None:  # fmt: skip
        self._journeys, self._pool, self._bot, self._every = journeys, pool, bot, every
        self._screens = screens
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drive(self) -> int:
        """One round: every waiting payment once. Returns how many were applied."""
        done = 0
        for request in await received_payments.claim_waiting(self._pool):
            done += isinstance(
                await apply_kept_payment(self._journeys, self._pool, self._bot, request, self._screens), JourneyReply
            )
        return done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.drive()
            except (asyncpg.PostgresError, OSError) as error:
                log.warning("waiting payments not driven this round: %s", error)
