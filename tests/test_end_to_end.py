"""The real bot process, in polling mode, against the Bot API emulator and the real stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from infra.emulator import BotAPIEmulator
from tests.helpers import REPO_ROOT, eventually, new_user_id
from tests.telegram import EmulatedUser
from workflows.contracts import JourneyState
from workflows.journey import JourneyWorkflow, journey_id


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def bot_process(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "TELEGRAM_BOT_TOKEN"}
    env.update(
        TELEGRAM_API_BASE=emulator.base_url,
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=task_queue,
        DATABASE_URL=database,
        REDIS_URL=redis_server,
    )
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "bot"], env=env, cwd=REPO_ROOT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            # Wait off the event loop: the emulator serving the bot's last long poll runs on it.
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the bot did not stop within 15 s of SIGTERM")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_start_onboarding_menu_and_mis_besitos(
    bot_process: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Valeria <3", username="vale")
    await user.send("/start")
    intro = await user.next_from_bot("bot_message", within=60)
    assert "Soy <b>Diana</b>" in intro["text"]
    assert "Valeria &lt;3" in intro["text"], "names are shown escaped"

    screen = intro
    for _ in range(3):
        await user.press(intro["message_id"], user.button(screen, "✨" if screen is intro else ""))
        screen = await user.next_from_bot("bot_edit")
        assert screen["message_id"] == intro["message_id"], "onboarding redraws the same message"
    assert "Bienvenido a mi mundo" in screen["text"]
    assert "Primeros Pasos" in screen["text"] and "+50 besitos" in screen["text"]
    labels = [b["text"] for row in screen["buttons"] for b in row]
    assert labels == ["💋 Continuar Historia", "🌟 Mis Besitos", "🎯 Misiones", "🏆 Logros", "💎 VIP",
                      "⚙️ Configuración"]  # fmt: skip

    await user.press(screen["message_id"], user.button(screen, "Mis Besitos"))
    besitos = await user.next_from_bot("bot_edit")
    assert "Tienes <b>50</b> besitos" in besitos["text"]
    assert "Nivel <b>1</b>" in besitos["text"]
    assert "Te faltan <b>50</b> besitos para el nivel 2" in besitos["text"]

    async def ledger_total() -> int | None:
        total = await pool.fetchval("SELECT sum(amount) FROM besitos_ledger WHERE telegram_user_id = $1", user.user_id)
        return int(total) if total is not None else None

    assert await eventually(ledger_total) == 50
    row = await pool.fetchrow("SELECT first_name, username, stage FROM users WHERE telegram_user_id = $1", user.user_id)
    assert row is not None and dict(row) == {"first_name": "Valeria <3", "username": "vale", "stage": "active"}
    state = await client.get_workflow_handle(journey_id(user.user_id)).query(JourneyWorkflow.current_state)
    assert state.besitos == 50


async def test_bad_buttons_get_a_clear_answer_and_change_nothing(
    bot_process: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
) -> None:  # fmt: skip
    owner = EmulatedUser(http, emulator.base_url, new_user_id())
    await owner.send("/start")
    intro = await owner.next_from_bot("bot_message", within=60)
    next_button = owner.button(intro, "Continuar")
    handle = client.get_workflow_handle(journey_id(owner.user_id))

    async def settled_state() -> JourneyState | None:
        state = await handle.query(JourneyWorkflow.current_state)
        return None if state.pending_effects else state

    before = await eventually(settled_state)

    # Forged callback data that is not ours at all.
    await owner.press(intro["message_id"], "totally:forged", forge=True)
    answer = await owner.next_from_bot("callback_answer")
    assert answer["text"] == "No reconozco ese botón." and answer["show_alert"]

    # Our prefix, but an action the journey does not know.
    await owner.press(intro["message_id"], "j:grant_vip:1", forge=True)
    answer = await owner.next_from_bot("callback_answer")
    assert answer["text"] == "No reconozco ese botón."

    # Another user pressing a button of the owner's chat.
    intruder = EmulatedUser(http, emulator.base_url, new_user_id())
    await intruder.send("hola")
    await intruder.next_from_bot("bot_message", within=60)
    await intruder.press(intro["message_id"], next_button, chat_id=owner.user_id)
    answer = await owner.next_from_bot("callback_answer")
    assert answer["text"] == "Ese botón no es tuyo."

    assert await handle.query(JourneyWorkflow.current_state) == before

    # A button of an older screen: /start again sends a new screen, the old one is stale.
    await owner.send("/start")
    await owner.next_from_bot("bot_message")
    await owner.press(intro["message_id"], next_button)
    answer = await owner.next_from_bot("callback_answer")
    assert "pantalla anterior" in answer["text"]
    after = await handle.query(JourneyWorkflow.current_state)
    assert after.onboarding_step == before.onboarding_step == 1


async def test_telegram_flood_limits_are_waited_out(
    bot_process: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    await user.send("/help")
    await user.next_from_bot("bot_message", within=60)  # the bot is up
    async with http.post(f"{emulator.base_url}/control/faults",
                         json={"count": 2, "error_code": 429, "retry_after": 1, "methods": ["sendMessage"]}):  # fmt: skip
        pass
    await user.send("/start")
    intro = await user.next_from_bot("bot_message", within=30)
    assert "Diana" in intro["text"]
    await asyncio.sleep(1.0)
    sent = [e for e in await user.transcript() if e["kind"] == "bot_message"]
    assert len(sent) == 2, "each reply arrives exactly once"
    refused = [c for c in emulator.calls if c["method"] == "sendMessage" and c.get("error_code") == 429]
    assert len(refused) == 2
