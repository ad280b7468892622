"""The free channel's door through the real bot process and the emulator: the wait message with Diana's links, the
approval after the delay and the welcome; a blocked user approved in silence; a withdrawn request and a banned user
not approved; the admin's delay, list and "approve all now"."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters import door, staff
from infra.settings import EMULATOR_COMMUNITY_CHANNEL
from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, onboard, redeliver
from tests.test_end_to_end import bot_environment, running_bot
from tools.emulator import BotAPIEmulator
from workflows.door_contracts import DoorResult
from workflows.door_rules import DEFAULT_DELAY, door_id

ADMIN = 4_000_021
CHANNEL = EMULATOR_COMMUNITY_CHANNEL


@pytest.fixture
async def door_bot(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, ADMIN_IDS=str(ADMIN),
                          FREE_CHANNEL_IDS=str(CHANNEL))  # fmt: skip
    async with running_bot(env) as process:
        yield process


@pytest.fixture
async def request_link(telegram_bot: Bot) -> str:
    """The free channel's link that makes join requests (as the creator shares it)."""
    link = await telegram_bot.create_chat_invite_link(CHANNEL, name="Puerta", creates_join_request=True)
    return link.invite_link


async def set_delay_seconds(pool: asyncpg.Pool, seconds: int) -> None:
    """A delay shorter than the admin's whole minutes, for the test's sake."""
    await door.set_door_delay(pool, timedelta(seconds=seconds), ADMIN)


def channel_entries(emulator: BotAPIEmulator, kind: str, user_id: int) -> list[dict[str, object]]:
    return [entry for entry in emulator.chats[CHANNEL].transcript
            if entry["kind"] == kind and entry["user_id"] == user_id]  # fmt: skip


async def outcome(client: Client, user_id: int) -> DoorResult:
    """How the user's request ended, once the bot has started its door and the door has closed."""
    handle = client.get_workflow_handle(door_id(CHANNEL, user_id), result_type=DoorResult)

    async def started() -> bool:
        try:
            await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    await eventually(started, within=30)
    return await asyncio.wait_for(handle.result(), 60)


async def test_a_request_gets_the_wait_message_then_the_approval_after_the_delay_and_a_welcome(
    door_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client, request_link: str,
) -> None:  # fmt: skip
    await set_delay_seconds(pool, 4)
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    asked = await fan.join(CHANNEL, invite_link=request_link)
    assert asked["status"] == "pending"
    started = asyncio.get_running_loop().time()

    wait = await fan.next_saying("Espérame un momento")
    assert "Diana · Comunidad" in wait["text"]
    urls = [button["url"] for row in wait["buttons"] for button in row]
    assert urls == ["https://www.instagram.com/diana.secretos", "https://www.tiktok.com/@diana.secretos"]
    await redeliver(http, emulator.base_url, asked["update_id"])  # Telegram sends the request again

    welcome = await fan.next_saying("Ya estás dentro", within=60)
    # Telegram dates a request in whole seconds: the delay counts from up to a second before the join returned.
    assert asyncio.get_running_loop().time() - started >= 3
    assert "Diana · Comunidad" in welcome["text"]
    assert (await outcome(client, fan.user_id)).outcome == "approved"
    assert len(channel_entries(emulator, "bot_approve_join_request", fan.user_id)) == 1
    assert emulator.access.status(emulator.chats[CHANNEL], fan.user_id) == "member"
    said = [entry for entry in await fan.transcript() if entry["kind"] == "bot_message"]
    assert len(said) == 2, said


async def test_a_user_who_blocked_the_bot_is_approved_without_messages(
    door_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client, request_link: str,
) -> None:  # fmt: skip
    await set_delay_seconds(pool, 1)
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Eco")
    await fan.send("/start")
    await fan.next_from_bot("bot_message", within=60)
    await http.post(f"{emulator.base_url}/control/users/{fan.user_id}/block")
    before = len(await fan.transcript())
    assert (await fan.join(CHANNEL, invite_link=request_link))["status"] == "pending"

    result = await outcome(client, fan.user_id)
    assert (result.outcome, result.silent) == ("approved", True)
    assert len(channel_entries(emulator, "bot_approve_join_request", fan.user_id)) == 1
    assert not [entry for entry in (await fan.transcript())[before:] if entry["kind"].startswith("bot_")]
    assert any(call["method"] == "sendMessage" and call.get("error_code") == 403 for call in emulator.calls)


