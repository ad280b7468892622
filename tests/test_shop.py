"""Spending besitos through the real bot and the Bot API emulator: buying with exact and too few besitos, a double
press, the last unit of a limited item bought by two users at once, a priced choice, a purchase opened again from the
backpack, and VIP days bought extending an active VIP. After every test the ledger's sum is each user's balance."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.shop import ShopActivities
from adapters.content_store import activate, parse_content
from tests.helpers import new_user_id, settled
from tests.telegram import EmulatedUser, onboard, pay_invoice, vip_invoice
from tests.test_end_to_end import bot_environment, running_bot
from tests.test_shop_rules import shop_document
from tests.test_story_media import MEDIA_SCREENS, next_with_button, pressing
from tools.emulator import BotAPIEmulator
from workflows.contracts import JourneyState, StockClaim

WELCOME = 65  # besitos after the introduction: First Steps and the first daily visit


@pytest.fixture
async def shop_bot(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker, pool: asyncpg.Pool,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    """The real bot, as its own process, with this test's catalogue and priced story active (the rate limit has tests
    of its own)."""
    async with pool.acquire() as conn:
        await activate(conn, parse_content(yaml.safe_dump(shop_document(), allow_unicode=True, sort_keys=False)))
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, RATE_LIMIT_UPDATES="0")
    async with running_bot(env) as process:
        yield process


class Shoppers:
    """The users of one test; at its end every one's ledger adds up to their balance."""

    def __init__(self, http: aiohttp.ClientSession, emulator: BotAPIEmulator, client: Client,
                 pool: asyncpg.Pool) -> None:  # fmt: skip
        self.http, self.emulator, self.client, self.pool = http, emulator, client, pool
        self.users: list[EmulatedUser] = []

    def new(self, name: str) -> EmulatedUser:
        user = EmulatedUser(self.http, self.emulator.base_url, new_user_id(), first_name=name)
        self.users.append(user)
        return user

    async def state(self, user: EmulatedUser) -> JourneyState:
        return await settled(self.client, user.user_id)

    async def ledger(self, user: EmulatedUser) -> list[tuple[str, int]]:
        rows = await self.pool.fetch("SELECT action, amount FROM besitos_ledger WHERE telegram_user_id = $1 ORDER BY id",
                                     user.user_id)  # fmt: skip
        return [(row["action"], row["amount"]) for row in rows]

    async def balanced(self) -> None:
        for user in self.users:
            state = await self.state(user)
            assert sum(amount for _, amount in await self.ledger(user)) == state.besitos, user.user_id


@pytest.fixture
async def shoppers(http: aiohttp.ClientSession, emulator: BotAPIEmulator, client: Client,
                   pool: asyncpg.Pool) -> AsyncIterator[Shoppers]:  # fmt: skip
    people = Shoppers(http, emulator, client, pool)
    yield people
    await people.balanced()


async def screen(user: EmulatedUser) -> dict[str, Any]:
    """The next screen the bot showed (sent or edited, with or without media; a caption is its text)."""
    entry = await user.next_from_bot(*MEDIA_SCREENS)
    return {**entry, "text": entry.get("text") or entry.get("caption") or ""}


async def tap(user: EmulatedUser, shown: dict[str, Any], label: str) -> dict[str, Any]:
    await user.press(shown["message_id"], user.button(shown, label))
    return await screen(user)


async def to_item(user: EmulatedUser, menu: dict[str, Any], name: str) -> dict[str, Any]:
    """From the menu: 🛍️, then the item called ``name``: its confirmation screen."""
    shelf = await tap(user, menu, "Mis tesoros")
    assert "Mis tesoros" in shelf["text"]
    return await tap(user, shelf, name)


async def test_exact_funds_buy_once_the_backpack_opens_it_again_and_too_few_say_what_is_missing(
    shop_bot: subprocess.Popen[bytes], shoppers: Shoppers,
) -> None:  # fmt: skip
    user = shoppers.new("Lucía")
    item = await to_item(user, await onboard(user), "El espejo")
    assert "Cuesta <b>65</b> besitos. Tienes 65; te quedarán 0" in item["html"]

    bought = await tap(user, item, "💋 65")
    assert bought["type"] == "video" and "Es tuyo" in bought["text"]  # the pack itself, protected
    assert (await user.sees(bought["message_id"]))["has_protected_content"]
    assert sorted(await shoppers.ledger(user)) == [("achievement_unlocked", 50), ("daily_login", 15),
                                                   ("shop_purchase", -65)]  # fmt: skip
    state = await shoppers.state(user)
    assert (state.besitos, state.lifetime_besitos, state.wallet.spent) == (0, WELCOME, 65)

    backpack = await tap(user, bought, "Mi mochila")
    assert "Tu mochila" in backpack["text"] and "El espejo" in str(backpack["buttons"])
    again = await tap(user, backpack, "El espejo")
    assert again["type"] == "video" and "El espejo" in again["text"]
    assert len(await shoppers.ledger(user)) == 3, "opening it again costs nothing"

    # Nothing left: another item says how many besitos are missing, and offers no way to buy it.
    shelf = await tap(user, again, "Volver a mis tesoros")
    letter = await tap(user, shelf, "Una carta")
    assert "te faltan <b>30</b>" in letter["html"]
    assert "💋 30" not in str(letter["buttons"])
    row = await shoppers.pool.fetchrow("SELECT item, item_kind, price, status FROM shop_purchases "
                                       "WHERE telegram_user_id = $1", user.user_id)  # fmt: skip
    assert row is not None and dict(row) == {"item": "espejo", "item_kind": "media", "price": 65, "status": "delivered"}


