"""Paid media through the real bot: an admin sells photos for Stars (/vender), a fan buys them once, the purchase is
kept in Postgres and in the journey (a redelivered purchase applied once), counts in the dashboard's revenue and
agrees with Telegram's Star transactions; bad input sells nothing."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import aiohttp
import asyncpg
from aiogram import Bot
from temporalio.client import Client

from adapters.dashboard import dashboard
from adapters.stars import TelegramStars, reconcile
from tests.helpers import eventually, new_user_id, settled
from tests.telegram import EmulatedUser, onboard, redeliver
from tests.test_community_end_to_end import ADMIN, community_bot  # noqa: F401  (the real bot, with an admin)
from tests.test_media_posts import OTHER_PHOTO, PHOTO, VOICE
from tools.emulator import BotAPIEmulator


async def test_paid_media_sold_bought_once_counted_and_reconciled(
    community_bot: subprocess.Popen[bytes],  # noqa: F811
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool, client: Client, telegram_bot: Bot,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Iris")
    await onboard(fan)
    before = await dashboard(pool, datetime.now(UTC))

    # Bad input sells nothing: no media, no price, a voice note, a price Telegram refuses.
    for caption, kind, content in (("/vender 30 todos sin nada", None, b""), ("/vender todos mira", "photo", PHOTO),
                                   ("/vender 30 todos escucha", "voice", VOICE),
                                   ("/vender 30000 todos caro", "photo", PHOTO)):  # fmt: skip
        if kind is None:
            await admin.send(caption)
        else:
            await admin.send_media(kind, f"x.{'ogg' if kind == 'voice' else 'jpg'}", content, caption=caption)
        answer = await admin.next_from_bot("bot_message")
        assert "Uso: /vender" in answer["text"], caption
    assert await pool.fetchval("SELECT count(*) FROM paid_media_offers") == 0

    # Two photos sold for 30 Stars to everyone: a preview (the photos as they are), then ✅.
    await admin.send_album([("photo", "a.jpg", PHOTO), ("photo", "b.jpg", OTHER_PHOTO)],
                           caption="/vender 30 todos Lo que nadie más ve")  # fmt: skip
    preview = await admin.next_saying("Se venderá por 30 ⭐")
    await admin.press(preview["message_id"], admin.button(preview, "Confirmar"))
    await admin.next_saying("en marcha")
    offer = await pool.fetchrow("SELECT payload, star_count, media_kinds FROM paid_media_offers")
    assert offer is not None and offer["star_count"] == 30 and offer["media_kinds"] == ["photo", "photo"]
    payload = offer["payload"]
    assert payload.startswith("paid:broadcast-")

    sold = await fan.next_from_bot("bot_paid_media", within=60)
    assert sold["star_count"] == 30 and sold["payload"] == payload and sold["caption"] == "Lo que nadie más ve"
    assert sold["protected"] and len(sold["items"]) == 2
    seen = await fan.sees(sold["message_id"])
    assert all(item["type"] == "preview" for item in seen["paid_media"]["paid_media"]), "blurred until bought"

    # Bought: kept in Postgres with its price, remembered by the journey.
    bought = await fan.buy_paid_media(sold["message_id"])
    assert bought["update_id"] is not None and bought["star_count"] == 30

    async def remembered() -> bool:
        state = await settled(client, fan.user_id)
        return payload in state.paid_media

    assert await eventually(remembered, within=30)
    rows = await pool.fetch("SELECT telegram_user_id, star_count FROM paid_media_purchases WHERE payload = $1", payload)
    assert [tuple(row) for row in rows] == [(fan.user_id, 30)]
    seen = await fan.sees(sold["message_id"])
    assert [item["type"] for item in seen["paid_media"]["paid_media"]] == ["photo", "photo"], "unlocked"

    # Telegram delivers the purchase again: applied once, in Postgres and in the journey.
    state = await settled(client, fan.user_id)
    mark = len(emulator.calls)
    await redeliver(http, emulator.base_url, int(bought["update_id"]))
    await eventually(lambda: _polled_since(emulator, mark))
    assert await settled(client, fan.user_id) == state
    assert await pool.fetchval("SELECT count(*) FROM paid_media_purchases WHERE payload = $1", payload) == 1

    # The dashboard counts it, among today's Stars from paid media.
    after = await dashboard(pool, datetime.now(UTC))
    assert after.paid_media_purchases - before.paid_media_purchases == 1
    assert after.paid_media_stars - before.paid_media_stars == 30
    today = after.revenue_days[-1].stars.get("paid_media", 0) - before.revenue_days[-1].stars.get("paid_media", 0)
    assert today == 30

    # Reconciled with Telegram's Star transactions: they agree; a purchase lost from Postgres is named.
    assert [d for d in await reconcile(pool, TelegramStars(telegram_bot)) if payload in d.problem] == []
    await pool.execute("DELETE FROM paid_media_purchases WHERE payload = $1", payload)
    [missing] = [d for d in await reconcile(pool, TelegramStars(telegram_bot)) if payload in d.problem]
    assert missing.problem == f"paid media {payload!r} bought by user {fan.user_id}, not recorded"


async def _polled_since(emulator: BotAPIEmulator, mark: int) -> bool:
    """The bot asked for updates again after the redelivered one (it was handled and confirmed)."""
    polls: int = sum(call["method"] == "getUpdates" for call in emulator.calls[mark:])
    return polls >= 2
