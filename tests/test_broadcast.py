"""Admin broadcasts: the command, pacing, segments, Telegram's limits and refusals, and a worker killed mid-way.

Everything past the pure tests runs on real servers: the Temporal dev server, Postgres, the emulator
(with Telegram's flood control switched on where it matters) and, for the crash, ``diana worker``
processes killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramServerError
from pydantic import ValidationError
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, Worker

from activities.broadcast import BroadcastActivities
from activities.pacing import Pacer
from adapters.journeys import Journeys
from adapters.media_library import SHIPPED_MEDIA
from adapters.telegram import create_bot
from adapters.texts import t
from bot import broadcasts
from bot.albums import AlbumCollector, RecentAlbums
from bot.broadcasts import BadBroadcast, BroadcastCB, parse_broadcast
from tests import hermetic
from tests.conftest import start_temporal_env
from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, control, redeliver
from tests.test_worker_restart import WorkerStarter, kill, start_worker  # noqa: F401  (start_worker: a fixture)
from tools.emulator import BotAPIEmulator
from tools.emulator.files import Upload
from worker import WORKFLOWS, journey_worker_options
from workflows.broadcast import BroadcastWorkflow
from workflows.broadcast_contracts import (
    BroadcastInput,
    BroadcastPage,
    BroadcastProgress,
    PostMedia,
    Segment,
    message_key,
)

ADMIN = 4_000_005
TEXT = "¡Nuevo capítulo! <b>no es HTML</b> & co"


# Pure: the command and the pace ---------------------------------------------------------------------


class TestParsing:
    @pytest.mark.parametrize(
        ("args", "segment", "days", "text"),
        [
            ("todos Hola a todos", "all", None, "Hola a todos"),
            ("ALL hi", "all", None, "hi"),
            ("vip Hola\nen dos líneas", "vip", None, "Hola\nen dos líneas"),
            ("gratis <b>tal cual</b>", "free", None, "<b>tal cual</b>"),
            ("free x", "free", None, "x"),
            ("inactivos:7 Te echamos de menos", "inactive", 7, "Te echamos de menos"),
            ("Inactive:30\nvuelve", "inactive", 30, "vuelve"),
            ("todos " + "a" * 4096, "all", None, "a" * 4096),
        ],
    )
    def test_good_commands(self, args: str, segment: str, days: int | None, text: str) -> None:
        parsed = parse_broadcast(args)
        assert (parsed.segment, parsed.inactive_days, parsed.text) == (segment, days, text)

    @pytest.mark.parametrize(
        "args",
        [
            None,
            "",
            "todos",
            "todos    ",
            "marcianos hola",
            "inactivos hola",
            "inactivos: hola",
            "inactivos:0 hola",
            "inactivos:-3 hola",
            "inactivos:x hola",
            "inactivos:1.5 hola",
            "inactivos:٣ hola",
            "inactivos:3651 hola",
            "vip:3 hola",
            "todos " + "a" * 4097,
            "todos " + "😀" * 2049,  # 4098 UTF-16 code units, as Telegram counts
        ],
    )
    def test_bad_commands_are_refused(self, args: str | None) -> None:
        with pytest.raises(BadBroadcast):
            parse_broadcast(args)

    def test_the_workflow_input_checks_the_same(self) -> None:
        with pytest.raises(ValidationError):
            BroadcastInput(broadcast_id="broadcast-1-1", actor=1, segment="inactive", text="x")
        with pytest.raises(ValidationError):
            BroadcastInput(broadcast_id="broadcast-1-1", actor=1, segment="vip", inactive_days=3, text="x")
        with pytest.raises(ValidationError):
            BroadcastInput(broadcast_id="broadcast-1-1", actor=1, segment="all", text=" \n ")
        with pytest.raises(ValidationError):
            BroadcastInput(broadcast_id="difusion 1", actor=1, segment="all", text="x")

    def test_progress_button_fits_telegram(self) -> None:
        packed = BroadcastCB(broadcast="broadcast-9999999999999-2147483647").pack()
        assert len(packed.encode()) <= 64


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sends: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class TestPacer:
    async def test_never_more_than_the_rate_in_any_second(self) -> None:
        clock = FakeClock()
        pacer = Pacer(30, clock=clock, sleep=clock.sleep)
        for i in range(200):
            await pacer.wait()
            clock.sends.append(clock.now)
            clock.now += 0.001 * (i % 7)  # the send itself takes a little while, unevenly
        for start in clock.sends:
            assert sum(1 for t in clock.sends if start <= t < start + 1.0 - 1e-9) <= 30
        gaps = [b - a for a, b in zip(clock.sends, clock.sends[1:], strict=False)]
        assert min(gaps) >= pacer.interval - 1e-9

    async def test_a_late_send_does_not_let_the_next_catch_up(self) -> None:
        clock = FakeClock()
        pacer = Pacer(10, clock=clock, sleep=clock.sleep)
        await pacer.wait()
        clock.now += 5.0  # a slow page: no burst of saved-up slots afterwards
        first = clock.now
        await pacer.wait()
        await pacer.wait()
        assert clock.now - first >= pacer.interval - 1e-9

    async def test_retry_after_holds_every_send(self) -> None:
        clock = FakeClock()
        pacer = Pacer(30, clock=clock, sleep=clock.sleep)
        await pacer.wait()
        pacer.hold(3)
        held_at = clock.now
        await pacer.wait()
        assert clock.now >= held_at + 3

    def test_a_rate_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            Pacer(0)


# Shared set-up ---------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


async def add_users(pool: asyncpg.Pool, user_ids: list[int], *, stage: str = "active", seen_days_ago: float = 0,
                    subscription: str | None = None, blocked_days_ago: float | None = None,
                    banned: bool = False) -> None:  # fmt: skip
    """``users`` rows as the journeys' projection writes them (and a subscription row for VIP states)."""
    seen = now() - timedelta(days=seen_days_ago)
    blocked = None if blocked_days_ago is None else now() - timedelta(days=blocked_days_ago)
    await pool.executemany(
        "INSERT INTO users (telegram_user_id, first_name, stage, joined_at, last_seen_at, blocked_at, banned_at)"
        " VALUES ($1, 'Fan', $2, $3, $3, $4, $5)",
        [(user_id, stage, seen, blocked, now() if banned else None) for user_id in user_ids],
    )
    if subscription is not None:
        await pool.executemany(
            "INSERT INTO subscriptions (telegram_user_id, seq, plan, status, started_at, expires_at, updated_at)"
            " VALUES ($1, 1, 'mensual', $2, $3, $4, $3)",
            [(user_id, subscription, now() - timedelta(days=20), now() + timedelta(days=10)) for user_id in user_ids],
        )


