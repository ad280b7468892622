"""A side effect that cannot succeed never blocks the journey.

A Telegram refusal that asking again will not change (no such channel, no rights, blocked) parks the effect for
support at once; an outage that outlasts a run is carried into the next one. Either way the journey keeps answering,
continues as new when Temporal suggests it, and is never terminated for a history grown without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters import staff
from adapters.content_version import ActiveContent
from adapters.journeys import Journeys
from infra.settings import EMULATOR_VIP_CHANNEL
from tests.conftest import start_temporal_env
from tests.helpers import eventually, new_user_id, request
from tests.telegram import control
from tools.emulator import BotAPIEmulator
from worker import journey_worker_options
from workflows.contracts import JourneyReply, JourneyState, PaymentDetails
from workflows.journey import JourneyWorkflow, journey_id

QUEUE = "side-effects"
# A channel the bot was never made an admin of: Telegram answers "chat not found".
MISCONFIGURED_CHANNEL = -100_777_000_111
# Temporal suggests a new run early, and (like production's 51,200 events, scaled down) terminates a run whose history
# grows past the hard limit: a journey stuck on one effect would reach it within the turns below.
DYNAMIC_CONFIG = ("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=120",
                  "--dynamic-config-value", "limit.historyCount.error=1500")  # fmt: skip
TURNS = 1_000


@pytest.fixture
async def bounded_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_temporal_env(*DYNAMIC_CONFIG)
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class Player:
    journeys: Journeys
    client: Client
    user_id: int
    reply: JourneyReply | None = None

    async def start(self) -> None:
        self.reply = await self.journeys.interact(request(self.user_id, "start", first_name="Olga"))
        for _ in range(3):
            await self.press("onboarding_next")

    async def press(self, action: str) -> JourneyReply:
        assert self.reply is not None
        self.reply = await self.journeys.interact(request(self.user_id, "button", action=action,
                                                          screen=self.reply.screen.seq, first_name="Olga"))  # fmt: skip
        return self.reply

    async def buy_vip(self) -> None:
        await self.press("vip")
        await self.press("buy.mensual")
        state = await self.state()
        payload = state.subscription.invoices[-1].payload
        details = PaymentDetails(payload=payload, currency="XTR", total_amount=250)
        await self.journeys.interact(request(self.user_id, "pre_checkout").model_copy(update={"payment": details}))
        paid = details.model_copy(update={"charge_id": f"stx-side-{self.user_id}", "provider_charge_id": ""})
        self.reply = await self.journeys.interact(request(self.user_id, "payment").model_copy(
            update={"payment": paid}))  # fmt: skip

    async def play_on(self, turns: int) -> None:
        for _ in range(turns // 2):
            await self.press("menu")
            await self.press("besitos")

    async def state(self) -> JourneyState:
        state: JourneyState = await self.client.get_workflow_handle(journey_id(self.user_id)).query(
            JourneyWorkflow.current_state)  # fmt: skip
        return state

    async def run_id(self) -> str:
        return (await self.client.get_workflow_handle(journey_id(self.user_id)).describe()).run_id


async def test_a_misconfigured_vip_channel_parks_the_invite_and_the_vip_plays_on_for_thousands_of_turns(
    bounded_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, emulator: BotAPIEmulator,
    active_content: ActiveContent,
) -> None:  # fmt: skip
    client = bounded_env.client
    options = journey_worker_options(pool, redis, telegram_bot, vip_channel_id=MISCONFIGURED_CHANNEL)
    async with Worker(client, task_queue=QUEUE, **options):
        player = Player(Journeys(client, QUEUE, active_content), client, new_user_id())
        await emulator.user_sends_text(player.user_id, "hola", first_name="Olga")  # the private chat exists
        await player.start()
        first_run = await player.run_id()
        await player.buy_vip()
        await player.play_on(TURNS)

        async def parked() -> JourneyState | None:
            state = await player.state()
            return state if state.parked_effects and not state.pending_effects else None

        state = await eventually(parked, within=30)
        assert state is not None
        assert state.vip and state.subscription.status == "active", "the purchase stands"
        assert [p.effect.kind for p in state.parked_effects] == ["open_vip_channel"]
        assert "chat not found" in state.parked_effects[0].reason
        assert await pool.fetchval("SELECT count(*) FROM payments WHERE telegram_user_id = $1", player.user_id) == 1
        assert await pool.fetchval("SELECT status FROM subscriptions WHERE telegram_user_id = $1",
                                   player.user_id) == "active"  # fmt: skip
        description = await client.get_workflow_handle(journey_id(player.user_id)).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING, "never terminated"
        assert description.run_id != first_run, "the journey continued as new"
        assert state.besitos > 0 and state.stage == "active"

        view = await staff.view(client, pool, player.user_id)
        shown = "\n".join(view.lines())
        assert "parked effects 1" in shown
        assert "open vip channel: " in shown
        assert "Telegram refused the VIP channel's invite: Bad Request: chat not found" in shown


async def test_an_effect_still_failing_when_a_new_run_is_due_goes_to_the_new_run(
    bounded_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, emulator: BotAPIEmulator,
    active_content: ActiveContent, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    """Telegram answers 500 to every invite link for a while: the journey continues as new with the invite pending,
    and the invite arrives once Telegram is back."""
    client = bounded_env.client
    options = journey_worker_options(pool, redis, telegram_bot, vip_channel_id=EMULATOR_VIP_CHANNEL)
    await control(http, "POST", f"{emulator.base_url}/control/faults",
                  {"count": 100_000, "error_code": 500, "methods": ["createChatInviteLink"]})  # fmt: skip
    async with Worker(client, task_queue=QUEUE, **options):
        player = Player(Journeys(client, QUEUE, active_content), client, new_user_id())
        await emulator.user_sends_text(player.user_id, "hola", first_name="Olga")
        await player.start()
        await player.buy_vip()
        run_with_the_invite = await player.run_id()
        await player.play_on(300)

        async def carried() -> JourneyState | None:
            state = await player.state()
            return state if await player.run_id() != run_with_the_invite else None

        state = await eventually(carried, within=30)
        assert state is not None
        assert [e.kind for e in state.pending_effects] == ["open_vip_channel"], "carried into the new run"
        assert state.parked_effects == []

        await control(http, "DELETE", f"{emulator.base_url}/control/faults")

        def invites() -> list[dict[str, Any]]:
            return [e for e in emulator.chats[player.user_id].transcript
                    if e["kind"] == "bot_message" and "t.me/+" in str(e)]  # fmt: skip

        async def invited() -> list[dict[str, Any]] | None:
            return invites() or None

        assert await eventually(invited, within=60)

        async def drained() -> JourneyState | None:
            state = await player.state()
            return state if not state.pending_effects else None

        final = await eventually(drained)
        assert final is not None and not final.parked_effects
        assert len(invites()) == 1
        status = (await client.get_workflow_handle(journey_id(player.user_id)).describe()).status
        assert status == WorkflowExecutionStatus.RUNNING


async def test_a_message_claimed_by_an_attempt_still_sending_is_not_sent_twice(
    pool: asyncpg.Pool, emulator: BotAPIEmulator, telegram_bot: Bot
) -> None:
    """An attempt called off for a new run may still be sending: another attempt waits for it, then sends only
    if it died without sending."""
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from activities.telegram import CLAIMED_ELSEWHERE, TelegramActivities
    from workflows.contracts import Notice, Notify, Screen

    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola")
    notify = Notify(user_id=user_id, idempotency_key=f"journey-{user_id}:notify:claimed", language="es",
                    screen=Screen(key="notify.progress", notices=[Notice(key="notice.level_up", params={"level": 4})]))  # fmt: skip
    await pool.execute("INSERT INTO notifications (idempotency_key, telegram_user_id, status) VALUES ($1, $2, "
                       "'sending')", notify.idempotency_key, user_id)  # fmt: skip
    activities = TelegramActivities(telegram_bot, pool)
    with pytest.raises(ApplicationError) as waiting:
        await ActivityEnvironment().run(activities.send_notification, notify)
    assert waiting.value.type == CLAIMED_ELSEWHERE and not waiting.value.non_retryable
    assert not [e for e in emulator.chats[user_id].transcript if e["kind"] == "bot_message"]

    # The other attempt died without sending: once its lease is over, this one sends, once.
    await pool.execute("UPDATE notifications SET claimed_at = now() - interval '1 minute' WHERE idempotency_key = $1",
                       notify.idempotency_key)  # fmt: skip
    for _ in range(2):
        await ActivityEnvironment().run(activities.send_notification, notify)
    assert len([e for e in emulator.chats[user_id].transcript if e["kind"] == "bot_message"]) == 1


async def test_bulk_sends_share_one_budget_and_telegrams_waits_across_workers(redis: Redis) -> None:
    """Two workers' pacers take from one per-second budget in Redis, and a 429 seen by one holds the other."""
    from activities.pacing import HOLD_KEY, WINDOW_KEY, Pacer, SharedPacer

    one, other = (SharedPacer(redis, rate=2, local=Pacer(1_000)) for _ in range(2))
    await asyncio.gather(*(pacer.wait() for pacer in (one, other, one, other, one)))
    windows = [int(await redis.get(key) or 0) for key in await redis.keys(WINDOW_KEY.format("*"))]
    assert sum(min(count, 2) for count in windows) == 5, "every send took one slot"
    assert len([count for count in windows if count]) >= 3, "never more than two in one second, both workers together"

    one.hold(1.0)  # Telegram told this worker to wait
    held = asyncio.create_task(one.wait())

    async def told() -> bool:
        return await redis.pttl(HOLD_KEY) > 0

    await eventually(told)
    await other.wait()
    assert await redis.pttl(HOLD_KEY) <= 0, "the other worker sent nothing while Telegram's wait lasted"
    await held


async def test_old_notification_rows_are_pruned_and_claims_in_flight_are_kept(pool: asyncpg.Pool) -> None:
    from worker.housekeeping import prune_notifications

    user_id = new_user_id()
    rows = [("old-sent", "sent", 40), ("old-refused", "undeliverable", 31), ("old-sending", "sending", 40),
            ("recent", "sent", 2)]  # fmt: skip
    for key, status, days in rows:
        await pool.execute("INSERT INTO notifications (idempotency_key, telegram_user_id, status, created_at) "
                           "VALUES ($1, $2, $3, now() - make_interval(days => $4))", key, user_id, status, days)  # fmt: skip
    assert await prune_notifications(pool) == 2
    kept = await pool.fetch("SELECT idempotency_key FROM notifications WHERE telegram_user_id = $1 ORDER BY 1", user_id)
    assert [row["idempotency_key"] for row in kept] == ["old-sending", "recent"]
