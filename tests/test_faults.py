"""Faults: Postgres and Redis stopped, Telegram failing, updates twice or at once, the bot stopped with updates pending.

Each test runs the real bot process against the emulator. Postgres and Redis outages use servers of their
own (the session's are shared by every test), started and stopped with ``tools.stack``.

Already covered elsewhere (not repeated here): a worker SIGKILLed mid-journey loses and doubles neither
besitos nor notifications, nor a VIP grant (``test_worker_restart.py``), nor a broadcast
(``test_broadcast.py::test_a_broadcast_survives_a_killed_worker_without_sending_twice``); two 429s on
sendMessage waited out (``test_end_to_end.py::test_telegram_flood_limits_are_waited_out``); three updates sent
in a row answered in order (``test_end_to_end.py::test_one_users_burst_is_answered_in_order``); a redelivered
update, payment or broadcast command applied once (``test_journey_workflow.py::TestExactlyOnce``,
``test_vip_end_to_end.py``, ``test_broadcast.py``); a retried projection activity writing once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.staff import disagreements, read_projection
from adapters.telegram import PatientRequests
from adapters.texts import t
from infra.connections import create_pool, create_redis
from infra.settings import Settings
from tests import hermetic
from tests.bot_process import (  # noqa: F401 -- the fixture
    BotProcesses,
    bot_messages,
    bots_fixture,
    messages_once,
)
from tests.conftest import encrypting_client
from tests.helpers import eventually, new_user_id, settled, webhook_environment
from tests.telegram import EmulatedUser, control, onboard, redeliver
from tools import stack, support
from tools.emulator import BotAPIEmulator
from worker import journey_worker_options
from workflows.contracts import LEADERBOARD_ALL_TIME, JourneyState
from workflows.journey import JourneyWorkflow, journey_id


@asynccontextmanager
async def running_worker(client: Client, task_queue: str, pool: asyncpg.Pool, redis: Redis,
                         bot: Bot) -> AsyncIterator[Worker]:  # fmt: skip
    async with Worker(client, task_queue=task_queue, **journey_worker_options(pool, redis, bot)) as worker:
        yield worker


async def press(user: EmulatedUser, screen: dict[str, Any], label: str | None = None) -> dict[str, Any]:
    """Press ``label`` (the first button if None) and return the redrawn screen (edited in place, or sent anew where
    Telegram cannot edit it: from a photo to text)."""
    data = user.button(screen, label) if label else str(screen["buttons"][0][0]["callback_data"])
    await user.press(screen["message_id"], data)
    return await user.next_from_bot("bot_edit", "bot_message")


async def calls(http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await control(http, "GET", f"{emulator.base_url}/control/calls")
    return result


async def fault(http: aiohttp.ClientSession, emulator: BotAPIEmulator, **fault: Any) -> None:
    await control(http, "POST", f"{emulator.base_url}/control/faults", fault)


# Postgres and Redis stopped -------------------------------------------------------------------------------


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[Settings]:
    """A Postgres of this test's own (migrated, shipped content active), to stop and start at will."""
    settings = hermetic.embedded_settings(tmp_path / "postgres-outage", DIANA_POSTGRES_PORT=stack.free_port())
    await asyncio.to_thread(hermetic.start_postgres, settings, fast_unsafe=True)
    try:
        yield settings
    finally:
        await asyncio.to_thread(stack.stop_postgres, settings)


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[Settings]:
    settings = hermetic.embedded_settings(tmp_path / "redis-outage", DIANA_REDIS_PORT=stack.free_port())
    await asyncio.to_thread(hermetic.start_redis, settings)
    try:
        yield settings
    finally:
        await asyncio.to_thread(stack.stop_redis, settings)


def postgres_dsn(settings: Settings) -> str:
    return hermetic.own_postgres(settings.postgres_dsn)


def redis_dsn(settings: Settings) -> str:
    return hermetic.own_redis(settings.redis_dsn)