def open_chats(emulator: BotAPIEmulator, user_ids: list[int]) -> None:
    """Each user has talked to the bot before, so it may write to them."""
    for user_id in user_ids:
        emulator.private_chat(emulator.user(user_id, {"first_name": "Fan"}))


def received(emulator: BotAPIEmulator, user_id: int, text: str = TEXT) -> int:
    chat = emulator.chats.get(user_id)
    return sum(1 for e in chat.transcript if e["kind"] == "bot_message" and e["text"] == text) if chat else 0


def summaries(emulator: BotAPIEmulator, broadcast_id: str) -> list[dict[str, Any]]:
    chat = emulator.chats.get(ADMIN)
    return [e for e in chat.transcript if e["kind"] == "bot_message" and broadcast_id in str(e["text"])
            and "terminada" in str(e["text"])] if chat else []  # fmt: skip


async def start(client: Client, task_queue: str, broadcast_id: str, segment: Segment = "all",
                inactive_days: int | None = None, page_size: int = 50) -> WorkflowHandle[Any, BroadcastProgress]:  # fmt: skip
    return await client.start_workflow(
        BroadcastWorkflow.run,
        BroadcastInput(
            broadcast_id=broadcast_id,
            actor=ADMIN,
            segment=segment,
            inactive_days=inactive_days,
            text=TEXT,
            page_size=page_size,
        ),  # fmt: skip
        id=broadcast_id,
        task_queue=task_queue,
    )


ALBUM_PHOTOS = [(SHIPPED_MEDIA / name).read_bytes() for name in ("vela_1.jpg", "vela_2.jpg")]


def fresh_id() -> str:
    return f"broadcast-{new_user_id()}-1"


# The activity on its own, against Postgres and the emulator ------------------------------------------


