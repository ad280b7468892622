"""Personal data goes only where a rule needs it, and leaves when the user asks (part of it: see the README)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis
from temporalio.api.history.v1 import History
from temporalio.client import Client

from activities.leaderboard import write_totals
from infra.payload_codec import JourneyCodec, decode_all
from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, onboard
from tests.test_end_to_end import bot_process  # noqa: F401  (the real bot, as its own process)
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
        events = [event async for event in client.get_workflow_handle(journey_id(user.user_id)).fetch_history_events()]
        whole = History(events=events)  # read as operators do, through the codec (it is encrypted in Temporal)
        assert isinstance(client.data_converter.payload_codec, JourneyCodec)
        await decode_all(whole, client.data_converter.payload_codec)
        raw = whole.SerializeToString()
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
