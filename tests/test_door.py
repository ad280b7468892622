"""The free channels' door: its rules, approvals that outlive a worker restart on a time-skipping server, and a worker
killed (SIGKILL) while approving: every request approved once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters import door
from infra.settings import EMULATOR_COMMUNITY_CHANNEL, EMULATOR_VIP_CHANNEL, Settings
from tests import test_worker_restart
from tests.helpers import eventually, new_user_id
from tests.telegram import failed_call
from tests.test_worker_restart import WorkerStarter, kill
from tools.emulator import BotAPIEmulator
from tools.emulator.markup import BadRequest
from worker import journey_worker_options
from workflows.door_contracts import DoorInput, DoorResult
from workflows.door_rules import door_id, message_key, parse_delay_minutes, parse_door_id, time_left

QUEUE = "door"
start_worker = test_worker_restart.start_worker  # the fixture: ``diana worker`` processes, killed at the end


def test_delay_minutes_are_whole_minutes_from_0_to_24_hours() -> None:
    assert [parse_delay_minutes(text) for text in ("0", " 15 ", "1440")] == [0, 15, 1440]
    for bad in (None, "", "1441", "-5", "5m", "1.5", "diez", "99999999"):
        assert parse_delay_minutes(bad) is None, bad


def test_door_ids_name_the_channel_and_the_user() -> None:
    assert parse_door_id(door_id(-1001000000001, 42)) == (-1001000000001, 42)
    assert parse_door_id("journey-42") is None
    at = datetime(2026, 12, 5, 12, tzinfo=UTC)
    assert message_key(-1, 42, at, "wait") != message_key(-1, 42, at, "welcome")


def test_the_delay_counts_from_the_request() -> None:
    at = datetime(2026, 12, 5, 12, tzinfo=UTC)
    assert time_left(at, timedelta(minutes=5), at + timedelta(minutes=2)) == timedelta(minutes=3)
    assert time_left(at, timedelta(minutes=5), at + timedelta(hours=1)) == timedelta(0)


def test_free_channels_default_to_the_community_and_never_the_vip_channel() -> None:
    assert Settings(_env_file=None).free_channel_ids == frozenset({EMULATOR_COMMUNITY_CHANNEL})
    settings = Settings(_env_file=None, FREE_CHANNEL_IDS=f"-1005, {EMULATOR_VIP_CHANNEL}")
    assert settings.free_channel_ids == frozenset({-1005})


async def test_the_emulator_lets_a_user_withdraw_a_request_as_telegram_does(
    emulator: BotAPIEmulator, telegram_bot: Bot,
) -> None:  # fmt: skip
    link = await telegram_bot.create_chat_invite_link(EMULATOR_COMMUNITY_CHANNEL, creates_join_request=True)
    user_id = new_user_id()
    await emulator.user_joins(user_id, EMULATOR_COMMUNITY_CHANNEL, link.invite_link, first_name="Sol")
    assert await emulator.access.withdraw(user_id, EMULATOR_COMMUNITY_CHANNEL) == {"status": "left"}
    with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
        await telegram_bot.approve_chat_join_request(EMULATOR_COMMUNITY_CHANNEL, user_id)
    with pytest.raises(BadRequest):
        await emulator.access.withdraw(user_id, EMULATOR_COMMUNITY_CHANNEL)
    kinds = [entry["kind"] for entry in emulator.chats[EMULATOR_COMMUNITY_CHANNEL].transcript
             if entry.get("user_id") == user_id]  # fmt: skip
    assert kinds == ["user_join_request", "user_withdraw_join_request"]


def approvals(emulator: BotAPIEmulator, chat_id: int, user_id: int) -> list[dict[str, Any]]:
    return [entry for entry in emulator.chats[chat_id].transcript
            if entry["kind"] == "bot_approve_join_request" and entry["user_id"] == user_id]  # fmt: skip


def saying(emulator: BotAPIEmulator, user_id: int, text: str) -> list[dict[str, Any]]:
    chat = emulator.chats.get(user_id)
    return [entry for entry in (chat.transcript if chat else [])
            if entry["kind"] == "bot_message" and text in str(entry["text"])]  # fmt: skip


async def test_approvals_survive_a_worker_restart_and_none_happens_twice(
    skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, emulator: BotAPIEmulator,
) -> None:  # fmt: skip
    env = skipping_env
    link = await telegram_bot.create_chat_invite_link(EMULATOR_COMMUNITY_CHANNEL, creates_join_request=True)
    users = [new_user_id() for _ in range(3)]
    for user_id in users:
        joined = await emulator.user_joins(user_id, EMULATOR_COMMUNITY_CHANNEL, link.invite_link, first_name="Sol")
        assert joined["status"] == "pending"
    now = datetime.now(UTC)
    requests = [DoorInput(chat_id=EMULATOR_COMMUNITY_CHANNEL, user_id=user_id, channel_title="Diana · Comunidad",
                          delay_seconds=2 * 3600, requested_at=now) for user_id in users]  # fmt: skip

    # The first worker sends each wait message; the requests wait on their timers (a redelivered request starts
    # nothing new).
    async with Worker(env.client, task_queue=QUEUE, **journey_worker_options(pool, redis, telegram_bot)):
        with env.with_time_skipping_disabled():
            for request in requests * 2:
                await door.open_door(env.client, QUEUE, request)
        for user_id in users:
            await eventually(lambda user_id=user_id: _async(saying(emulator, user_id, "Espérame un poco")), within=30)  # type: ignore[misc]
        handles = [
            env.client.get_workflow_handle(door_id(EMULATOR_COMMUNITY_CHANNEL, user_id), result_type=DoorResult)
            for user_id in users
        ]
        for handle in handles:  # half of the wait passes under this worker
            await asyncio.wait_for(env.fast_forward(handle, timedelta(hours=1)), 60)
        assert {p.user_id for p in await door.pending_requests(env.client, QUEUE)} <= set(users)
    assert not any(approvals(emulator, EMULATOR_COMMUNITY_CHANNEL, user_id) for user_id in users)

    # A new worker (the timers are Temporal's, not a process's): the rest of the wait passes, and each request is
    # approved once and each user welcomed once; asked again, nothing repeats.
    async with Worker(env.client, task_queue=QUEUE, **journey_worker_options(pool, redis, telegram_bot)):
        for handle in handles:
            await asyncio.wait_for(env.fast_forward(handle, timedelta(hours=1, minutes=1)), 60)
        results = [await asyncio.wait_for(handle.result(), 60) for handle in handles]
        assert [result.outcome for result in results] == ["approved"] * 3
        with env.with_time_skipping_disabled():
            await door.open_door(env.client, QUEUE, requests[0])  # Telegram redelivers the first request: a new run
        again = env.client.get_workflow_handle(handles[0].id, result_type=DoorResult)
        await asyncio.wait_for(env.fast_forward(again, timedelta(hours=2, minutes=1)), 60)
        assert (await asyncio.wait_for(again.result(), 60)).outcome == "approved"
    for user_id in users:
        assert len(approvals(emulator, EMULATOR_COMMUNITY_CHANNEL, user_id)) == 1
        assert len(saying(emulator, user_id, "Espérame un poco")) == 1
        assert len(saying(emulator, user_id, "Ya estás dentro")) == 1
        assert emulator.access.status(emulator.chats[EMULATOR_COMMUNITY_CHANNEL], user_id) == "member"
    calls = [call for call in emulator.calls if call["method"] == "approveChatJoinRequest" and call["ok"]]
    assert len(calls) == 3


async def test_a_worker_killed_while_approving_approves_each_request_once(
    start_worker: WorkerStarter, client: Client, task_queue: str, emulator: BotAPIEmulator, telegram_bot: Bot,
    http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    link = await telegram_bot.create_chat_invite_link(EMULATOR_COMMUNITY_CHANNEL, creates_join_request=True)
    users = [new_user_id() for _ in range(2)]
    for user_id in users:
        await emulator.user_joins(user_id, EMULATOR_COMMUNITY_CHANNEL, link.invite_link, first_name="Vera")
    # Telegram fails every approval for now: the worker is killed while retrying them.
    async with http.post(f"{emulator.base_url}/control/faults", json={"count": 10_000, "error_code": 502,
                         "methods": ["approveChatJoinRequest"]}) as response:  # fmt: skip
        assert (await response.json())["ok"]
    first = start_worker()
    now = datetime.now(UTC)
    for user_id in users:
        await door.open_door(client, task_queue, DoorInput(chat_id=EMULATOR_COMMUNITY_CHANNEL, user_id=user_id,
                                                           delay_seconds=1, requested_at=now))  # fmt: skip
    await eventually(lambda: failed_call(http, emulator.base_url, "approveChatJoinRequest", 502), within=60)
    await kill(first)
    async with http.delete(f"{emulator.base_url}/control/faults") as response:
        assert (await response.json())["ok"]

    start_worker()
    for user_id in users:
        handle = client.get_workflow_handle(door_id(EMULATOR_COMMUNITY_CHANNEL, user_id), result_type=DoorResult)
        assert (await asyncio.wait_for(handle.result(), 90)).outcome == "approved"
        assert len(approvals(emulator, EMULATOR_COMMUNITY_CHANNEL, user_id)) == 1
        assert len(saying(emulator, user_id, "Espérame un momento")) == 1
        assert len(saying(emulator, user_id, "Ya estás dentro")) == 1


async def _async(value: Any) -> Any:
    return value


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FREE_CHANNEL_IDS", raising=False)