async def test_a_double_press_on_buy_charges_once(shop_bot: subprocess.Popen[bytes], shoppers: Shoppers) -> None:
    user = shoppers.new("Marta")
    item = await to_item(user, await onboard(user), "Una carta")
    data = user.button(item, "💋 30")
    presses = await asyncio.gather(user.press(item["message_id"], data), user.press(item["message_id"], data))
    opened = await screen(user)
    assert "Te pienso más de lo que admito" in opened["text"]
    answers = [await user.callback_answer(press["callback_query_id"]) for press in presses]
    assert sum(1 for a in answers if a.get("show_alert")) == 1, "the second press is told the screen moved on"
    assert [row for row in await shoppers.ledger(user) if row[1] < 0] == [("shop_purchase", -30)]
    assert len((await shoppers.state(user)).wallet.purchases) == 1


async def test_the_last_unit_bought_by_two_at_once_goes_to_one_and_the_other_pays_nothing(
    shop_bot: subprocess.Popen[bytes], shoppers: Shoppers,
) -> None:  # fmt: skip
    first, second = shoppers.new("Ana"), shoppers.new("Bea")
    items = [await to_item(user, await onboard(user), "Nota de voz") for user in (first, second)]
    await asyncio.gather(*(user.press(item["message_id"], user.button(item, "💋 40"))
                           for user, item in zip((first, second), items, strict=True)))  # fmt: skip
    shown = {user.user_id: await screen(user) for user in (first, second)}
    texts = sorted(entry["text"] for entry in shown.values())
    assert "Lo estoy preparando" in texts[0] and "se terminó justo ahora" in texts[1], texts
    states = [await shoppers.state(user) for user in (first, second)]
    assert sorted(s.besitos for s in states) == [WELCOME - 40, WELCOME]
    assert sorted(len(s.wallet.purchases) for s in states) == [0, 1]
    assert await shoppers.pool.fetchval("SELECT count(*) FROM shop_stock_claims WHERE item = 'nota_de_voz' "
                                        "AND released_at IS NULL") == 1  # fmt: skip
    assert await shoppers.pool.fetchval("SELECT status FROM shop_purchases WHERE item = 'nota_de_voz'") == "waiting"


async def test_a_priced_choice_shows_its_price_asks_and_charges_once(
    shop_bot: subprocess.Popen[bytes], shoppers: Shoppers,
) -> None:  # fmt: skip
    user = shoppers.new("Sofía")
    menu = await onboard(user)
    await user.press(menu["message_id"], user.button(menu, "Continuar Historia"))
    f01 = await screen(user)
    assert "Seguirla sin preguntar · 💋 15" in str(f01["buttons"])
    asked = await tap(user, f01, "Seguirla sin preguntar")
    assert "cuesta <b>15</b> besitos" in asked["html"] and "te quedarán 50" in asked["html"]
    await user.press(asked["message_id"], pressing(asked, "story_pay.c01_follow"))
    f02 = await screen(user)
    assert "Continuar" in str(f02["buttons"])
    state = await shoppers.state(user)
    assert state.story.fragment_id == "f02" and "choice:c01_follow" in state.wallet.paid_story
    assert [row for row in await shoppers.ledger(user) if row[1] < 0] == [("story_price", -15)]


async def test_vip_days_bought_with_besitos_extend_an_active_vip(
    shop_bot: subprocess.Popen[bytes], shoppers: Shoppers,
) -> None:  # fmt: skip
    user = shoppers.new("Vera")
    menu = await onboard(user)
    invoice = await vip_invoice(user, menu)
    assert (await pay_invoice(user, invoice))["ok"]
    await user.next_saying("círculo")
    paid = await shoppers.state(user)
    assert paid.vip and paid.subscription.expires_at is not None
    await user.send("/diana")
    menu = await next_with_button(user, "Mis tesoros")
    item = await to_item(user, menu, "Una semana a mi lado")
    await tap(user, item, "💋 60")
    state = await shoppers.state(user)
    assert state.subscription.expires_at == paid.subscription.expires_at + timedelta(days=7)
    assert [c.stars for c in state.subscription.charges] == [250, 0]
    # No Stars moved for the bought days: Postgres keeps one payment.
    assert await shoppers.pool.fetchval("SELECT count(*) FROM payments WHERE telegram_user_id = $1", user.user_id) == 1


async def test_a_unit_is_claimed_once_per_claim_and_a_released_claim_tried_again_takes_it_back(
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    shelf = ShopActivities(pool)
    at = datetime.now(UTC)

    async def claim(claim_id: str, user: int) -> bool:
        claimed = await shelf.claim_stock(StockClaim(claim_id=claim_id, item="unica", stock=1, user_id=user, at=at))
        return claimed.claimed

    assert await claim("a", 1) and await claim("a", 1), "a retried claim answers what it got"
    assert not await claim("b", 2), "the only unit is taken"
    await pool.execute("UPDATE shop_stock_claims SET released_at = now() WHERE claim_id = 'a'")  # its turn refused
    assert await claim("a", 1), "the same purchase tried again takes the unit back"
    assert not await claim("b", 2)
    assert await pool.fetchval("SELECT count(*) FROM shop_stock_claims WHERE released_at IS NULL") == 1