async def test_a_withdrawn_request_is_not_approved(
    door_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client, request_link: str,
) -> None:  # fmt: skip
    await set_delay_seconds(pool, 10)
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Nube")
    await fan.join(CHANNEL, invite_link=request_link)
    await fan.next_saying("Espérame un momento")
    await fan.withdraw(CHANNEL)

    assert (await outcome(client, fan.user_id)).outcome == "withdrawn"
    assert not channel_entries(emulator, "bot_approve_join_request", fan.user_id)
    assert emulator.access.status(emulator.chats[CHANNEL], fan.user_id) == "left"
    assert not [entry for entry in await fan.transcript() if "Ya estás dentro" in str(entry.get("text"))]


async def test_a_user_banned_while_waiting_is_not_approved(
    door_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client, request_link: str,
) -> None:  # fmt: skip
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Rayo")
    await onboard(fan)
    await set_delay_seconds(pool, 10)
    await fan.join(CHANNEL, invite_link=request_link)
    await fan.next_saying("Espérame un momento")
    await staff.change(client, pool, fan.user_id, "ban", actor=f"admin:{ADMIN}", reason="spam en el canal")

    assert (await outcome(client, fan.user_id)).outcome == "declined"
    assert not channel_entries(emulator, "bot_approve_join_request", fan.user_id)
    assert len(channel_entries(emulator, "bot_decline_join_request", fan.user_id)) == 1
    assert emulator.access.status(emulator.chats[CHANNEL], fan.user_id) == "left"


async def test_the_admin_sets_the_delay_lists_the_requests_and_approves_all_now(
    door_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client, request_link: str, task_queue: str,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    # Bad input is refused with how to say it, and nothing changes.
    for bad in ("/puerta", "/puerta diez", "/puerta 1441", "/puerta -5"):
        await admin.send(bad)
        refused = await admin.next_saying("No cambié nada")
        assert "de 0 a 1440" in refused["text"]
    assert await door.door_delay(pool) == DEFAULT_DELAY
    await admin.send("/puerta 30")
    assert "30 min" in (await admin.next_saying("Listo"))["text"]
    assert await door.door_delay(pool) == timedelta(minutes=30)

    fans = [EmulatedUser(http, emulator.base_url, new_user_id(), first_name=name) for name in ("Ada", "Bea")]
    for fan in fans:
        await fan.join(CHANNEL, invite_link=request_link)
        assert "30 minutos" in (await fan.next_saying("Espérame un momento"))["text"]

    async def both_pending() -> bool:
        pending = {request.user_id for request in await door.pending_requests(client, task_queue)}
        return pending >= {fan.user_id for fan in fans}

    await eventually(both_pending, within=30)
    await admin.send("/solicitudes")
    listed = await admin.next_saying("Solicitudes al canal gratuito")
    assert all(str(fan.user_id) in listed["text"] for fan in fans) and "30 min" in listed["text"]
    pressed = await admin.press(listed["message_id"], admin.button(listed, "Aprobar todas ahora"))
    answer = await admin.callback_answer(pressed["callback_query_id"])
    assert "2 solicitudes" in answer["text"]

    for fan in fans:
        await fan.next_saying("Ya estás dentro", within=60)
        assert (await outcome(client, fan.user_id)).outcome == "approved"
        assert len(channel_entries(emulator, "bot_approve_join_request", fan.user_id)) == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'door delay'") == 1

    # The panel's 🚪 opens the same list, empty now.
    await admin.send("/admin")
    panel = await admin.next_from_bot("bot_message")
    await admin.press(panel["message_id"], admin.button(panel, "Solicitudes"))

    async def emptied() -> bool:
        return not await door.pending_requests(client, task_queue)

    await eventually(emptied, within=30)
    assert "Se aprueban 30 min" in (await admin.next_saying("🚪"))["text"]
