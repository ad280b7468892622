"""🎁 Pedidos through the real bot: fans buy creator's rewards, admins see the orders waiting, deliver one (the fan is
told), refund another after a confirmation (the besitos come back), and a second admin pressing an order already
handled is told so while nothing changes twice."""

from __future__ import annotations

import subprocess
from typing import Any

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from adapters import staff
from adapters.callbacks import OrderCB
from tests.bot_process import BotProcesses, bot_messages, bots_fixture  # noqa: F401  (the ``bots`` fixture)
from tests.helpers import eventually, new_user_id, settled
from tests.shop_content import POLAROID, PRICES, VOICE_NOTE, activate_shop
from tests.telegram import EmulatedUser, onboard
from tests.test_story_economy import ledger_sum
from tools.emulator import BotAPIEmulator

ADMIN = 4_000_031
OTHER_ADMIN = 4_000_032


@pytest.fixture
async def orders_bot(bots: BotProcesses, database: str, redis_server: str, worker: Worker,
                     pool: asyncpg.Pool) -> subprocess.Popen[bytes]:  # fmt: skip
    """The real bot, started once the shop's content is active (so it plays it from the first update)."""
    await activate_shop(pool)
    return bots.start(database, redis_server, ADMIN_IDS=f"{ADMIN},{OTHER_ADMIN}")


async def buy(fan: EmulatedUser, menu: dict[str, Any], item_name: str) -> dict[str, Any]:
    """From the menu: 🌟 Mis Besitos, 🛍️ Mis tesoros, the item, and its ✅; returns the screen after the purchase."""
    screen = menu
    for label in ("Mis Besitos", "Mis tesoros", item_name, "✅"):
        await fan.press(screen["message_id"], fan.button(screen, label))
        screen = await fan.next_from_bot("bot_edit", "bot_message")
    return screen


async def fresh_menu(fan: EmulatedUser) -> dict[str, Any]:
    """/diana: the menu as a new message (notifications since may have come after the last one)."""
    await fan.send("/diana")
    while True:
        menu = await fan.next_from_bot("bot_message")
        if "Mis Besitos" in str(menu["buttons"]):
            return menu


async def status(pool: asyncpg.Pool, user_id: int, purchase: str) -> str | None:
    found: str | None = await pool.fetchval("SELECT status FROM shop_purchases WHERE purchase_id = $1",
                                            f"journey-{user_id}:{purchase}")  # fmt: skip
    return found


async def audited(pool: asyncpg.Pool, action: str, user_id: int) -> list[str]:
    rows = await pool.fetch("SELECT actor FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY id", action,
                            f"user:{user_id}")  # fmt: skip
    return [row["actor"] for row in rows]


async def open_orders(admin: EmulatedUser) -> dict[str, Any]:
    await admin.send("/admin")
    panel = await admin.next_from_bot("bot_message", within=60)
    await admin.press(panel["message_id"], admin.button(panel, "Pedidos"))
    return await admin.next_from_bot("bot_message")