async def test_postgres_stopped_the_user_plays_on_and_the_projection_converges(
    own_postgres: Settings, temporal_env: WorkflowEnvironment, task_queue: str, redis_server: str, telegram_bot: Bot,
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    dsn = postgres_dsn(own_postgres)
    pool = await create_pool(dsn, max_size=5)
    redis = create_redis(redis_server)
    try:
        # The worker's payload keys are in this Postgres too, as the bot's: both play on from their caches while it
        # is away.
        async with encrypting_client(temporal_env.client, dsn) as client, running_worker(client, task_queue, pool,
                                                                                        redis, telegram_bot):  # fmt: skip
            bots.start(dsn, redis_server)
            user = EmulatedUser(http, emulator.base_url, new_user_id())
            menu = await onboard(user)
            assert "Bienvenido a mi mundo" in menu["text"]
            before = await settled(client, user.user_id, within=30)

            assert await asyncio.to_thread(stack.stop_postgres, own_postgres)
            # The user keeps playing: every screen comes from the journey, none waits for Postgres.
            fragment = await press(user, menu, "Continuar Historia")
            assert "La invitación" in fragment["text"]
            fragment = await press(user, fragment)
            assert "Sin preguntas" in fragment["text"] and "Logro desbloqueado" in fragment["text"]
            fragment = await press(user, fragment)
            await user.send("/diana")
            menu = await user.next_from_bot("bot_message")
            besitos = await press(user, menu, "Mis Besitos")
            state: JourneyState = await client.get_workflow_handle(journey_id(user.user_id)).query(
                JourneyWorkflow.current_state
            )
            assert state.besitos > before.besitos and f"Tienes {state.besitos} besitos." in besitos["text"]
            assert state.pending_effects, "the projection waits for Postgres"

            async def retrying() -> bool:
                description = await client.get_workflow_handle(journey_id(user.user_id)).describe()
                return any(a.attempt >= 2 for a in description.raw_description.pending_activities)

            await eventually(retrying, within=30, interval=0.3)

            assert await asyncio.to_thread(hermetic.start_postgres, own_postgres, fast_unsafe=False)
            final = await settled(client, user.user_id, within=120)
            projection = await read_projection(pool, user.user_id)
            assert disagreements(final, projection) == [], "the projection equals the journey"
            assert projection.ledger_sum == final.besitos and final.besitos > before.besitos
            assert final.parked_effects == [], "no effect was given up"
            keys = await pool.fetch("SELECT idempotency_key FROM besitos_ledger WHERE telegram_user_id = $1",
                                    user.user_id)  # fmt: skip
            assert len(keys) == projection.ledger_rows == len({row["idempotency_key"] for row in keys})

            # Postgres answers again, and once a regular projection succeeded the next turn's runs as a local
            # activity again, inside the workflow task that answers.
            handle = client.get_workflow_handle(journey_id(user.user_id))
            seen = len((await handle.fetch_history()).events)
            await user.send("/diana")
            menu = await user.next_from_bot("bot_message")
            await press(user, await press(user, menu, "Continuar Historia"))
            await settled(client, user.user_id, within=30)
            later = (await support.decoded_history(client, user.user_id)).events[seen:]
            assert support.local_projections(later), "the projection is local again"
            assert not support.projection_batches(later)
    finally:
        await bots.stop_all()
        await redis.aclose()
        await pool.close()


async def test_redis_stopped_the_ranking_says_so_the_limit_lets_updates_through_and_the_journey_goes_on(
    own_redis: Settings, client: Client, task_queue: str, pool: asyncpg.Pool, database: str, telegram_bot: Bot,
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    dsn = redis_dsn(own_redis)
    redis = create_redis(dsn)
    try:
        async with running_worker(client, task_queue, pool, redis, telegram_bot):
            # A limit the user passes while Redis is away: nothing is dropped then.
            bots.start(database, dsn, RATE_LIMIT_UPDATES="8", RATE_LIMIT_WINDOW_SECONDS="600")
            user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Rocío")
            menu = await onboard(user)
            assert "Bienvenido a mi mundo" in menu["text"]
            member = str(user.user_id)

            async def ranked(besitos: int) -> bool:
                return await redis.zscore(LEADERBOARD_ALL_TIME, member) == besitos

            await eventually(lambda: ranked(65), within=30)
            ranking = await press(user, menu, "Ranking")
            assert "Rocío" in ranking["text"] and "Tu puesto: #1" in ranking["text"]

            assert await asyncio.to_thread(stack.stop_redis, own_redis)
            menu = await press(user, ranking, "Volver")
            ranking = await press(user, menu, "Ranking")
            assert ranking["text"] == t("ranking.unavailable"), "a clear message instead of the boards"
            menu = await press(user, ranking, "Volver")
            fragment = await press(user, menu, "Continuar Historia")
            fragment = await press(user, fragment)
            assert "Sin preguntas" in fragment["text"], "the story goes on"
            fragment = await press(user, fragment)
            # Eleven updates answered against a limit of eight (nine reached the journey; the ranking is the
            # bot's own): the limit let them through while Redis was away.
            state = await settled(client, user.user_id, within=60)
            assert len(state.recent_deliveries) == 9

            # Redis comes back empty (as one without persistence would): leaderboards and limits start afresh.
            (own_redis.data_dir / "redis" / "dump.rdb").unlink(missing_ok=True)
            assert await asyncio.to_thread(hermetic.start_redis, own_redis)
            # The next award writes the totals again (leaderboards hold absolute totals).
            await user.send("/diana")
            menu = await user.next_from_bot("bot_message")
            fragment = await press(user, menu, "Continuar Historia")
            await press(user, fragment)
            state = await settled(client, user.user_id, within=60)
            await eventually(lambda: ranked(state.besitos), within=30)
            await user.send("/diana")
            menu = await user.next_from_bot("bot_message")
            ranking = await press(user, menu, "Ranking")
            assert f"Rocío · {state.besitos} besitos" in ranking["text"] and "Tu puesto: #1" in ranking["text"]
    finally:
        await bots.stop_all()
        await redis.aclose()


# Telegram failing -----------------------------------------------------------------------------------------


async def test_telegram_5xx_and_429_are_retried_within_bounds_and_nothing_is_doubled(
    worker: Worker, database: str, redis_server: str, client: Client, emulator: BotAPIEmulator,
    http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    bots.start(database, redis_server)
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    await user.send("/start")
    intro = await user.next_from_bot("bot_message", within=60)
    await settled(client, user.user_id, within=30)

    def failed(method: str, since: int) -> list[dict[str, Any]]:
        return [c for c in emulator.calls[since:] if c["method"] == method and not c["ok"]]

    def succeeded(method: str, since: int) -> list[dict[str, Any]]:
        return [c for c in emulator.calls[since:] if c["method"] == method and c["ok"]]

    # Two 502s on the edit a press causes: the screen is redrawn once.
    mark = len(emulator.calls)
    await fault(http, emulator, count=2, error_code=502, methods=["editMessageText"])
    second = await press(user, intro)
    assert "(2/3)" in second["text"]

    async def redrawn() -> bool:  # the emulator logs the call once its answer is on its way, after the chat shows it
        return len(succeeded("editMessageText", mark)) == 1

    await eventually(redrawn)
    assert len(failed("editMessageText", mark)) == 2 and len(succeeded("editMessageText", mark)) == 1

    # A 500 then a 429 on a reply: it arrives once.
    mark = len(emulator.calls)
    await fault(http, emulator, count=1, error_code=500, methods=["sendMessage"])
    await fault(http, emulator, count=1, error_code=429, retry_after=1, methods=["sendMessage"])
    await user.send("/help")
    await user.next_from_bot("bot_message")

    async def replied() -> bool:
        return len(succeeded("sendMessage", mark)) == 1

    await eventually(replied)
    assert len(failed("sendMessage", mark)) == 2 and len(succeeded("sendMessage", mark)) == 1

    # Telegram down for longer than the bot waits: a bounded number of attempts, then the bot lets go.
    mark = len(emulator.calls)
    await fault(http, emulator, count=100, error_code=502, methods=["sendMessage"])
    await user.send("/help")

    async def gave_up() -> bool:
        return len(failed("sendMessage", mark)) >= PatientRequests.MAX_ATTEMPTS

    await eventually(gave_up, within=60)
    await asyncio.sleep(3)  # room for an attempt beyond the bound, were there one
    assert len(failed("sendMessage", mark)) == PatientRequests.MAX_ATTEMPTS
    # A wait longer than the bot accepts is not waited out at all.
    async with http.delete(f"{emulator.base_url}/control/faults"):
        pass
    mark = len(emulator.calls)
    await fault(http, emulator, count=1, error_code=429, retry_after=int(PatientRequests.MAX_WAIT) + 30,
                methods=["sendMessage"])  # fmt: skip
    await user.send("/help")

    async def refused_once() -> bool:
        return len(failed("sendMessage", mark)) == 1

    await eventually(refused_once)
    # Telegram is back: the next message is answered, once, and nothing earlier shows up late.
    seen = len(bot_messages(await user.transcript()))
    await user.send("/help")
    answer = await user.next_from_bot("bot_message")
    assert t("help") == answer["text"]
    await asyncio.sleep(2)
    assert len(bot_messages(await user.transcript())) == seen + 1


# Updates twice and at once --------------------------------------------------------------------------------


async def test_the_same_update_twice_and_two_at_once_are_applied_once_each_in_order(
    worker: Worker, database: str, redis_server: str, client: Client, pool: asyncpg.Pool,
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    bots.start(database, redis_server)
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    menu = await onboard(user)
    assert "Bienvenido a mi mundo" in menu["text"]
    fragment = await press(user, menu, "Continuar Historia")
    choice = user.button(fragment, "Seguirla")
    pressed = await user.press(fragment["message_id"], choice)
    await user.next_from_bot("bot_message")  # the next fragment's text, sent anew in place of the first one's photo
    before = await settled(client, user.user_id, within=30)
    rows = await pool.fetchval("SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1", user.user_id)

    # The press that paid besitos, delivered again: nothing changes, nothing is shown again.
    mark = len(emulator.calls)
    await redeliver(http, emulator.base_url, pressed["update_id"])

    async def handled_again() -> bool:
        return any(c["method"] == "answerCallbackQuery" for c in emulator.calls[mark:])

    await eventually(handled_again)
    assert not [c for c in emulator.calls[mark:] if c["method"].startswith("send")], "not shown twice"
    after = await settled(client, user.user_id, within=30)
    assert after == before, "applied once"
    assert await pool.fetchval("SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1",
                               user.user_id) == rows  # fmt: skip

    # A command delivered again: answered again with the same screen, applied once.
    sent = await user.send("/diana")
    first = await user.next_from_bot("bot_message")
    state = await settled(client, user.user_id, within=30)
    await redeliver(http, emulator.base_url, sent["update_id"])
    again = await user.next_from_bot("bot_message")
    assert again["text"] == first["text"] and again["buttons"] == first["buttons"]
    assert await settled(client, user.user_id, within=30) == state

    # Two presses on one screen at once: the earlier update wins, the later one meets a newer screen.
    menu = again
    presses = await asyncio.gather(
        user.press(menu["message_id"], user.button(menu, "Mis Besitos")),
        user.press(menu["message_id"], user.button(menu, "Misiones")),
    )
    earlier, later = sorted(presses, key=lambda p: int(p["update_id"]))
    entries = [await user.next_from_bot("bot_edit", "callback_answer") for _ in range(3)]
    edits = [e for e in entries if e["kind"] == "bot_edit"]
    answers = {e["callback_query_id"]: e for e in entries if e["kind"] == "callback_answer"}
    assert len(edits) == 1
    won = "Tienes" if earlier is presses[0] else "Misiones"
    assert won in edits[0]["text"], "the earlier press is the one applied"
    assert answers[later["callback_query_id"]]["text"] == t("reject.StaleScreen")
    assert (await settled(client, user.user_id, within=30)).screen_seq == state.screen_seq + 1

    # Two messages at once: answered in the order Telegram numbered them.
    sent_both = await asyncio.gather(user.send("hola"), user.send("/help"))
    replies = [await user.next_from_bot("bot_message") for _ in range(2)]
    expected = {sent_both[0]["update_id"]: t("conversation.free_text"), sent_both[1]["update_id"]: t("help")}
    assert [reply["text"] for reply in replies] == [expected[key] for key in sorted(expected)]
    final = await settled(client, user.user_id, within=30)
    assert final.besitos == before.besitos and final.screen_seq == state.screen_seq + 2


# The bot stopped with updates pending ---------------------------------------------------------------------

# These wait for a restarted worker to take an update in hand: longer than a user is made to wait (the deadline
# holds up no one else either way; see test_stuck_journeys.py).
PATIENT = {"JOURNEY_DEADLINE_SECONDS": "60"}


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
async def test_a_bot_stopped_with_updates_in_hand_and_queued_loses_and_repeats_none(
    stop_signal: signal.Signals, client: Client, task_queue: str, pool: asyncpg.Pool, redis: Redis,
    telegram_bot: Bot, database: str, redis_server: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession,
    bots: BotProcesses,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    async with running_worker(client, task_queue, pool, redis, telegram_bot):
        first_bot = bots.start(database, redis_server, **PATIENT)
        assert "Bienvenido a mi mundo" in (await onboard(user))["text"]
        before = await settled(client, user.user_id, within=30)
        answered = len(bot_messages(await user.transcript()))

    # No worker now: the journey cannot answer, so the bot holds the next update in hand.
    mark = len(emulator.calls)
    in_hand = await user.send("/diana")

    async def taken() -> bool:
        polls = [c for c in emulator.calls[mark:] if c["method"] == "getUpdates" and c["ok"]]
        return len(polls) >= 2  # the bot asked again after the one that handed the update over

    await eventually(taken)
    if stop_signal == signal.SIGKILL:
        await bots.kill(first_bot)
    else:
        first_bot.send_signal(signal.SIGTERM)
    queued = [await user.send("hola"), await user.send("/help")]
    async with running_worker(client, task_queue, pool, redis, telegram_bot):
        # SIGTERM: the bot finishes the update in hand (its journey can answer again) before it exits.
        await asyncio.to_thread(first_bot.wait, 60)
        bots.start(database, redis_server, **PATIENT)
        replies = await messages_once(user, answered, 3)
        assert len(replies) == 3, [reply["text"][:40] for reply in replies]
        assert "Mis Besitos" in str(replies[0]["buttons"]), "the update in hand: the menu"
        assert [reply["text"] for reply in replies[1:]] == [t("conversation.free_text"), t("help")]
        state = await settled(client, user.user_id, within=30)
        delivered = {int(delivery.split("-")[0]) for delivery in state.recent_deliveries}
        assert {in_hand["update_id"], queued[0]["update_id"]} <= delivered
        assert state.screen_seq == before.screen_seq + 2, "the menu and the free text, each applied once"


async def test_a_webhook_bot_killed_with_an_update_in_hand_loses_and_repeats_none(
    client: Client, task_queue: str, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, database: str,
    redis_server: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    """Webhook mode (the deployed one): an update is answered to Telegram only once handled, so the one a
    killed bot held comes again to the next bot, and the journey applies it once."""
    webhook = webhook_environment()
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    try:
        async with running_worker(client, task_queue, pool, redis, telegram_bot):
            first_bot = bots.start(database, redis_server, **PATIENT, **webhook)
            assert "Bienvenido a mi mundo" in (await onboard(user))["text"]
            before = await settled(client, user.user_id, within=30)
            answered = len(bot_messages(await user.transcript()))

        # No worker now: the bot holds the next update (posted to it, not answered), its journey's Update waiting.
        in_hand = await user.send("/diana")

        handle = client.get_workflow_handle(journey_id(user.user_id))

        async def held() -> bool:
            # Posted to the bot and not answered, and the journey has work waiting for a worker (its Update).
            waiting = (await handle.describe()).raw_description.HasField("pending_workflow_task")
            return in_hand["update_id"] in emulator.delivering and waiting

        await eventually(held)
        await bots.kill(first_bot)
        queued = await user.send("hola")
        async with running_worker(client, task_queue, pool, redis, telegram_bot):
            bots.start(database, redis_server, **PATIENT, **webhook)
            replies = await messages_once(user, answered, 2)
            assert len(replies) == 2, [reply["text"][:40] for reply in replies]
            assert "Mis Besitos" in str(replies[0]["buttons"]), "the update in hand: the menu"
            assert replies[1]["text"] == t("conversation.free_text")
            state = await settled(client, user.user_id, within=30)
            delivered = {int(delivery.split("-")[0]) for delivery in state.recent_deliveries}
            assert {in_hand["update_id"], queued["update_id"]} <= delivered
            assert state.screen_seq == before.screen_seq + 2, "the menu and the free text, each applied once"
            assert not emulator.updates, "Telegram holds nothing back"
    finally:
        emulator.webhook = None  # the next tests' bots poll


async def test_a_webhook_bot_stopped_with_sigterm_neither_cuts_off_nor_repeats_the_reply_in_flight(
    client: Client, task_queue: str, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, database: str,
    redis_server: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses,
) -> None:  # fmt: skip
    """A deploy stops the bot while Telegram is slow to answer its reply: the reply's call is let finish (the
    session is closed only after the updates in hand), so it is neither retried into a second message nor lost."""
    webhook = webhook_environment()
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    try:
        async with running_worker(client, task_queue, pool, redis, telegram_bot):
            bot = bots.start(database, redis_server, **webhook)
            await onboard(user)
            answered = len(bot_messages(await user.transcript()))
            async with http.post(f"{emulator.base_url}/control/faults",
                                 json={"count": 1, "delay": 3, "methods": ["sendMessage"]}):  # fmt: skip
                pass
            menu_asked = await user.send("/diana")

            async def reply_in_flight() -> bool:
                return len(bot_messages(await user.transcript())) > answered

            await eventually(reply_in_flight)
            stopping = asyncio.get_running_loop().time()
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(bot.wait, 30) == 0, "a clean stop"
            assert asyncio.get_running_loop().time() - stopping >= 1.5, "the stop waited for the slow reply"
            replies = bot_messages(await user.transcript())[answered:]
            assert len(replies) == 1 and "Mis Besitos" in str(replies[0]["buttons"]), "the menu, once"
            assert menu_asked["update_id"] not in {update["update_id"] for update in emulator.updates}, (
                "answered to Telegram: not to be delivered again"
            )
    finally:
        emulator.webhook = None  # the next tests' bots poll