@pytest.fixture
async def bare_bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    """A Bot API client without the session's own 429 retries: the activity's handling is what is tested."""
    bot = Bot("100000001:BROADCAST", session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url)))
    try:
        yield bot
    finally:
        await bot.session.close()


async def test_a_page_sends_once_marks_blocked_users_and_waits_out_429(
    pool: asyncpg.Pool, emulator: BotAPIEmulator, bare_bot: Bot, http: aiohttp.ClientSession
) -> None:
    reachable, blocked, no_chat, crashed = (
        [new_user_id() for _ in range(3)],
        new_user_id(),
        new_user_id(),
        new_user_id(),
    )
    everyone = [*reachable, blocked, no_chat, crashed]
    await add_users(pool, everyone)
    open_chats(emulator, [*reachable, blocked, crashed])
    await control(http, "POST", f"{emulator.base_url}/control/users/{blocked}/block")
    broadcast_id = fresh_id()
    # An earlier attempt died while this message was with Telegram: it may have arrived, it is not sent again.
    await pool.execute("INSERT INTO notifications (idempotency_key, telegram_user_id, status) VALUES ($1, $2, 'sending')",
                       message_key(broadcast_id, crashed), crashed)  # fmt: skip
    # Telegram asks to wait twice, then takes the message.
    await control(http, "POST", f"{emulator.base_url}/control/faults",
                  {"count": 2, "error_code": 429, "retry_after": 1, "methods": ["sendMessage"]})  # fmt: skip
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    activities = BroadcastActivities(bare_bot, pool)
    page = BroadcastPage(broadcast_id=broadcast_id, text=TEXT, user_ids=everyone)

    outcome = await env.run(activities.send_broadcast_page, page)
    assert (outcome.sent, outcome.blocked, outcome.failed, outcome.unconfirmed) == (3, 1, 1, 1)
    assert [received(emulator, user_id) for user_id in everyone] == [1, 1, 1, 0, 0, 0]
    assert [c["error_code"] for c in emulator.calls if c.get("error_code") == 429] == [429, 429]
    assert beats, "the page heartbeats"
    blocked_at = dict(await pool.fetch("SELECT telegram_user_id, blocked_at FROM users WHERE telegram_user_id = ANY($1)",
                                       everyone))  # fmt: skip
    assert [user_id for user_id, at in blocked_at.items() if at is not None] == [blocked]

    # The page again (a retried activity): the same counts, nothing sent twice.
    again = await env.run(activities.send_broadcast_page, page)
    assert again == outcome
    assert [received(emulator, user_id) for user_id in everyone] == [1, 1, 1, 0, 0, 0]
    statuses = dict(await pool.fetch(
        "SELECT telegram_user_id, status FROM notifications WHERE idempotency_key LIKE $1", f"broadcast:{broadcast_id}:%"
    ))  # fmt: skip
    assert statuses == {**dict.fromkeys(reachable, "sent"), blocked: "undeliverable", no_chat: "undeliverable",
                        crashed: "sending"}  # fmt: skip


async def test_an_album_broadcast_retried_after_its_words_failed_sends_no_part_twice(
    pool: asyncpg.Pool, emulator: BotAPIEmulator, bare_bot: Bot, http: aiohttp.ClientSession
) -> None:
    """An album and its words are two messages: Telegram failing the words must not send the album again."""
    users = [new_user_id() for _ in range(2)]
    await add_users(pool, users)
    open_chats(emulator, users)
    photos = [(await emulator.media.user_sends_media(ADMIN, "photo", Upload(name, "image/jpeg", content)))["file_id"]
              for name, content in (("a.jpg", ALBUM_PHOTOS[0]), ("b.jpg", ALBUM_PHOTOS[1]))]  # fmt: skip
    page = BroadcastPage(broadcast_id=fresh_id(), text=TEXT, user_ids=users,
                         media=[PostMedia(kind="photo", file_id=file_id) for file_id in photos])  # fmt: skip
    # The first person's album goes; their words meet a Telegram failure, and the page fails (to be retried).
    await control(http, "POST", f"{emulator.base_url}/control/faults",
                  {"count": 1, "error_code": 500, "methods": ["sendMessage"]})  # fmt: skip
    activities = BroadcastActivities(bare_bot, pool)
    with pytest.raises(TelegramServerError):
        await ActivityEnvironment().run(activities.send_broadcast_page, page)

    outcome = await ActivityEnvironment().run(activities.send_broadcast_page, page)
    assert (outcome.sent, outcome.failed, outcome.unconfirmed) == (2, 0, 0)
    for user_id in users:
        kinds = [e["kind"] for e in emulator.chats[user_id].transcript if e["kind"].startswith("bot_")]
        assert kinds == ["bot_media_group", "bot_message"], "each part once, in order"
        assert received(emulator, user_id) == 1


