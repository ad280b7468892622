"""A worker killed with SIGKILL mid-journey: nothing lost, nothing doubled, once a new worker takes over.

The worker runs as its own process (``diana worker``) against the test's Temporal, Postgres,
Redis and emulator, so the kill is a real one: no shutdown hooks, activities cut off mid-flight. The
first two drive journeys as the bot does; the last goes through the real bot, with a user waiting.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.content_version import ActiveContent
from adapters.journeys import Journeys
from infra.settings import EMULATOR_COMMUNITY_CHANNEL, EMULATOR_VIP_CHANNEL
from tests import hermetic
from tests.bot_process import BotProcesses, bots_fixture  # noqa: F401 -- the fixture
from tests.helpers import eventually, new_user_id, request, settled
from tests.telegram import EmulatedUser, failed_call, onboard
from tests.test_end_to_end import bot_environment
from tests.test_journey_workflow import onboard as onboard_journey
from tools.emulator import BotAPIEmulator
from workflows.contracts import JourneyReply, JourneyState, PaymentDetails
from workflows.journey import JourneyWorkflow, journey_id

WorkerStarter = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture
async def start_worker(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
) -> AsyncIterator[WorkerStarter]:  # fmt: skip
    """Starts ``diana worker`` processes as deployed (journeys outside the sandbox); any still running are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        # Each worker has health ports of its own: one may still be running when the next starts.
        env = bot_environment(emulator, temporal_env, task_queue, database, redis_server,
                              VIP_CHANNEL_ID=str(EMULATOR_VIP_CHANNEL), WORKFLOW_SANDBOX="false")  # fmt: skip
        process = hermetic.diana_process(["-m", "tools.cli", "worker"], env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 15)


def messages_saying(emulator: BotAPIEmulator, user_id: int, text: str) -> list[dict[str, Any]]:
    return [entry for entry in emulator.chats[user_id].transcript
            if entry["kind"] == "bot_message" and text in str(entry["text"])]  # fmt: skip


async def delivered_then_settled(client: Client, user_id: int,
                                 delivered: Callable[[], list[dict[str, Any]]]) -> JourneyState:  # fmt: skip
    """Once the message arrives (a new worker took over), the journey's state with every effect carried out."""

    async def arrived() -> list[dict[str, Any]]:
        return delivered()

    await eventually(arrived, within=90, interval=0.2)
    handle = client.get_workflow_handle(journey_id(user_id))

    async def settled() -> JourneyState | None:
        state = await handle.query(JourneyWorkflow.current_state)
        return state if not state.pending_effects else None

    state = await eventually(settled, within=60)
    assert state is not None
    return state


async def accepted_updates(client: Client, user_id: int, update_id: int) -> int:
    """How many times the journey's history took Telegram update ``update_id``."""
    history = await client.get_workflow_handle(journey_id(user_id)).fetch_history()
    return sum(
        event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id.startswith(
            f"telegram-update-{update_id}-")
        for event in history.events if event.HasField("workflow_execution_update_accepted_event_attributes")
    )  # fmt: skip


