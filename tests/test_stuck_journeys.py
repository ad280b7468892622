"""One stuck journey must not stop everyone: a journey whose every workflow task fails, through the real bot.

Before deadlines, the bot waited on such a journey forever: polling kept its offset at that update, and once
100 later updates had come in it fetched no more (every user, admins included, went unanswered); a webhook held
the request open. Now the stuck user is told to try again within the deadline, the update is kept for support
(``dead_letters``) and re-driven once the journey is healthy, and everyone else is answered meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from adapters.texts import t
from tests import hermetic
from tests.bot_process import BotProcesses, bots_fixture  # noqa: F401 -- the fixture
from tests.helpers import eventually, new_user_id, settled, webhook_environment
from tests.telegram import EmulatedUser, onboard, pay_invoice, redeliver, vip_invoice
from tests.test_end_to_end import bot_environment
from tools import support
from tools.emulator import BotAPIEmulator
from worker import journey_worker_options

OTHERS = 50
DEADLINE = "3"


class _PoisonedJourney(WorkflowInboundInterceptor):
    """Every Update of one journey (of some kinds only, if given) fails its workflow task, as a bad deploy or a
    corrupt state would."""

    poisoned: set[str] = set()
    kinds: frozenset[str] | None = None

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        kind = getattr(input.args[0], "kind", None) if input.args else None
        if workflow.info().workflow_id in self.poisoned and (self.kinds is None or kind in self.kinds):
            raise RuntimeError("this journey's workflow task fails, every time")
        return await super().handle_update_handler(input)


class _Poison(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _PoisonedJourney


@asynccontextmanager
async def worker_poisoning(client: Client, task_queue: str, pool: asyncpg.Pool, redis: Redis, bot: Bot,
                           user_id: int, kinds: frozenset[str] | None = None) -> AsyncIterator[Worker]:  # fmt: skip
    """A worker on which ``user_id``'s journey fails every workflow task of an Update (of ``kinds``)."""
    options = journey_worker_options(pool, redis, bot, sandboxed=False)
    options["interceptors"] = [*options["interceptors"], _Poison()]
    _PoisonedJourney.poisoned, _PoisonedJourney.kinds = {f"journey-{user_id}"}, kinds
    try:
        async with Worker(client, task_queue=task_queue, **options) as running:
            yield running
    finally:
        _PoisonedJourney.poisoned, _PoisonedJourney.kinds = set(), None


async def _nothing_waits(emulator: BotAPIEmulator) -> bool:
    return not emulator.updates


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_journey_failing_every_task_holds_up_no_one_and_its_update_is_kept_and_redriven(
    mode: str, client: Client, temporal_env: WorkflowEnvironment, task_queue: str, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, database: str,
    redis_server: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    stuck = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Nadia")
    others = [EmulatedUser(http, emulator.base_url, new_user_id()) for _ in range(OTHERS)]
    extra = {"JOURNEY_DEADLINE_SECONDS": DEADLINE, **(webhook_environment() if mode == "webhook" else {})}
    try:
        async with worker_poisoning(client, task_queue, pool, redis, telegram_bot, stuck.user_id):
            bots.start(database, redis_server, **extra)
            sent = await stuck.send("/start")
            # 50 users through the whole introduction: 200 updates behind the stuck one, twice polling's window.
            menus = await asyncio.gather(*(onboard(user) for user in others))
            assert all("Bienvenido a mi mundo" in menu["text"] for menu in menus)
            refusal = await stuck.next_from_bot("bot_message", within=60)
            assert refusal["text"] == t("reject.unavailable")

            async def kept() -> list[asyncpg.Record]:
                return [row for row in await support.dead_letters(pool) if row["update_id"] == sent["update_id"]]

            letters = await eventually(kept, within=30)
            assert letters[0]["telegram_user_id"] == stuck.user_id
            assert "did not answer" in letters[0]["error"] or "could not apply" in letters[0]["error"]
            # Nothing waits at Telegram: every update was taken and confirmed (polling confirms with its next call).
            await eventually(lambda: _nothing_waits(emulator), within=30)

        # The journey is healthy again (a fixed deploy): support re-drives the kept update; Nadia meets Diana.
        async with Worker(client, task_queue=task_queue, **journey_worker_options(pool, redis, telegram_bot)):
            env = bot_environment(emulator, temporal_env, task_queue, database, redis_server)
            redriven = await asyncio.to_thread(
                hermetic.run_diana, ["-m", "tools.support_cli", "redrive", str(letters[0]["id"]),
                                     "--reason", "the journey was fixed"], env, capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
            assert redriven.returncode == 0, redriven.stderr
            assert "re-driven and handled" in redriven.stdout
            welcome = await stuck.next_from_bot("bot_message", within=60)
            assert "Diana" in welcome["text"] and welcome["buttons"]
            state = await settled(client, stuck.user_id, within=30)
            assert state.stage == "onboarding" and state.screen_seq == 1, "applied once"
            assert not await support.dead_letters(pool)
    finally:
        emulator.webhook = None  # the next tests' bots poll


async def test_a_payment_the_journey_cannot_take_now_gives_vip_exactly_once_when_it_can(
    client: Client, task_queue: str, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, database: str,
    redis_server: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    """The Stars moved while the journey could not answer (no worker for it, a failing task): the payment is kept
    before its update is confirmed, the fan is told their Stars are safe, and VIP comes on its own, once."""
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    async with worker_poisoning(client, task_queue, pool, redis, telegram_bot, fan.user_id, frozenset({"payment"})):
        bots.start(database, redis_server, JOURNEY_DEADLINE_SECONDS=DEADLINE, PAYMENT_RETRY_SECONDS="1")
        invoice = await vip_invoice(fan, await onboard(fan))
        paid = await pay_invoice(fan, invoice)
        assert paid["ok"], paid
        await fan.next_saying(t("vip.payment.pending")[:30], within=60)
        row = await pool.fetchrow("SELECT * FROM received_payments WHERE charge_id = $1",
                                  paid["telegram_payment_charge_id"])  # fmt: skip
        assert row is not None and row["applied_at"] is None and not row["needs_support"]
        # The payment's update is confirmed (by the bot's next poll): the payment is kept in Postgres, not at Telegram.
        await eventually(lambda: _nothing_waits(emulator), within=30)
    # The journey can take it again: the bot drives the kept payment in, and the fan is welcomed to VIP.
    async with Worker(client, task_queue=task_queue, **journey_worker_options(pool, redis, telegram_bot)):
        await fan.next_saying("círculo íntimo", within=60)
        state = await settled(client, fan.user_id, within=30)
        assert state.vip and [c.charge_id for c in state.subscription.charges] == [paid["telegram_payment_charge_id"]]
        assert await pool.fetchval("SELECT applied_at IS NOT NULL FROM received_payments WHERE charge_id = $1",
                                   paid["telegram_payment_charge_id"])  # fmt: skip
        assert await pool.fetchval("SELECT count(*) FROM payments WHERE telegram_user_id = $1", fan.user_id) == 1
        # Telegram delivers the payment again: still one charge, one month.
        await redeliver(http, emulator.base_url, paid["update_id"])
        await fan.next_from_bot("bot_message", within=60)
        again = await settled(client, fan.user_id, within=30)
        assert again.subscription.charges == state.subscription.charges
        assert again.subscription.expires_at == state.subscription.expires_at