# The workflow with an in-process worker ----------------------------------------------------------------


async def test_a_broadcast_to_300_users_within_telegram_limits_skips_and_marks_the_blocked(
    client: Client, worker: Worker, task_queue: str, pool: asyncpg.Pool, emulator: BotAPIEmulator,
    http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    eligible = [new_user_id() for _ in range(280)]
    blocks_the_bot = eligible[5::28]  # 10 users Telegram refuses with 403
    no_chat = [new_user_id() for _ in range(2)]  # never wrote to the bot: "chat not found"
    came_back = [new_user_id()]  # marked blocked, seen since: they unblocked
    known_blocked = [new_user_id() for _ in range(5)]
    banned = [new_user_id() for _ in range(3)]
    onboarding = [new_user_id() for _ in range(5)]
    await add_users(pool, [*eligible, *no_chat])
    await add_users(pool, came_back, blocked_days_ago=3)
    await pool.execute("UPDATE users SET last_seen_at = now() WHERE telegram_user_id = $1", came_back[0])
    await add_users(pool, known_blocked, seen_days_ago=5, blocked_days_ago=1)
    await add_users(pool, banned, banned=True)
    await add_users(pool, onboarding, stage="onboarding")
    open_chats(emulator, [ADMIN, *eligible, *came_back, *known_blocked, *banned, *onboarding])
    for user_id in blocks_the_bot:
        await control(http, "POST", f"{emulator.base_url}/control/users/{user_id}/block")
    # Telegram's flood control, and a few 429s more to be sure some are met.
    await control(http, "POST", f"{emulator.base_url}/control/limits", {"per_second": 30, "per_chat_interval": 1})
    await control(http, "POST", f"{emulator.base_url}/control/faults",
                  {"count": 3, "error_code": 429, "retry_after": 1, "methods": ["sendMessage"]})  # fmt: skip

    broadcast_id = fresh_id()
    began = now()
    handle = await start(client, task_queue, broadcast_id, page_size=60)
    progress = await asyncio.wait_for(handle.result(), timeout=180)

    delivered = [*(set(eligible) - set(blocks_the_bot)), *came_back]
    assert (progress.sent, progress.blocked, progress.failed, progress.unconfirmed) == (len(delivered), 10, 2, 0)
    assert progress.done and progress.total == len(delivered) + 10 + 2
    assert await handle.query(BroadcastWorkflow.current_progress) == progress
    assert all(received(emulator, user_id) == 1 for user_id in delivered), "every reachable user, exactly once"
    skipped = [*blocks_the_bot, *known_blocked, *banned, *onboarding]
    assert not any(received(emulator, user_id) for user_id in skipped)
    # Telegram's 429s were all waited out: every flooded chat got its message in the end.
    flooded = {c["chat_id"] for c in emulator.calls if c.get("error_code") == 429 and "chat_id" in c}
    assert all(received(emulator, user_id) == 1 for user_id in flooded)
    assert sum(1 for c in emulator.calls if c.get("error_code") == 429) >= 3
    # The admin's text arrives as typed (plain text), not as HTML.
    first = next(e for e in emulator.chats[delivered[0]].transcript if e["kind"] == "bot_message")
    assert first["html"] is None and first["entities"] == []

    marked = await pool.fetch("SELECT telegram_user_id FROM users WHERE blocked_at > $1", began)
    assert {row["telegram_user_id"] for row in marked} == set(blocks_the_bot)
    row = await pool.fetchrow("SELECT * FROM broadcasts WHERE id = $1", broadcast_id)
    assert row is not None and row["finished_at"] is not None and row["actor"] == ADMIN
    assert (row["sent"], row["skipped_blocked"], row["failed"], row["total"]) == (len(delivered), 10, 2,
                                                                                 progress.total)  # fmt: skip

    async def reported() -> list[dict[str, Any]]:
        return summaries(emulator, broadcast_id)

    report = await eventually(reported, within=10)
    assert len(report) == 1 and f"Enviados: {len(delivered)}" in report[0]["text"]

    # The same broadcast started again (a redelivered command) sends nothing more.
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(BroadcastWorkflow.run, BroadcastInput(broadcast_id=broadcast_id, actor=ADMIN,
                                    segment="all", text=TEXT), id=broadcast_id, task_queue=task_queue,
                                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)  # fmt: skip


async def test_segments_pick_vip_free_and_inactive_users(
    client: Client, worker: Worker, task_queue: str, pool: asyncpg.Pool, emulator: BotAPIEmulator
) -> None:  # fmt: skip
    vip, grace = new_user_id(), new_user_id()
    expired, refunded, never_paid = new_user_id(), new_user_id(), new_user_id()
    away_long, away_short = new_user_id(), new_user_id()
    await add_users(pool, [vip], subscription="active")
    await add_users(pool, [grace], subscription="grace", seen_days_ago=30)
    await add_users(pool, [expired], subscription="expired")
    await add_users(pool, [refunded], subscription="refunded")
    await add_users(pool, [never_paid])
    await add_users(pool, [away_long], seen_days_ago=10)
    await add_users(pool, [away_short], seen_days_ago=2)
    everyone = [vip, grace, expired, refunded, never_paid, away_long, away_short]
    open_chats(emulator, [ADMIN, *everyone])

    async def recipients(segment: Segment, days: int | None = None) -> set[int]:
        before = {user_id: received(emulator, user_id) for user_id in everyone}
        handle = await start(client, task_queue, fresh_id(), segment, days)
        progress = await asyncio.wait_for(handle.result(), timeout=60)
        # Today's code replays what it just did (no recorded broadcast histories yet).
        await Replayer(workflows=WORKFLOWS, data_converter=client.data_converter).replay_workflow(
            await handle.fetch_history()
        )
        got = {user_id for user_id in everyone if received(emulator, user_id) > before[user_id]}
        assert progress.sent == len(got) == progress.total
        return got

    assert await recipients("vip") == {vip, grace}
    assert await recipients("free") == {expired, refunded, never_paid, away_long, away_short}
    assert await recipients("inactive", 7) == {grace, away_long}
    assert await recipients("all") == set(everyone)


async def test_long_broadcasts_continue_as_new_with_their_progress(
    pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, emulator: BotAPIEmulator
) -> None:  # fmt: skip
    env = await start_temporal_env("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=20")
    try:
        users = [new_user_id() for _ in range(40)]
        await add_users(pool, users)
        open_chats(emulator, [ADMIN, *users])
        async with Worker(env.client, task_queue="broadcasts", **journey_worker_options(pool, redis, telegram_bot)):
            broadcast_id = fresh_id()
            handle = await start(env.client, "broadcasts", broadcast_id, page_size=4)
            progress = await asyncio.wait_for(handle.result(), timeout=120)
            runs = [e async for e in env.client.list_workflows(f"WorkflowId = '{broadcast_id}'")]
        assert len(runs) > 1, "the broadcast continued as new"
        assert progress.pages == 10 and progress.sent == progress.total == 40
        assert all(received(emulator, user_id) == 1 for user_id in users)
        assert len(summaries(emulator, broadcast_id)) == 1
    finally:
        await env.shutdown()


# A worker killed mid-broadcast ---------------------------------------------------------------------------


async def test_a_broadcast_survives_a_killed_worker_without_sending_twice(
    start_worker: WorkerStarter, client: Client, task_queue: str, pool: asyncpg.Pool, emulator: BotAPIEmulator,  # noqa: F811
) -> None:  # fmt: skip
    users = [new_user_id() for _ in range(300)]
    await add_users(pool, users)
    open_chats(emulator, [ADMIN, *users])
    first = start_worker()
    broadcast_id = fresh_id()
    handle = await start(client, task_queue, broadcast_id, page_size=50)

    async def some_sent() -> int:
        return sum(received(emulator, user_id) for user_id in users) >= 75

    await eventually(some_sent, within=120, interval=0.02)
    await kill(first)
    at_kill = sum(received(emulator, user_id) for user_id in users)
    assert at_kill < len(users), "killed mid-way"

    start_worker()
    progress = await asyncio.wait_for(handle.result(), timeout=240)
    counts = {user_id: received(emulator, user_id) for user_id in users}
    assert max(counts.values()) == 1, "nobody got the broadcast twice"
    # The one message with Telegram at the instant of the kill may or may not have arrived: it is counted
    # unconfirmed and never sent again. Everyone else got theirs.
    unconfirmed = {row["telegram_user_id"] for row in await pool.fetch(
        "SELECT telegram_user_id FROM notifications WHERE idempotency_key LIKE $1 AND status = 'sending'",
        f"broadcast:{broadcast_id}:%")}  # fmt: skip
    assert len(unconfirmed) <= 1 and progress.unconfirmed == len(unconfirmed)
    assert {user_id for user_id, count in counts.items() if count == 0} <= unconfirmed
    assert progress.done and progress.sent + progress.unconfirmed == progress.total == len(users)
    assert progress.sent == sum(counts.values()) - sum(counts[user_id] for user_id in unconfirmed)
    await asyncio.sleep(1)  # room for a late duplicate or a second summary, were there one
    assert len(summaries(emulator, broadcast_id)) == 1
    assert max(received(emulator, user_id) for user_id in users) == 1


# The bot's commands, through aiogram's dispatcher ----------------------------------------------------------


@pytest.fixture
async def admin_bot(journeys: Journeys, emulator: BotAPIEmulator, pool: asyncpg.Pool, redis: Redis,
                    task_queue: str) -> AsyncIterator[Dispatcher]:  # fmt: skip
    """The broadcasts router in a dispatcher shaped like the bot's, long-polling the emulator in this process."""
    settings = hermetic.settings(ADMIN_IDS=str(ADMIN), TELEGRAM_API_BASE=emulator.base_url,
                                 TEMPORAL_TASK_QUEUE=task_queue)  # fmt: skip
    recent_albums = RecentAlbums()
    dispatcher = Dispatcher(journeys=journeys, settings=settings, pool=pool, redis=redis, recent_albums=recent_albums)
    dispatcher.update.outer_middleware(AlbumCollector(recent_albums))
    dispatcher.message.filter(F.chat.type == ChatType.PRIVATE)
    dispatcher.include_router(broadcasts.router)
    bot = create_bot(settings)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False,
                                                           polling_timeout=1))  # fmt: skip
    try:
        yield dispatcher
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, timeout=15)
        await bot.session.close()
        # The router is a module singleton: free it for the next dispatcher.
        dispatcher.sub_routers.remove(broadcasts.router)
        broadcasts.router._parent_router = None