def from_bot(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the bot showed: messages and edits, with media or not (a deleted message is no answer)."""
    return [
        entry
        for entry in transcript
        if entry["kind"]
        in ("bot_message", "bot_edit", "bot_photo", "bot_video", "bot_voice", "bot_media_group", "bot_edit_media")
    ]


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
    await onboard_journey(journeys, user_id)

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

    await eventually(lambda: failed_call(http, emulator.base_url, "sendMessage", 502), within=60, interval=0.2)
    # The notice is claimed and failing: kill the new worker mid-retry too.
    await kill(second)
    async with http.delete(f"{emulator.base_url}/control/faults") as response:
        assert (await response.json())["ok"]

    start_worker()

    def notices() -> list[dict[str, Any]]:
        return messages_saying(emulator, user_id, "Logro desbloqueado")

    state = await delivered_then_settled(client, user_id, notices)
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


async def test_a_worker_killed_between_payment_and_grant_grants_vip_exactly_once(
    start_worker: WorkerStarter, client: Client, task_queue: str, pool: asyncpg.Pool, emulator: BotAPIEmulator,
    http: aiohttp.ClientSession, active_content: ActiveContent,
) -> None:  # fmt: skip
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Vera")
    journeys = Journeys(client, task_queue, active_content)
    first = start_worker()
    reply = await journeys.interact(request(user_id, "start", first_name="Vera"))
    for action in ("onboarding_next",) * 3 + ("vip", "buy.mensual"):
        reply = await journeys.interact(request(user_id, "button", action=action, screen=reply.screen.seq))
    state = await client.get_workflow_handle(journey_id(user_id)).query(JourneyWorkflow.current_state)
    payload = state.subscription.invoices[-1].payload
    details = PaymentDetails(payload=payload, currency="XTR", total_amount=250)
    await journeys.interact_if_started(request(user_id, "pre_checkout").model_copy(update={"payment": details}))

    # Telegram refuses invite links for now: the grant's channel access stays pending.
    async with http.post(f"{emulator.base_url}/control/faults",
                         json={"count": 10_000, "error_code": 502, "methods": ["createChatInviteLink"]}) as response:  # fmt: skip
        assert (await response.json())["ok"]
    paid = request(user_id, "payment", update_id=990_001).model_copy(
        update={"payment": details.model_copy(update={"charge_id": "stx-kill", "provider_charge_id": ""})})  # fmt: skip
    assert (await journeys.interact(paid)).screen.key == "vip.welcome"
    await kill(first)  # the payment is in the journey; its projection and channel access are not yet
    second = start_worker()

    await eventually(lambda: failed_call(http, emulator.base_url, "createChatInviteLink", 502), within=60, interval=0.2)
    await kill(second)
    async with http.delete(f"{emulator.base_url}/control/faults") as response:
        assert (await response.json())["ok"]
    start_worker()
    # Telegram delivers the payment again, as it does when the bot did not confirm it: applied once.
    assert (await journeys.interact(paid)).screen.key == "vip.welcome"

    def invites() -> list[dict[str, Any]]:
        return messages_saying(emulator, user_id, "canal privado")

    final = await delivered_then_settled(client, user_id, invites)
    assert final.vip and len(final.subscription.charges) == 1
    await asyncio.sleep(2)
    assert len(invites()) == 1, "one invite link"
    rows = await pool.fetch("SELECT charge_id FROM payments WHERE telegram_user_id = $1", user_id)
    assert [row["charge_id"] for row in rows] == ["stx-kill"]
    subscription = await pool.fetchrow("SELECT * FROM subscriptions WHERE telegram_user_id = $1", user_id)
    assert subscription is not None and subscription["expires_at"] == final.subscription.expires_at
    assert final.subscription.expires_at is not None and final.subscription.started_at is not None
    assert final.subscription.expires_at - final.subscription.started_at == timedelta(days=30), "one month"


async def test_a_worker_killed_while_it_writes_a_press_answers_it_once_through_the_bot(
    start_worker: WorkerStarter, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator,
    http: aiohttp.ClientSession, bots: BotProcesses, database: str, redis_server: str,
) -> None:  # fmt: skip
    """Through the real bot: the worker dies halfway through a press (its besitos are being written, and the
    reply waits on that write), so the press is in no history yet; the next worker applies it once, and the
    user, who waited, sees it once."""
    first = start_worker()
    # The user waits for the next worker: longer than the bot's default deadline (test_stuck_journeys.py).
    bots.start(database, redis_server, JOURNEY_DEADLINE_SECONDS="60")
    user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Vera")
    menu = await onboard(user)
    await user.press(menu["message_id"], user.button(menu, "Continuar Historia"))
    fragment = await user.next_from_bot("bot_edit", within=30)  # the first fragment: its photo, in place of the menu
    before = await settled(client, user.user_id, within=30)
    answered = len(from_bot(await user.transcript()))

    async with pool.acquire() as connection, connection.transaction():
        # Held by the test: the projection's writes for this user wait on the row (its foreign keys point here).
        await connection.execute("SELECT 1 FROM users WHERE telegram_user_id = $1 FOR UPDATE", user.user_id)
        # The story's first choice: deciding pays besitos.
        pressed = await user.press(fragment["message_id"], fragment["buttons"][0][0]["callback_data"])

        async def writing() -> bool:
            held_up: int = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                connection.get_server_pid(),
            )
            return held_up > 0

        # Killed at once: the write is the local activity of the task that answers (it gives up after 1 s).
        await eventually(writing, within=30, interval=0.02)
        await kill(first)
    assert len(from_bot(await user.transcript())) == answered, "no answer yet: the press died with the worker"
    assert await accepted_updates(client, user.user_id, pressed["update_id"]) == 0, "the press is in no history yet"

    start_worker()
    # From the photo to the next fragment's text: Telegram cannot edit one into the other, so it is a new message.
    story = await user.next_from_bot("bot_message", within=90)
    assert "Capítulo 1" in story["text"] and story["text"] != fragment["text"], "where the choice leads"
    state = await settled(client, user.user_id, within=30)
    await asyncio.sleep(2)  # room for an answer given twice, were there one
    assert from_bot(await user.transcript())[answered:] == [story], "one answer"
    assert [delivery.split("-")[0] for delivery in state.recent_deliveries].count(str(pressed["update_id"])) == 1
    assert state.screen_seq == before.screen_seq + 1, "the press applied once"
    assert await accepted_updates(client, user.user_id, pressed["update_id"]) == 1
    assert state.besitos > before.besitos, "deciding paid"
    ledger = await pool.fetch("SELECT action, amount FROM besitos_ledger WHERE telegram_user_id = $1", user.user_id)
    assert sum(row["amount"] for row in ledger) == state.besitos, "paid once: the ledger agrees with the journey"
    # The user goes on.
    await user.press(story["message_id"], story["buttons"][-1][-1]["callback_data"])
    assert (await user.next_from_bot("bot_edit", within=30))["message_id"] == story["message_id"]


async def test_a_worker_stopped_with_sigterm_finishes_the_message_it_is_sending(
    start_worker: WorkerStarter, client: Client, task_queue: str, pool: asyncpg.Pool, emulator: BotAPIEmulator,
    http: aiohttp.ClientSession, active_content: ActiveContent,
) -> None:  # fmt: skip
    """A deploy stops workers with SIGTERM: a notice waiting out Telegram's 429 is sent by the stopping worker,
    once, instead of being cut off and left to a worker that may never come."""
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Vera")
    journeys = Journeys(client, task_queue, active_content)
    worker = start_worker()
    await onboard_journey(journeys, user_id)
    async with http.post(f"{emulator.base_url}/control/faults",
                         json={"count": 1, "error_code": 429, "retry_after": 3, "methods": ["sendMessage"]}) as response:  # fmt: skip
        assert (await response.json())["ok"]
    # The first reaction earns an achievement: its notice is the worker's to send.
    await journeys.interact(request(user_id, "reaction", action=f"{EMULATOR_COMMUNITY_CHANNEL}:778"))

    await eventually(lambda: failed_call(http, emulator.base_url, "sendMessage", 429), within=30, interval=0.1)
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 20) == 0, "a clean stop"
    notices = messages_saying(emulator, user_id, "Logro desbloqueado")
    assert len(notices) == 1, "sent by the stopping worker, once"
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE telegram_user_id = $1 AND status = 'sent'", user_id
        )
        == 1
    )
