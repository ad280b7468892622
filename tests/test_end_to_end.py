"""The real bot process, in polling mode, against the Bot API emulator and the real stack."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests import hermetic
from tests.helpers import eventually, new_user_id, webhook_environment
from tests.telegram import EmulatedUser
from tools.emulator import BotAPIEmulator
from tools.terminal_chat import TerminalChat
from workflows.contracts import JourneyState
from workflows.journey import JourneyWorkflow, journey_id


def bot_environment(emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str,
                    redis_server: str, **extra: str) -> dict[str, str]:  # fmt: skip
    """What ``diana bot`` (or ``diana worker``) runs with: the session's servers and emulator, health ports of its
    own, ``extra``, and nothing of the machine's configuration (see ``tests/hermetic.py``)."""
    return hermetic.process_environment(
        TELEGRAM_API_BASE=emulator.base_url,
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=task_queue,
        DATABASE_URL=database,
        REDIS_URL=redis_server,
        **extra,
    )


def start_bot(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``diana bot`` as its own process with ``env``, outside the repository (no ``.env`` is read)."""
    return hermetic.diana_process(["-m", "tools.cli", "bot"], env)


async def stop_bot(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        # Wait off the event loop: the emulator serving the bot's last long poll runs on it.
        await asyncio.to_thread(process.wait, 15)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the bot did not stop within 15 s of SIGTERM")


@asynccontextmanager
async def running_bot(env: dict[str, str]) -> AsyncIterator[subprocess.Popen[bytes]]:
    """``diana bot`` as its own process with ``env``, stopped with SIGTERM at the end."""
    process = start_bot(env)
    try:
        yield process
    finally:
        await stop_bot(process)


@pytest.fixture
async def bot_process(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    """The real bot, as its own process, long-polling the emulator."""
    async with running_bot(bot_environment(emulator, temporal_env, task_queue, database, redis_server)) as process:
        yield process


async def test_start_onboarding_menu_and_mis_besitos(
    bot_process: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Valeria <3", username="vale")
    await user.send("/start")
    intro = await user.next_from_bot("bot_message", within=60)
    assert "Soy <b>Diana</b>" in intro["html"] and "Soy Diana" in intro["text"]
    assert "Valeria &lt;3" in intro["html"] and "Hola, Valeria <3." in intro["text"], "names are sent escaped"

    screen = intro
    for _ in range(3):
        await user.press(intro["message_id"], user.button(screen, "✨" if screen is intro else ""))
        screen = await user.next_from_bot("bot_edit")
        assert screen["message_id"] == intro["message_id"], "onboarding redraws the same message"
    assert "Bienvenido a mi mundo" in screen["text"]
    assert "Primeros Pasos" in screen["text"] and "+65 besitos" in screen["text"]
    labels = [b["text"] for row in screen["buttons"] for b in row]
    assert labels == ["💋 Continuar Historia", "🌟 Mis Besitos", "🛍️ Mis tesoros", "🎯 Misiones", "🏆 Logros",
                      "🏅 Ranking", "💎 VIP", "⚙️ Configuración"]  # fmt: skip

    await user.press(screen["message_id"], user.button(screen, "Mis Besitos"))
    besitos = await user.next_from_bot("bot_edit")
    assert "Tienes 65 besitos." in besitos["text"]
    assert "Nivel 1\n" in besitos["text"]
    assert "Te faltan 35 besitos para el nivel 2 (65/100)." in besitos["text"]
    assert "Tienes <b>65</b> besitos" in besitos["html"]

    async def ledger_total_is_65() -> bool:
        total = await pool.fetchval("SELECT sum(amount) FROM besitos_ledger WHERE telegram_user_id = $1", user.user_id)
        return bool(total == 65)

    assert await eventually(ledger_total_is_65)
    row = await pool.fetchrow("SELECT first_name, username, stage FROM users WHERE telegram_user_id = $1", user.user_id)
    assert row is not None and dict(row) == {"first_name": "Valeria <3", "username": "vale", "stage": "active"}
    state = await client.get_workflow_handle(journey_id(user.user_id)).query(JourneyWorkflow.current_state)
    assert state.besitos == 65


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


async def test_one_users_burst_is_answered_in_order(
    bot_process: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    await user.send("/start")
    intro = await user.next_from_bot("bot_message", within=60)
    await user.press(intro["message_id"], user.button(intro, "Continuar"))
    await user.next_from_bot("bot_edit")
    # Three updates at once: each is applied once, in the order they were sent.
    for text in ("/help", "/start", "/help"):
        await user.send(text)
    replies = [await user.next_from_bot("bot_message") for _ in range(3)]
    assert "Escribe /start para conocer a Diana" in replies[0]["text"]
    assert "(2/3)" in replies[1]["text"], "the introduction resumes where it was"
    assert "Escribe /start para conocer a Diana" in replies[2]["text"]


async def test_webhook_mode_requires_the_secret_token(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    webhook = webhook_environment(secret="s3cret-token")
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, **webhook)
    process = start_bot(env)
    try:

        async def webhook_set() -> bool:
            return emulator.webhook is not None

        await eventually(webhook_set, within=60)
        assert emulator.webhook is not None and emulator.webhook["secret_token"] == "s3cret-token"
        user = EmulatedUser(http, emulator.base_url, new_user_id())
        await user.send("/start")
        intro = await user.next_from_bot("bot_message", within=30)
        assert "Soy Diana" in intro["text"]

        forged = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 5, "type": "private"},
                "from": {"id": 5, "is_bot": False, "first_name": "X"},
                "text": "/start",
            },
        }
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(webhook["WEBHOOK_URL"], json=forged, headers=headers) as response:
                assert response.status == 401
        assert 5 not in emulator.chats, "an update without the secret is never handled"
    finally:
        await stop_bot(process)


async def test_terminal_chat_plays_start_to_menu(
    bot_process: subprocess.Popen[bytes], emulator: BotAPIEmulator,
) -> None:  # fmt: skip
    out = io.StringIO()
    user_id = new_user_id()
    chat = TerminalChat(emulator.base_url, user_id, "Clara", out=out)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    running = asyncio.create_task(chat.run(lines))

    async def shown(text: str) -> bool:
        return text in out.getvalue()

    await lines.put("/start")
    await eventually(lambda: shown("(1/3)"), within=60)
    for step in ("(2/3)", "(3/3)", "Bienvenido a mi mundo"):
        await lines.put("1")
        await eventually(lambda step=step: shown(step))  # type: ignore[misc]
    await eventually(lambda: shown("[2] 🌟 Mis Besitos"))
    await lines.put("2")
    await eventually(lambda: shown("Tienes 65 besitos"))
    await lines.put("/quit")
    await asyncio.wait_for(running, timeout=10)
    assert "Hola, Clara. Soy Diana." in out.getvalue()
