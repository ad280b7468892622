"""Personal data goes only where a rule needs it, and leaves when the user asks (part of it: see the README)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.leaderboard import write_totals
from adapters import staff
from tests import hermetic
from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, onboard, pay_invoice, vip_invoice
from tests.test_end_to_end import bot_environment, bot_process, stop_bot  # noqa: F401  (the real bot, as its own process)
from tools import support
from tools.emulator import BotAPIEmulator
from workflows.contracts import LEADERBOARD_ALL_TIME, UpdateLeaderboard, weekly_leaderboard
from workflows.journey import journey_id


async def test_what_a_user_writes_to_diana_never_enters_the_journey(
    bot_process: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession,  # noqa: F811
    client: Client,
) -> None:  # fmt: skip
    """Diana answers free text in her voice; no rule reads the words, so they stay in the chat, out of Temporal."""
    user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Xiomara")
    await onboard(user)
    phrase = "el faro de Quillacollo guarda mi secreto 7731"
    await user.send(phrase)
    assert "Me gusta que me hables" in (await user.next_from_bot("bot_message"))["text"]
    await user.send("/start campana_tarijena")  # a deep link's payload no rule reads is not kept either
    await user.next_from_bot("bot_message")

    async def history() -> bytes | None:
        # Read as operators do, through the codec (it is encrypted in Temporal).
        events = (await support.decoded_history(client, user.user_id)).events
        raw = b"".join(event.SerializeToString() for event in events)
        return raw if raw.count(b"Interact") >= 6 else None

    raw = await eventually(history)
    assert raw is not None and b"Xiomara" in raw, "the history was read whole (the name is in it)"
    assert phrase.encode() not in raw and b"Quillacollo" not in raw
    assert b"tarijena" not in raw


async def test_an_erased_user_leaves_every_weekly_board(redis: Redis) -> None:
    user_id = new_user_id()
    for week, besitos in (("2026-W46", 40), ("2026-W47", 25), ("2026-W48", 10)):
        await write_totals(redis, UpdateLeaderboard(user_id=user_id, name="Xiomara", lifetime_besitos=75, week=week,
                                                    week_besitos=besitos))  # fmt: skip
    await write_totals(redis, UpdateLeaderboard(user_id=user_id, name="", lifetime_besitos=0, week="2026-W48",
                                                week_besitos=0, remove=True))  # fmt: skip
    for board in (LEADERBOARD_ALL_TIME, *(weekly_leaderboard(w) for w in ("2026-W46", "2026-W47", "2026-W48"))):
        assert await redis.zscore(board, str(user_id)) is None, board


async def test_the_export_shows_what_was_done_about_the_user_and_names_no_one_else(pool: asyncpg.Pool) -> None:
    from datetime import UTC, datetime, timedelta

    from adapters.audit import user_subject, write_audit
    from adapters.exports import personal_data

    user_id, admin_id = new_user_id(), 4_000_777_123
    now = datetime.now(UTC)
    await pool.execute("INSERT INTO users (telegram_user_id, stage, first_name) VALUES ($1, 'active', 'Xiomara')",
                       user_id)  # fmt: skip
    await pool.execute("INSERT INTO notifications (idempotency_key, telegram_user_id, status) VALUES ($1, $2, 'sent')",
                       f"broadcast:broadcast-{admin_id}-77:{user_id}", user_id)  # fmt: skip
    await pool.execute("INSERT INTO vip_passes (token, plan, created_by, expires_at, redeemed_by, redeemed_at) "
                       "VALUES ($1, 'mensual', $2, $3, $4, $5)", f"tok{user_id}", admin_id, now + timedelta(days=7),
                       user_id, now)  # fmt: skip
    await write_audit(pool, f"admin:{admin_id}", "grant", user_subject(user_id), "premio", {"amount": 50})
    await write_audit(pool, f"user:{user_id}", "refund refused", None, "not an admin")
    data: dict[str, Any] = await personal_data(pool, user_id)
    text = json.dumps(data)
    assert str(admin_id) not in text, "no other person's Telegram id"
    assert [(row["by"], row["action"]) for row in data["audit_log"]] == [("admin", "grant"), ("you", "refund refused")]
    assert data["audit_log"][0]["details"] == {"amount": 50}
    assert data["notifications"][0]["message"] == "broadcast" and data["vip_passes"][0]["plan"] == "mensual"


async def test_the_worker_sets_how_long_temporal_keeps_closed_journeys() -> None:
    """Until erasure deletes a journey's runs, they are gone at the namespace's retention: the worker sets it."""
    from datetime import timedelta

    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    from infra.connections import ensure_retention
    from tests.conftest import start_temporal_env

    env = await start_temporal_env()
    try:
        client = env.client

        async def retention() -> timedelta:
            described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
            return described.config.workflow_execution_retention_ttl.ToTimedelta()

        assert await ensure_retention(client, "default", 9) is True
        assert await retention() == timedelta(days=9)
        assert await ensure_retention(client, "default", 9) is False, "already so: nothing to change"
        assert await ensure_retention(client, "default", 0) is False and await retention() == timedelta(days=9)
        assert await ensure_retention(client, "no-such-namespace", 9) is False, "refused: left as it is, logged"
    finally:
        await env.shutdown()


async def test_after_erasure_nothing_anywhere_reads_the_users_name_username_or_words(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker, client: Client, pool: asyncpg.Pool, redis: Redis, http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture, tmp_path: Path,
) -> None:  # fmt: skip
    """A user with a unique name, username and phrase plays the introduction, the story, writes to Diana, pays
    Stars and is given besitos by support, then erases their data from Configuración. Afterwards none of the three
    can be read in Temporal (every run, raw, through its own API), in any Postgres row, any Redis key or value, or
    the bot's and the worker's logs (at DEBUG)."""
    caplog.set_level(logging.DEBUG)
    marker = uuid.uuid4().hex[:8]
    name, username, phrase = f"Zenobia{marker}", f"zq_{marker}", f"el faro de Quillacollo{marker} guarda mi secreto"
    needles = [needle.lower().encode() for needle in (name, username, phrase, f"Quillacollo{marker}")]
    log_file = tmp_path / "bot.log"
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, LOG_LEVEL="DEBUG")
    with log_file.open("wb") as log:
        bot = hermetic.diana_process(["-m", "tools.cli", "bot"], env, stdout=log, stderr=subprocess.STDOUT)
    try:
        user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name=name, username=username)
        menu = await onboard(user)
        await user.press(menu["message_id"], user.button(menu, "Historia"))
        fragment = await user.next_from_bot("bot_edit")
        await user.press(fragment["message_id"], fragment["buttons"][0][0]["callback_data"])
        await user.next_from_bot("bot_edit", "bot_message")  # from the first fragment's photo to text: sent anew
        await user.send(phrase)
        await user.next_from_bot("bot_message")

        await user.send("/start")
        menu = await _next_menu(user)
        invoice = await vip_invoice(user, menu)
        paid = await pay_invoice(user, invoice)
        assert paid["ok"], paid
        await user.next_saying("círculo íntimo")
        await user.next_saying("canal privado")  # the VIP channel's invitation, sent after
        await staff.change(client, pool, user.user_id, "grant", actor="support:test", reason="a gift", amount=10)
        known = await pool.fetchrow("SELECT first_name, username FROM users WHERE telegram_user_id = $1", user.user_id)
        assert tuple(known) == (name, username), "the scan below looks for what was really there"

        await user.send("/start")
        menu = await _next_menu(user)
        await user.press(menu["message_id"], user.button(menu, "Configuración"))
        settings_screen = await user.next_from_bot("bot_edit")
        await user.press(settings_screen["message_id"], user.button(settings_screen, "Borrar mis datos"))
        ask = await user.next_from_bot("bot_edit")
        await user.press(ask["message_id"], user.button(ask, "Sí, borrar todo"))
        assert "He olvidado todo" in (await user.next_from_bot("bot_edit"))["text"]

        workflow_id = journey_id(user.user_id)

        async def deleted() -> bool | None:
            runs = [r async for r in temporal_env.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
            deletion = [r async for r in temporal_env.client.list_workflows(
                f"WorkflowType = 'JourneyDeletion' AND TaskQueue = '{task_queue}' AND ExecutionStatus = 'Completed'")]  # fmt: skip
            keys = await pool.fetchval("SELECT count(*) FROM payload_keys WHERE workflow_id = $1", workflow_id)
            return (not runs and bool(deletion) and keys == 0) or None

        await eventually(deleted, within=90, interval=0.5)
    finally:
        await stop_bot(bot)

    found: dict[str, list[str]] = {}

    def scan(where: str, data: bytes) -> None:
        lowered = data.lower()
        hits = [needle.decode() for needle in needles if needle in lowered]
        if hits:
            found.setdefault(where, []).extend(hits)

    # Temporal: every execution this test's worker ran, raw (as its database or a backup holds them).
    async for execution in temporal_env.client.list_workflows(f"TaskQueue = '{task_queue}'"):
        handle = temporal_env.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        events = [event async for event in handle.fetch_history_events()]
        scan(f"temporal {execution.id} history", b"".join(event.SerializeToString() for event in events))
        scan(f"temporal {execution.id} memo", (await handle.describe()).raw_description.SerializeToString())
    # Postgres: every row of every table.
    async with pool.acquire() as conn:
        for table in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
            rows = io.BytesIO()
            await conn.copy_from_table(table["tablename"], output=rows)
            scan(f"postgres {table['tablename']}", rows.getvalue())
    # Redis: every key and value.
    async for key in redis.scan_iter():
        scan(f"redis {key}", f"{key} {await _redis_value(redis, key)}".encode())
    # The logs: the bot's (its own process) and the worker's (this one's).
    scan("bot log", log_file.read_bytes())
    scan("worker log", caplog.text.encode())
    assert log_file.stat().st_size > 0 and caplog.text, "the logs were read"
    assert found == {}, f"still readable after erasure: {found}"


async def _redis_value(redis: Redis, key: str) -> object:
    kind = await redis.type(key)
    if kind == "hash":
        return await redis.hgetall(key)
    if kind == "zset":
        return await redis.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return await redis.lrange(key, 0, -1)
    if kind == "set":
        return await redis.smembers(key)
    if kind == "stream":
        return await redis.xrange(key)
    return await redis.get(key)


async def _next_menu(user: EmulatedUser) -> dict[str, Any]:
    """The next message from the bot that is the menu (a notice may come before it)."""
    while "Configuración" not in str((message := await user.next_from_bot("bot_message"))["buttons"]):
        pass
    return message