async def test_admin_commands_start_once_show_progress_and_refuse_bad_input_and_strangers(
    admin_bot: Dispatcher, emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    client: Client,
) -> None:  # fmt: skip
    vips = [new_user_id() for _ in range(3)]
    others = [new_user_id() for _ in range(2)]
    await add_users(pool, vips, subscription="active")
    await add_users(pool, others)
    open_chats(emulator, [*vips, *others])
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    fan = EmulatedUser(http, emulator.base_url, others[0], first_name="Fan")

    async def started() -> int:
        return int(await pool.fetchval("SELECT count(*) FROM broadcasts"))

    # Bad input: a usage answer, nothing started.
    for command in ("/difundir", "/difundir marcianos hola", "/difundir todos", "/difundir inactivos:0 hola",
                    "/broadcast inactive:x hi", "/difundir vip:2 hola"):  # fmt: skip
        await admin.send(command)
        assert "Uso: /difundir" in (await admin.next_from_bot("bot_message"))["text"], command
    # Not an admin: refused, audited, nothing started.
    await fan.send("/difundir todos hola a todos")
    assert "solo para quienes administran" in (await fan.next_from_bot("bot_message"))["text"]
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'broadcast refused' AND actor = $1",
                               f"user:{fan.user_id}") == 1  # fmt: skip
    # A stranger's message the admin forwards, or a command written as a file's caption: not the admin's own typed
    # command. Refused, audited, nothing started.
    await admin.send("/difundir todos compra mi curso en mi web", forwarded_from=fan.user_id)
    assert (await admin.next_from_bot("bot_message"))["text"] == t("admin.typed_only")
    await admin.send_document("aviso.txt", b"hola", caption="/difundir todos compra mi curso en mi web")
    assert (await admin.next_from_bot("bot_message"))["text"] == t("admin.typed_only")
    assert await started() == 0
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'broadcast refused' AND actor = $1",
                               f"admin:{ADMIN}") == 2  # fmt: skip

    # A good one: first a preview, the text as each person will read it and how many it reaches; nothing starts
    # before the admin's ✅. Cancelled, it is forgotten.
    await admin.send(f"/difundir todos {TEXT}")
    assert (await admin.next_from_bot("bot_message"))["text"] == TEXT
    preview = await admin.next_saying("Llegará a")
    assert "Llegará a 5 personas (todas las personas)" in preview["text"]
    await admin.press(preview["message_id"], admin.button(preview, "Cancelar"))
    await admin.next_saying("Cancelado")
    sent = await admin.send(f"/difundir VIP {TEXT}")
    assert (await admin.next_from_bot("bot_message"))["text"] == TEXT
    preview = await admin.next_saying("Llegará a")
    assert "Llegará a 3 personas (las personas VIP)" in preview["text"]
    assert await started() == 0
    # Only the admin who asked may confirm: a fan's forged press is refused and audited.
    confirm = admin.button(preview, "Confirmar")
    forged = await fan.press(preview["message_id"], confirm, chat_id=ADMIN, forge=True)
    assert "solo para quienes administran" in (await fan.callback_answer(forged["callback_query_id"]))["text"]
    # The VIPs get the text as typed; the admin gets the id and a progress button.
    await admin.press(preview["message_id"], confirm)
    answer = await admin.next_saying("en marcha")
    # The same ✅ again (an old client still showing it): nothing more starts.
    again_pressed = await admin.press(preview["message_id"], confirm, forge=True)
    assert "ya no vale" in (await admin.callback_answer(again_pressed["callback_query_id"]))["text"]
    found = re.search(r"broadcast-\d+-\d+", answer["text"])
    assert found is not None and found.group().startswith(f"broadcast-{ADMIN}-")
    broadcast_id = found.group()
    assert "las personas VIP" in answer["text"]
    button = admin.button(answer, "Progreso")
    assert BroadcastCB.unpack(button).broadcast == broadcast_id

    async def all_vips_served() -> bool:
        return all(received(emulator, user_id) == 1 for user_id in vips)

    await eventually(all_vips_served, within=60)
    assert not any(received(emulator, user_id) for user_id in others)

    async def reported() -> list[dict[str, Any]]:
        return summaries(emulator, broadcast_id)

    await eventually(reported, within=30)
    # The progress button shows the finished broadcast and goes away.
    await admin.press(answer["message_id"], button)
    edit = await admin.next_from_bot("bot_edit")
    assert "terminada" in edit["text"] and "Enviados: 3" in edit["text"] and "De 3 personas" in edit["text"]
    assert edit["buttons"] == []
    await admin.send(f"/difusion {broadcast_id}")
    status = await admin.next_saying("📣 Difusión")
    assert "terminada" in status["text"] and "Enviados: 3" in status["text"]

    # Telegram delivers the command again: its preview, once confirmed, finds the same broadcast; nothing is sent twice.
    await redeliver(http, emulator.base_url, int(sent["update_id"]))
    repeated = await admin.next_saying("Llegará a")
    await admin.press(repeated["message_id"], admin.button(repeated, "Confirmar"))
    again = await admin.next_saying("en marcha")
    assert broadcast_id in again["text"]
    await asyncio.sleep(1)
    assert all(received(emulator, user_id) == 1 for user_id in vips)
    assert await started() == 1
    audit = await pool.fetch("SELECT actor, subject, details FROM audit_log WHERE action = 'broadcast'")
    assert [(row["actor"], row["subject"]) for row in audit] == [(f"admin:{ADMIN}", "vip")]
    assert json.loads(audit[0]["details"])["broadcast_id"] == broadcast_id

    # Status of nothing, and a stranger pressing the admin's button.
    await admin.send("/difusion nada")
    assert "Uso: /difusion" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send("/difusion broadcast-1-1")
    assert "No encuentro" in (await admin.next_from_bot("bot_message"))["text"]
    pressed = await fan.press(answer["message_id"], button, chat_id=ADMIN, forge=True)
    refusal = await fan.callback_answer(pressed["callback_query_id"])
    assert refusal["show_alert"] and "solo para quienes administran" in refusal["text"]
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'broadcast status refused'") == 1
    assert await started() == 1
