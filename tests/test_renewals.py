"""VIP that renews itself, on real servers at real lengths (a time-skipping Temporal): the monthly plan is a Telegram
Stars subscription; the emulator charges its renewals as Telegram does, and this test hands each update to the journey
the way the bot does (``bot.vip.payment_details``). Postgres must agree with the workflow, and reconciliation with
Telegram must find nothing to say."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
from aiogram import Bot
from aiogram.types import Update
from temporalio.testing import WorkflowEnvironment

from adapters.journeys import Journeys
from adapters.stars import TelegramStars, reconcile
from bot.vip import payment_details
from tests.helpers import eventually, new_user_id, request
from tests.telegram import control
from tests.test_vip import Journey, agrees_with_postgres, vip_world
from tools.emulator import BotAPIEmulator
from workflows import subscription
from workflows.contracts import JourneyReply, JourneyState

__all__ = ["vip_world"]  # the fixture, shared with the VIP tests

PERIOD = timedelta(seconds=subscription.SUBSCRIPTION_PERIOD)


class Subscriber:
    """A journey whose Telegram side is the emulator: paying the link, renewals, Stars."""

    def __init__(self, journey: Journey, bot: Bot, http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> None:
        self.journey, self.bot, self.http, self.emulator = journey, bot, http, emulator
        self.user_id = journey.user_id
        self.link = ""

    async def subscribe(self) -> JourneyReply:
        """Buy the monthly plan: its link, its pre-checkout (the journey says yes), the first charge."""
        payload = await self.journey.buy()
        invoice = self.journey.invoices()[-1]
        self.link = invoice["invoice_link"]
        assert self.emulator.payments.invoice_links[self.link].subscription_period == subscription.SUBSCRIPTION_PERIOD
        await self.journey.pre_checkout(payload)

        async def answer() -> None:  # no bot process here: the journey accepted, say yes for it
            while True:
                pending = [u for u in self.emulator.updates if "pre_checkout_query" in u]
                if pending:
                    await self.bot.answer_pre_checkout_query(pending[-1]["pre_checkout_query"]["id"], ok=True)
                    return
                await asyncio.sleep(0.05)

        answering = asyncio.create_task(answer())
        paid = await control(self.http, "POST", f"{self.emulator.base_url}/control/users/{self.user_id}/pay",
                             {"invoice_link": self.link})  # fmt: skip
        await answering
        return await self.deliver(paid["update_id"])

    async def renew(self) -> dict[str, Any]:
        """Telegram reaches the end of the period: ``{"outcome", "update_id", ...}``."""
        (outcome,) = await control(self.http, "POST",
                                   f"{self.emulator.base_url}/control/users/{self.user_id}/subscriptions/renew",
                                   {})  # fmt: skip
        return dict(outcome)

    async def deliver(self, update_id: int, *, as_update: int | None = None) -> JourneyReply:
        """The bot hands the payment of update ``update_id`` to the journey (as update ``as_update``, if given)."""
        raw = next(u for u in self.emulator.updates if u["update_id"] == update_id)
        message = Update.model_validate(raw).message
        assert message is not None and message.successful_payment is not None
        paid = request(self.user_id, "payment", first_name="Vera", update_id=as_update or update_id).model_copy(
            update={"payment": payment_details(message.successful_payment)})  # fmt: skip
        self.journey.reply = await self.journey.journeys.interact(paid)
        return self.journey.reply

    async def sleep_until(self, moment: datetime) -> None:
        now = await self.journey.now()
        if moment > now:
            await self.journey.env.fast_forward(self.journey.handle, moment - now)

    def expiration(self) -> datetime:
        (sub,) = [s for s in self.emulator.payments.subscriptions.values() if s.user_id == self.user_id]
        return datetime.fromtimestamp(sub.expiration_date, UTC)


async def settled_state(journey: Journey, pool: asyncpg.Pool) -> JourneyState:
    return await agrees_with_postgres(journey, pool)


async def test_subscribe_three_renewals_cancel_vip_to_the_end_grace_and_expiry(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
    http: aiohttp.ClientSession, telegram_bot: Bot,
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    fan = Subscriber(journey, telegram_bot, http, emulator)
    welcome = await fan.subscribe()
    assert welcome.screen.key == "vip.welcome"
    state = await settled_state(journey, pool)
    assert state.vip and state.subscription.renews and state.subscription.expires_at == fan.expiration()
    first_charge = state.subscription.renewal_charge_id
    assert first_charge == state.subscription.charges[0].charge_id
    assert (await journey.press("vip")).screen.key == "vip.menu.active.renews"

    for n in (1, 2, 3):
        ends = fan.expiration()
        await fan.sleep_until(ends - timedelta(minutes=5))
        renewal = await fan.renew()
        assert renewal["outcome"] == "renewed"
        renewed = await fan.deliver(renewal["update_id"])
        assert renewed.screen.key == "vip.renewed"
        state = await settled_state(journey, pool)
        assert state.subscription.status == "active" and state.subscription.expires_at == ends + PERIOD
        assert len(state.subscription.charges) == n + 1
    assert not journey.messages("termina en"), "no reminders while it renews on its own"
    assert not journey.messages("venció"), "never in grace between renewals"

    # Cancel: Telegram is told; VIP lasts to the end of the period paid, then grace and expiry as for any plan.
    await journey.press("vip")
    canceled = await journey.press(subscription.CANCEL_RENEWAL)
    assert canceled.screen.key == "vip.menu.active.ends"
    assert any(b.action == subscription.RESUME_RENEWAL for row in canceled.screen.buttons for b in row)

    async def canceled_at_telegram() -> bool:
        return all(s.canceled for s in emulator.payments.subscriptions.values() if s.user_id == journey.user_id)

    assert await eventually(canceled_at_telegram, within=30)
    ends = fan.expiration()
    await fan.sleep_until(ends - timedelta(days=1, minutes=-1))
    assert (await journey.state()).vip
    assert await eventually(lambda: _some(journey.messages("termina en")), within=30), "reminded once canceled"
    assert (await fan.renew())["outcome"] == "canceled", "Telegram charges nothing more"
    await fan.sleep_until(ends + timedelta(minutes=1))
    state = await settled_state(journey, pool)
    assert state.subscription.status == "grace" and state.vip
    await fan.sleep_until(ends + timedelta(days=3, minutes=1))
    state = await settled_state(journey, pool)
    assert state.subscription.status == "expired" and not state.vip and not state.subscription.renews
    assert await reconcile(pool, TelegramStars(telegram_bot)) == []
    assert first_charge in {t["id"] for t in emulator.payments.transactions}, (
        "Telegram lists the subscription's charges"
    )


async def test_a_renewal_without_enough_stars_lapses_into_grace_and_expiry(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
    http: aiohttp.ClientSession, telegram_bot: Bot,
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    fan = Subscriber(journey, telegram_bot, http, emulator)
    await fan.subscribe()
    ends = fan.expiration()
    await control(http, "POST", f"{emulator.base_url}/control/users/{journey.user_id}/stars", {"balance": 10})
    await fan.sleep_until(ends - timedelta(minutes=5))
    failed = await fan.renew()
    assert failed["outcome"] == "insufficient_stars" and failed["update_id"] is None
    await fan.sleep_until(ends + subscription.RENEWAL_WAIT + timedelta(minutes=1))
    state = await settled_state(journey, pool)
    assert state.subscription.status == "grace" and state.vip
    assert await eventually(lambda: _some(journey.messages("venció")), within=30)
    await fan.sleep_until(ends + timedelta(days=3, minutes=1))
    state = await settled_state(journey, pool)
    assert state.subscription.status == "expired" and not state.vip
    assert len(state.subscription.charges) == 1
    assert (await journey.press("vip")).screen.key == "vip.menu.expired"
    assert await reconcile(pool, TelegramStars(telegram_bot)) == []


async def test_a_renewal_charge_delivered_twice_is_applied_once(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
    http: aiohttp.ClientSession, telegram_bot: Bot,
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    fan = Subscriber(journey, telegram_bot, http, emulator)
    await fan.subscribe()
    ends = fan.expiration()
    await fan.sleep_until(ends - timedelta(minutes=5))
    renewal = await fan.renew()
    await fan.deliver(renewal["update_id"])
    await fan.deliver(renewal["update_id"])  # the same update again
    await fan.deliver(renewal["update_id"], as_update=renewal["update_id"] + 10_000)  # the same charge, a new update
    state = await settled_state(journey, pool)
    assert len(state.subscription.charges) == 2 and state.subscription.expires_at == ends + PERIOD
    rows = await pool.fetch("SELECT charge_id FROM payments WHERE telegram_user_id = $1", journey.user_id)
    assert sorted(r["charge_id"] for r in rows) == sorted(c.charge_id for c in state.subscription.charges)
    assert await reconcile(pool, TelegramStars(telegram_bot)) == []


async def _some(found: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return found or None
