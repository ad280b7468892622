"""A worker killed with SIGKILL mid-journey: nothing lost, nothing doubled, once a new worker takes over.

The worker runs as its own process (``diana worker``) against the test's Temporal, Postgres,
Redis and emulator, so the kill is a real one: no shutdown hooks, activities cut off mid-flight.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bot.content_version import ActiveContent
from bot.journeys import Journeys
from infra.emulator import BotAPIEmulator
from infra.settings import EMULATOR_COMMUNITY_CHANNEL
from tests.helpers import REPO_ROOT, eventually, new_user_id, request
from tests.test_end_to_end import bot_environment
from workflows.contracts import JourneyReply, JourneyState
from workflows.journey import JourneyWorkflow, journey_id

WorkerStarter = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture
async def start_worker(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
) -> AsyncIterator[WorkerStarter]:  # fmt: skip
    """Starts ``diana worker`` processes; any still running at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server)

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "infra.cli", "worker"], env=env, cwd=REPO_ROOT)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 15)


async def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(process.wait, 15)


async def test_a_killed_worker_neither_loses_nor_doubles_besitos_or_notifications(
    start_worker: WorkerStarter, client: Client, task_queue: str, pool: asyncpg.Pool, emulator: BotAPIEmulator,
    http: aiohttp.ClientSession, active_content: ActiveContent,
) -> None:  # fmt: skip
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Vera")  # the private chat exists
    journeys = Journeys(client, task_queue, active_content)
    first = start_worker()
    reply = await journeys.interact(request(user_id, "start", first_name="Vera"))
    for _ in range(3):
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq))

    # Telegram fails every send for now: the achievement notice this reaction earns stays pending.
    async with http.post(f"{emulator.base_url}/control/faults",
                         json={"count": 10_000, "error_code": 502, "methods": ["sendMessage"]}) as response:  # fmt: skip
        assert (await response.json())["ok"]
    post = f"{EMULATOR_COMMUNITY_CHANNEL}:777"
    reaction = await journeys.interact(request(user_id, "reaction", action=post))
    assert reaction.toast is not None and reaction.toast.key == "toast.reaction.rewarded"
    # Killed the moment the reply is out: the award, its ledger rows and the notice are still to be carried out.
    await kill(first)

    second = start_worker()

    async def send_attempted() -> bool:
        async with http.get(f"{emulator.base_url}/control/calls") as response:
            calls: list[dict[str, Any]] = (await response.json())["result"]
        return any(call["method"] == "sendMessage" and call.get("error_code") == 502 for call in calls)

    await eventually(send_attempted, within=60, interval=0.2)
    # The notice is claimed and failing: kill the new worker mid-retry too.
    await kill(second)
    async with http.delete(f"{emulator.base_url}/control/faults") as response:
        assert (await response.json())["ok"]

    start_worker()

    def notices() -> list[dict[str, Any]]:
        return [entry for entry in emulator.chats[user_id].transcript
                if entry["kind"] == "bot_message" and "Logro desbloqueado" in str(entry["text"])]  # fmt: skip

    async def delivered() -> list[dict[str, Any]]:
        return notices()

    await eventually(delivered, within=90, interval=0.2)
    handle = client.get_workflow_handle(journey_id(user_id))

    async def settled() -> JourneyState | None:
        state = await handle.query(JourneyWorkflow.current_state)
        return state if not state.pending_effects else None

    state = await eventually(settled, within=60)
    assert state is not None
    await asyncio.sleep(2)  # room for a duplicate to show up, were there one
    assert len(notices()) == 1, "the notice arrives once"
    reaction_rows = await pool.fetchval(
        "SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1 AND action = 'channel_reaction'", user_id
    )
    assert reaction_rows == 1, "the reaction pays once"
    ledger_sum = await pool.fetchval("SELECT sum(amount) FROM besitos_ledger WHERE telegram_user_id = $1", user_id)
    assert ledger_sum == state.besitos
    assert await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE telegram_user_id = $1 AND status = 'sent'", user_id
    ) == len(notices())
    # The user goes on as if nothing happened.
    again: JourneyReply = await journeys.interact(request(user_id, "menu"))
    assert again.screen.key.startswith("mood.") and again.screen.buttons, "the menu, greeted in a mood"