async def test_admins_deliver_and_refund_orders_once(
    orders_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    lola = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola", username="lola_luna")
    mateo = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Mateo")
    bought = {}
    for fan, item in ((lola, "Nota de voz"), (mateo, "Polaroid")):
        await onboard(fan)
        await staff.change(client, pool, fan.user_id, "grant", actor="support:test", reason="para la tienda",
                           amount=500)  # fmt: skip
        await fan.next_saying("Te regalo")
        screen = await buy(fan, await fresh_menu(fan), item)
        assert "Lo estoy preparando" in screen["text"], "a reward made by hand waits for the admins"
        bought[fan.user_id] = await settled(client, fan.user_id)
        await eventually(lambda fan=fan: _is(status(pool, fan.user_id, "p1"), "waiting"))  # type: ignore[misc]

    # Both admins open the list: the oldest order first, who and what, a ✅ and a ↩️ for each.
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    other = EmulatedUser(http, emulator.base_url, OTHER_ADMIN, first_name="Otra")
    listed = await open_orders(admin)
    stale = await open_orders(other)
    text = listed["text"]
    assert "Pedidos pendientes: 2" in text
    assert text.index("Lola") < text.index("Mateo"), "the oldest first"
    assert f"1. Nota de voz personalizada ({VOICE_NOTE}) · 💋 {PRICES[VOICE_NOTE]}" in text
    assert f"para Lola @lola_luna · {lola.user_id} · p1" in text
    assert (
        f"2. Polaroid firmada ({POLAROID}) · 💋 {PRICES[POLAROID]}" in text and f"para Mateo · {mateo.user_id}" in text
    )
    labels = [button["text"] for row in listed["buttons"] for button in row]
    assert labels == ["✅ Entregado 1", "↩️ Reembolsar 1", "✅ Entregado 2", "↩️ Reembolsar 2", "🔄 Actualizar"]

    # ✅ Entregado: Lola is told, her order is delivered in the journey and in Postgres; the list is redrawn.
    pressed = await admin.press(listed["message_id"], admin.button(listed, "Entregado 1"))
    assert "Pedido p1 entregado" in (await admin.callback_answer(pressed["callback_query_id"]))["text"]
    redrawn = await admin.next_from_bot("bot_edit")
    assert "Pedidos pendientes: 1" in redrawn["text"] and "Lola" not in redrawn["text"]
    told = await lola.next_saying("Ya está listo lo que te preparé")
    assert "Nota de voz personalizada" in told["text"]
    assert (await settled(client, lola.user_id)).wallet.purchases[0].status == "delivered"
    await eventually(lambda: _is(status(pool, lola.user_id, "p1"), "delivered"))

    # The other admin's list still offers it: told it was delivered already, and nothing happens twice.
    pressed = await other.press(stale["message_id"], other.button(stale, "Entregado 1"))
    answer = await other.callback_answer(pressed["callback_query_id"])
    assert answer["show_alert"] and "ya está entregado" in answer["text"]
    assert "Lola" not in (await other.next_from_bot("bot_edit"))["text"], "their list is redrawn too"
    # A forged press for an order that never was, and one naming no order at all: answered, nothing changes.
    pressed = await admin.press(redrawn["message_id"], OrderCB(action="deliver", user_id=lola.user_id,
                                                               purchase="p9").pack(), forge=True)  # fmt: skip
    assert "ya no existe" in (await admin.callback_answer(pressed["callback_query_id"]))["text"]
    pressed = await admin.press(redrawn["message_id"], OrderCB(action="deliver", user_id=lola.user_id,
                                                               purchase="; DROP").pack(), forge=True)  # fmt: skip
    assert "Ese botón ya no existe" in (await admin.callback_answer(pressed["callback_query_id"]))["text"]
    assert await audited(pool, "deliver_order", lola.user_id) == [f"admin:{ADMIN}"]
    assert sum("Ya está listo" in m["text"] for m in bot_messages(await lola.transcript())) == 1

    # ↩️ Reembolsar asks first; ✖️ changes nothing; ✅ gives Mateo's besitos back, once.
    for answer_label, done in (("Cancelar", "Cancelado"), ("Confirmar", "reembolsado")):
        await admin.press(redrawn["message_id"], admin.button(redrawn, "Reembolsar 1"))
        preview = await admin.next_saying("Vas a reembolsar el pedido p1 de Mateo")
        assert f"{PRICES[POLAROID]} besitos vuelven a su saldo" in preview["text"]
        await admin.press(preview["message_id"], admin.button(preview, answer_label))
        await admin.next_saying(done)
        if answer_label == "Cancelar":
            assert (await settled(client, mateo.user_id)).wallet.purchases[0].status == "waiting"
    emptied = await admin.next_from_bot("bot_edit")
    assert emptied["message_id"] == redrawn["message_id"] and "ninguno" in emptied["text"]
    await mateo.next_saying(f"Te devolví {PRICES[POLAROID]} besitos por Polaroid firmada")
    refunded = await settled(client, mateo.user_id)
    assert refunded.wallet.purchases[0].status == "refunded"
    assert refunded.besitos == bought[mateo.user_id].besitos + PRICES[POLAROID]
    assert await ledger_sum(pool, mateo.user_id) == refunded.besitos
    refunds = await pool.fetch("SELECT amount FROM besitos_ledger WHERE telegram_user_id = $1 AND action = "
                               "'shop_refund'", mateo.user_id)  # fmt: skip
    assert [row["amount"] for row in refunds] == [PRICES[POLAROID]]
    await eventually(lambda: _is(status(pool, mateo.user_id, "p1"), "refunded"))

    # The other admin's stale ↩️: told it was refunded already; no preview, no second refund.
    pressed = await other.press(stale["message_id"], other.button(stale, "Reembolsar 2"))
    answer = await other.callback_answer(pressed["callback_query_id"])
    assert answer["show_alert"] and "ya está reembolsado" in answer["text"]
    assert await audited(pool, "refund_purchase", mateo.user_id) == [f"admin:{ADMIN}"]
    assert (await settled(client, mateo.user_id)).besitos == refunded.besitos

    # A refund waiting for its ✅ while another admin delivers the order: the ✅ refunds nothing behind their back.
    screen = await buy(lola, await fresh_menu(lola), "Polaroid")
    assert "Lo estoy preparando" in screen["text"]
    await eventually(lambda: _is(status(pool, lola.user_id, "p2"), "waiting"))
    await admin.press(emptied["message_id"], admin.button(emptied, "Actualizar"))
    again = await admin.next_from_bot("bot_edit")
    assert "Pedidos pendientes: 1" in again["text"] and f"{lola.user_id} · p2" in again["text"]
    await admin.press(again["message_id"], admin.button(again, "Reembolsar 1"))
    preview = await admin.next_saying("Vas a reembolsar el pedido p2 de Lola")
    fresh = await open_orders(other)
    await other.press(fresh["message_id"], other.button(fresh, "Entregado 1"))
    await lola.next_saying("Ya está listo lo que te preparé: Polaroid firmada")
    before_refund = await settled(client, lola.user_id)
    await admin.press(preview["message_id"], admin.button(preview, "Confirmar"))
    await admin.next_saying("ya está entregado")
    after = await settled(client, lola.user_id)
    assert after.wallet.purchases[1].status == "delivered" and after.besitos == before_refund.besitos
    assert await audited(pool, "refund_purchase", lola.user_id) == []
    assert await audited(pool, "deliver_order", lola.user_id) == [f"admin:{ADMIN}", f"admin:{OTHER_ADMIN}"]

    # A fan pressing an order's button is refused and audited; nothing changes.
    pressed = await lola.press(redrawn["message_id"], OrderCB(action="deliver", user_id=lola.user_id,
                                                              purchase="p1").pack(), chat_id=ADMIN, forge=True)  # fmt: skip
    assert "solo para quienes administran" in (await lola.callback_answer(pressed["callback_query_id"]))["text"]
    assert len(await audited(pool, "deliver_order", lola.user_id)) == 2
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'orders refused' AND actor = $1",
                               f"user:{lola.user_id}") == 1  # fmt: skip

    # /usuario shows the wallet as support's show does.
    await admin.send("/usuario @lola_luna")
    shown = await admin.next_saying("Mochila")
    spendable = (await settled(client, lola.user_id)).besitos
    assert f"Para gastar: {spendable} (reservados en subastas 0) · gastados {PRICES[VOICE_NOTE] + PRICES[POLAROID]}" in (
        shown["text"])  # fmt: skip
    assert "Mochila: 2 · pedidos pendientes: 0" in shown["text"]

    # The dashboard counts the sales and the orders waiting (none now).
    await admin.send("/admin")
    panel = await admin.next_from_bot("bot_message", within=60)
    await admin.press(panel["message_id"], admin.button(panel, "Dashboard"))
    album = await admin.next_from_bot("bot_media_group", within=60)
    assert len(album["items"]) == 4 and "Besitos por día" in album["items"][3]["caption"]
    board = (await admin.next_from_bot("bot_message"))["text"]
    assert "Pedidos pendientes: 0" in board and "Subastas en curso: 0" in board
    assert f"{VOICE_NOTE} Nota de voz personalizada: 1 · {PRICES[VOICE_NOTE]} besitos" in board
    # Mateo's polaroid was refunded: only Lola's counts.
    assert f"{POLAROID} Polaroid firmada: 1 · {PRICES[POLAROID]} besitos" in board


async def _is(found: Any, expected: str) -> bool:
    return bool(await found == expected)
