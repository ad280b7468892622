"""Auctions on real servers, through the real bot and the emulator: a bidding war with outbids, an extension and a
worker killed mid-auction, where the auction and every journey agree to the besito; bids refused with a clear answer;
the admin's /subasta with every bad input, /subastas and a cancellation that gives every reserve back."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters import auctions
from adapters.callbacks import AuctionCB
from adapters.content_store import CheckedContent, activate, content_digest
from adapters.journeys import request_support
from adapters.texts import t
from tests import hermetic
from tests.bot_process import BotProcesses, bots_fixture  # noqa: F401 -- the fixture
from tests.helpers import eventually, new_user_id, settled, shipped_content
from tests.telegram import EmulatedUser, onboard, redeliver
from tests.test_end_to_end import bot_environment
from tests.test_worker_restart import kill
from tools.emulator import BotAPIEmulator
from workflows.auction import AuctionWorkflow
from workflows.auction_contracts import AuctionInput, AuctionOutcome, AuctionState, auction_workflow_id
from workflows.content import Content
from workflows.contracts import JourneyState, SupportRequest
from workflows.journey import JourneyWorkflow, journey_id

ITEM = "retrato"
ITEM_NAME = "Mi retrato a la luz de las velas"
WorkerStarter = Callable[[], subprocess.Popen[bytes]]


def shop_content() -> Content:
    """The shipped content with one item to auction (a reward the creator hands over)."""
    document = shipped_content().model_dump(mode="json")
    document["version"] = "auctions-test"
    document["shop"] = {"extend_minutes": 1, "items": [{
        "code": ITEM, "name": {"es": ITEM_NAME, "en": "My candlelit portrait"},
        "description": {"es": "Un retrato que nadie más ha visto.", "en": "A portrait nobody else has seen."},
        "price": 500, "gives": {"kind": "reward", "text": {"es": "Te lo firmo yo misma.", "en": "I sign it myself."}},
    }]}  # fmt: skip
    return Content.model_validate(document)


async def activate_shop(pool: asyncpg.Pool) -> None:
    """Active before the bot and the journeys start, so they play it from the first turn."""
    content = shop_content()
    async with pool.acquire() as conn:
        await activate(conn, CheckedContent(content=content, digest=content_digest(content)))


async def grant(client: Client, user_id: int, amount: int) -> None:
    await request_support(client, SupportRequest(request_id=f"test-grant-{user_id}-{amount}", user_id=user_id,
                                                 actor="support:tests", action="grant", amount=amount,
                                                 reason="besitos para pujar"))  # fmt: skip


async def journey_state(client: Client, user_id: int) -> JourneyState:
    state: JourneyState = await client.get_workflow_handle(journey_id(user_id)).query(JourneyWorkflow.current_state)
    return state


async def auction_state(client: Client, auction_id: str) -> AuctionState:
    state: AuctionState = await client.get_workflow_handle(auction_workflow_id(auction_id)).query(
        AuctionWorkflow.current_state
    )
    return state


async def open_auctions(user: EmulatedUser, menu: dict[str, Any]) -> dict[str, Any]:
    """From the menu: 🛍️ Mis tesoros, then 🔨 Subastas: the running auctions with their bid buttons."""
    await user.press(menu["message_id"], user.button(menu, "Mis tesoros"))
    shop = await user.next_from_bot("bot_edit")
    await user.press(shop["message_id"], user.button(shop, "Subastas"))
    return await user.next_from_bot("bot_edit")


async def press_bid(user: EmulatedUser, listing: dict[str, Any], amount: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Press "Pujo <amount>": the press (its update id) and the bot's answer to it."""
    pressed = await user.press(listing["message_id"], user.button(listing, f"Pujo {amount}"))
    return pressed, await user.callback_answer(pressed["callback_query_id"], within=90)


async def forge_bid(user: EmulatedUser, listing: dict[str, Any], auction_id: str, amount: int) -> dict[str, Any]:
    """A bid button the screen does not show (an old list, or made up): the bot's answer."""
    data = AuctionCB(auction=auction_id, amount=amount, screen=0).pack()
    pressed = await user.press(listing["message_id"], data, forge=True)
    return await user.callback_answer(pressed["callback_query_id"], within=60)


async def listing_now(user: EmulatedUser, message_id: int) -> dict[str, Any]:
    """The list as it stands in the chat (redrawn after each of this user's bids)."""
    messages = await user.transcript()
    return [e for e in messages if e.get("message_id") == message_id and e["kind"] in ("bot_edit", "bot_message")][-1]


def saying(emulator: BotAPIEmulator, user_id: int, text: str) -> list[dict[str, Any]]:
    chat = emulator.chats.get(user_id)
    return [e for e in (chat.transcript if chat else []) if e["kind"] == "bot_message" and text in str(e["text"])]


async def ledger_agrees(pool: asyncpg.Pool, client: Client, user_id: int) -> JourneyState:
    """The journey once settled; its balance is the ledger's sum and it holds no reserve."""
    state = await settled(client, user_id, within=60)
    total = await pool.fetchval("SELECT sum(amount) FROM besitos_ledger WHERE telegram_user_id = $1", user_id)
    assert total == state.besitos, f"user {user_id}: ledger {total} != journey {state.besitos}"
    assert not state.wallet.reserves, f"user {user_id} still holds {state.wallet.reserves}"
    return state


@pytest.fixture
async def start_worker(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
) -> AsyncIterator[Callable[[int], subprocess.Popen[bytes]]]:  # fmt: skip
    """``diana worker`` processes as deployed, telling ``admin`` how auctions end; any still running are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(admin: int) -> subprocess.Popen[bytes]:
        env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, ADMIN_IDS=str(admin),
                              WORKFLOW_SANDBOX="false")  # fmt: skip
        process = hermetic.diana_process(["-m", "tools.cli", "worker"], env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 15)


async def test_an_auction_with_three_bidders_outbids_an_extension_and_a_worker_killed_mid_auction(
    start_worker: Callable[[int], subprocess.Popen[bytes]], client: Client, task_queue: str, pool: asyncpg.Pool,
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, bots: BotProcesses, database: str, redis_server: str,
) -> None:  # fmt: skip
    admin_id = new_user_id()
    await activate_shop(pool)
    worker = start_worker(admin_id)
    # Bidders wait for the next worker when theirs dies: longer than the bot's default deadline.
    bots.start(database, redis_server, ADMIN_IDS=str(admin_id), JOURNEY_DEADLINE_SECONDS="60", RATE_LIMIT_UPDATES="0")
    admin = EmulatedUser(http, emulator.base_url, admin_id, first_name="Admin")
    await admin.send("/subastas")
    assert "No hay subastas en marcha" in (await admin.next_from_bot("bot_message", within=60))["text"]
    ana, bea, cai = (EmulatedUser(http, emulator.base_url, new_user_id(), first_name=name)
                     for name in ("Ana", "Bea", "Cai"))  # fmt: skip
    menus = await asyncio.gather(onboard(ana), onboard(bea), onboard(cai))
    for user in (ana, bea, cai):
        await grant(client, user.user_id, 1000)
    before = {user.user_id: (await settled(client, user.user_id, within=30)).besitos for user in (ana, bea, cai)}

    auction_id = f"t{uuid.uuid4().hex[:10]}"
    ends_at = datetime.now(UTC) + timedelta(seconds=90)
    await auctions.start(client, task_queue, AuctionInput(auction_id=auction_id, item=ITEM, title=ITEM_NAME,
                                                          start_price=100, increment=10, ends_at=ends_at,
                                                          extend_seconds=30, created_by=admin_id))  # fmt: skip
    await eventually(lambda: auctions.find(pool, auction_id), within=30)
    lists = dict(zip((ana.user_id, bea.user_id, cai.user_id),
                     await asyncio.gather(*(open_auctions(u, m) for u, m in zip((ana, bea, cai), menus, strict=True))),
                     strict=True))  # fmt: skip
    assert ITEM_NAME in lists[ana.user_id]["text"] and "empieza en 100 besitos" in lists[ana.user_id]["text"]

    # Ana opens at the starting price; Bea outbids her, and Ana is told.
    _, answer = await press_bid(ana, lists[ana.user_id], 100)
    assert answer["text"] == t("auctions.bid.leading", amount=100) and not answer["show_alert"]
    await ana.next_from_bot("bot_edit")
    bea_list = await listing_now(bea, lists[bea.user_id]["message_id"])
    # Bea's list was drawn before Ana's bid: its "100" is too low now, and she is told the minimum.
    _, low = await press_bid(bea, bea_list, 100)
    assert low["show_alert"] and low["text"] == t("auctions.refused.too_low", minimum=110)
    bea_list = await bea.next_from_bot("bot_edit")
    assert "Alguien ya puja 100 besitos" in bea_list["text"]
    _, answer = await press_bid(bea, bea_list, 110)
    assert answer["text"] == t("auctions.bid.leading", amount=110)
    ana_outbid = await ana.next_saying("pujó más que tú", within=60)

    # Cai jumps ahead (five increments), and the worker dies while his bid is being held in his journey.
    _, low = await press_bid(cai, lists[cai.user_id], 100)  # his list is older than both bids
    assert low["text"] == t("auctions.refused.too_low", minimum=120)
    cai_list = await cai.next_from_bot("bot_edit")
    handle = client.get_workflow_handle(auction_workflow_id(auction_id), result_type=AuctionOutcome)

    async def bids_accepted() -> int:
        history = await handle.fetch_history()
        return sum(event.HasField("workflow_execution_update_accepted_event_attributes") for event in history.events)

    accepted = await bids_accepted()
    cai_press = await cai.press(cai_list["message_id"], cai.button(cai_list, "Pujo 170"))

    async def cai_accepted() -> bool:
        return await bids_accepted() > accepted

    await eventually(cai_accepted, within=30, interval=0.02)
    await kill(worker)
    start_worker(admin_id)
    answer = await cai.callback_answer(cai_press["callback_query_id"], within=90)
    assert answer["text"] == t("auctions.bid.leading", amount=170), "held once the next worker took over"
    await bea.next_saying("pujó más que tú", within=60)
    # Telegram delivers Cai's press again: one bid all the same.
    await redeliver(http, emulator.base_url, cai_press["update_id"])

    async def bid_twice_is_one() -> AuctionState | None:
        state = await auction_state(client, auction_id)
        return state if state.bids == 3 and state.leader and state.leader.user_id == cai.user_id else None

    state = await eventually(bid_twice_is_one, within=30)
    assert state is not None
    await asyncio.sleep(1)  # room for a second bid, were the redelivery taken as one
    assert (await auction_state(client, auction_id)).bids == 3
    cai_state = await journey_state(client, cai.user_id)
    assert [(r.auction, r.amount) for r in cai_state.wallet.reserves] == [(auction_id, 170)]
    assert not (await journey_state(client, ana.user_id)).wallet.reserves, "an outbid reserve is let go"

    # In the last 30 seconds Ana bids again: the end moves to her bid plus 30 seconds.
    original_end = state.ends_at

    async def in_the_last_seconds() -> bool:
        return datetime.now(UTC) > original_end - timedelta(seconds=25)

    await eventually(in_the_last_seconds, within=120, interval=0.2)
    # Ana comes back through her outbid notice's 🔨 Subastas: the auctions as they stand now.
    await ana.press(ana_outbid["message_id"], ana.button(ana_outbid, "Subastas"))
    ana_list = await ana.next_from_bot("bot_edit")
    assert ana_list["message_id"] == ana_outbid["message_id"] and "Alguien ya puja 170 besitos" in ana_list["text"]
    _, answer = await press_bid(ana, ana_list, 180)
    assert answer["text"].startswith(t("auctions.bid.extended", amount=180, ends="")[:30]), answer["text"]
    extended = await auction_state(client, auction_id)
    assert extended.ends_at > original_end and extended.leader is not None
    assert extended.ends_at == extended.leader.at + timedelta(seconds=30), "moved to the bid plus the extension"
    await cai.next_saying("pujó más que tú", within=60)
    row = await auctions.find(pool, auction_id)
    assert row is not None and row.ends_at == extended.ends_at, "the row shows the new end"

    outcome: AuctionOutcome = await asyncio.wait_for(handle.result(), timeout=120)
    assert (outcome.status, outcome.winner, outcome.amount, outcome.bids) == ("ended", ana.user_id, 180, 4)

    # The winner spent exactly the winning bid, once, and has the item; everyone else kept every besito.
    winner = await ledger_agrees(pool, client, ana.user_id)
    spent = await pool.fetch("SELECT action, amount FROM besitos_ledger WHERE telegram_user_id = $1 AND amount < 0",
                             ana.user_id)  # fmt: skip
    assert [(r["action"], r["amount"]) for r in spent] == [("auction_won", -180)]
    won = [p for p in winner.wallet.purchases if p.source == "auction"]
    assert [(p.item, p.price) for p in won] == [(ITEM, 180)] and auction_id in winner.wallet.settled_auctions
    for loser in (bea, cai):
        state_after = await ledger_agrees(pool, client, loser.user_id)
        assert state_after.besitos == before[loser.user_id], "a loser's balance is intact"
        assert not [p for p in state_after.wallet.purchases if p.source == "auction"]
    row = await auctions.find(pool, auction_id)
    assert row is not None and (row.status, row.leader, row.leading_bid, row.bids) == ("ended", ana.user_id, 180, 4)

    # Each was told once: outbid (Ana once, Bea once, Cai once), the winner that she won, the admin how it ended.
    await ana.next_saying("Es tuyo", within=60)
    await admin.next_saying("la gana", within=60)
    await asyncio.sleep(1)
    assert [len(saying(emulator, u.user_id, "pujó más que tú")) for u in (ana, bea, cai)] == [1, 1, 1]
    assert len(saying(emulator, ana.user_id, "Es tuyo")) == 1
    report = saying(emulator, admin_id, "la gana")
    assert len(report) == 1 and "Ana" in report[0]["text"] and "180" in report[0]["text"]


@pytest.fixture
async def admin_bot(worker: Worker, database: str, redis_server: str, bots: BotProcesses,
                    pool: asyncpg.Pool) -> int:  # fmt: skip
    """The bot with a fresh admin of this test's own (an auction's id is the admin's chat and message)."""
    await activate_shop(pool)
    admin_id = new_user_id()
    bots.start(database, redis_server, ADMIN_IDS=str(admin_id), RATE_LIMIT_UPDATES="0")
    return admin_id


async def test_bids_refused_through_the_bot_say_why_and_change_nothing(
    admin_bot: int, client: Client, task_queue: str, pool: asyncpg.Pool, emulator: BotAPIEmulator,
    http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, admin_bot, first_name="Admin")
    await admin.send("/subastas")  # the admin's chat, where the report of the auction nobody bid on goes
    await admin.next_from_bot("bot_message", within=60)
    rich, poor = (EmulatedUser(http, emulator.base_url, new_user_id(), first_name=n) for n in ("Rica", "Pobre"))
    rich_menu, poor_menu = await asyncio.gather(onboard(rich), onboard(poor))
    await grant(client, rich.user_id, 1000)
    poor_state = await settled(client, poor.user_id, within=30)
    now = datetime.now(UTC)
    open_id, vip_id, short_id = (f"t{uuid.uuid4().hex[:10]}" for _ in range(3))
    for auction_id, vip, ends in ((open_id, False, now + timedelta(minutes=30)),
                                  (vip_id, True, now + timedelta(minutes=30)),
                                  (short_id, False, now + timedelta(seconds=8))):  # fmt: skip
        await auctions.start(client, task_queue, AuctionInput(auction_id=auction_id, item=ITEM, title=ITEM_NAME,
                                                              start_price=poor_state.besitos + 1, increment=10,
                                                              vip_only=vip, ends_at=ends, created_by=admin_bot))  # fmt: skip
    await eventually(lambda: auctions.find(pool, vip_id), within=30)
    listing = await open_auctions(poor, poor_menu)
    assert t("auctions.line.vip") in listing["text"]
    price = poor_state.besitos + 1

    # Not enough besitos: the bidder is told how many they have.
    answer = await forge_bid(poor, listing, open_id, price)
    assert answer["show_alert"] and answer["text"] == t("auctions.refused.funds", spendable=poor_state.besitos,
                                                        amount=price)  # fmt: skip
    # VIP only, for someone who is not.
    rich_list = await open_auctions(rich, rich_menu)
    answer = await forge_bid(rich, rich_list, vip_id, price)
    assert answer["show_alert"] and answer["text"] == t("auctions.refused.vip")
    # Too low: under the starting price.
    answer = await forge_bid(rich, rich_list, open_id, price - 1)
    assert answer["show_alert"] and answer["text"] == t("auctions.refused.too_low", minimum=price)
    # Someone still in the introduction cannot hold besitos yet.
    newcomer = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Nueva")
    await newcomer.send("/start")
    hello = await newcomer.next_from_bot("bot_message", within=60)
    answer = await forge_bid(newcomer, hello, open_id, price)
    assert answer["show_alert"] and answer["text"] == t("auctions.refused.closed")
    # Forged: an amount no button offers, an auction id that cannot be one.
    for data in (AuctionCB(auction=open_id, amount=0, screen=0).pack(), f"auc:{'x' * 45}:100:0", "auc:a:b:c"):
        pressed = await rich.press(rich_list["message_id"], data, forge=True)
        answer = await rich.callback_answer(pressed["callback_query_id"])
        assert answer["show_alert"] and answer["text"] in (t("reject.UnknownAction"), t("auctions.refused.ended")), data
    # Ended: the short auction's end came (nobody bid); its workflow is over, and a bid says so.
    outcome = await asyncio.wait_for(
        client.get_workflow_handle(auction_workflow_id(short_id), result_type=AuctionOutcome).result(), timeout=60
    )
    assert outcome.winner is None and outcome.status == "ended"
    answer = await forge_bid(rich, rich_list, short_id, price)
    assert answer["show_alert"] and answer["text"] == t("auctions.refused.ended")
    assert (await auctions.find(pool, short_id)).status == "ended"  # type: ignore[union-attr]
    await admin.next_saying("sin pujas", within=30)

    # Nothing changed: no bid counted, nothing held, every besito where it was.
    for auction_id in (open_id, vip_id):
        state = await auction_state(client, auction_id)
        assert state.bids == 0 and state.leader is None and not state.reserved
    for user in (rich, poor):
        await ledger_agrees(pool, client, user.user_id)
    assert (await settled(client, poor.user_id)).besitos == poor_state.besitos


async def test_the_admin_opens_lists_and_cancels_an_auction_and_every_reserve_goes_back(
    admin_bot: int, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, admin_bot, first_name="Admin")
    bad = {
        "/subasta": "Uso: /subasta",
        "/subasta retrato 100 10": "Uso: /subasta",
        "/subasta nada 100 10 2h": "No hay ningún artículo «nada»",
        "/subasta retrato cien 10 2h": "El precio inicial debe ser un número entero",
        "/subasta retrato 0 10 2h": "El precio inicial debe ser un número entero",
        "/subasta retrato 100 -5 2h": "El incremento mínimo debe ser un número entero",
        "/subasta retrato 100 99999999999 2h": "El incremento mínimo debe ser un número entero",
        "/subasta retrato 100 10 4m": "La duración va de 5 minutos a 7 días",
        "/subasta retrato 100 10 8d": "La duración va de 5 minutos a 7 días",
        "/subasta retrato 100 10 pronto": "La duración va de 5 minutos a 7 días",
        "/subasta retrato 100 10 2h gratis": "Al final solo cabe «vip»",
        "/subasta retrato 100 10 2h vip extra": "Uso: /subasta",
    }
    for command, answer in bad.items():
        await admin.send(command)
        said = await admin.next_from_bot("bot_message", within=60)
        assert answer in said["text"], (command, said["text"])
    await admin.send("/subasta nada 1 1 1h")
    assert "Artículos: retrato" in (await admin.next_from_bot("bot_message"))["text"], "the codes there are"
    assert await pool.fetchval("SELECT count(*) FROM auctions") == 0, "nothing was opened"

    # A valid one: a preview, then ✅ opens it (English alias, same command).
    await admin.send("/auction retrato 100 10 30m")
    preview = await admin.next_from_bot("bot_message")
    assert ITEM_NAME in preview["text"] and "Desde 100 besitos" in preview["text"] and "1 minutos" in preview["text"]
    await admin.press(preview["message_id"], admin.button(preview, "Confirmar"))
    started = await admin.next_saying("en marcha")
    auction_id = started["text"].split()[2]
    row = await eventually(lambda: auctions.find(pool, auction_id), within=30)
    assert (
        row is not None
        and row.status == "running"
        and row.start_price == 100
        and row.increment == 10
        and not row.vip_only
    )
    assert timedelta(minutes=29) < row.ends_at - datetime.now(UTC) <= timedelta(minutes=30)
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'auction' AND subject = $1",
                               auction_id) == 1  # fmt: skip

    # A fan bids: their besitos are held.
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Fan")
    menu = await onboard(fan)
    await grant(client, fan.user_id, 300)
    before = await settled(client, fan.user_id, within=30)
    listing = await open_auctions(fan, menu)
    _, bid_answer = await press_bid(fan, listing, 150)  # the second button: five increments over the minimum
    assert bid_answer["text"] == t("auctions.bid.leading", amount=150)
    assert (await journey_state(client, fan.user_id)).wallet.reserved == 150

    # /subastas lists it with its leader; the panel's button too; ✖️ then ✅ calls it off.
    await admin.send("/subastas")
    listed = await admin.next_from_bot("bot_message")
    assert auction_id in listed["text"] and "Fan" in listed["text"] and "150" in listed["text"]
    await admin.send("/admin")
    panel = await admin.next_from_bot("bot_message")
    await admin.press(panel["message_id"], admin.button(panel, "Subastas"))
    assert "Uso: /subasta" in (await admin.next_from_bot("bot_message"))["text"]
    from_panel = await admin.next_from_bot("bot_message")
    assert auction_id in from_panel["text"]
    await admin.press(from_panel["message_id"], admin.button(from_panel, "Cancelar"))
    ask = await admin.next_from_bot("bot_message")
    assert "¿Cancelar la subasta" in ask["text"]
    await admin.press(ask["message_id"], admin.button(ask, "Confirmar"))
    await admin.next_saying("cancelada")
    outcome = await asyncio.wait_for(
        client.get_workflow_handle(auction_workflow_id(auction_id), result_type=AuctionOutcome).result(), timeout=60
    )
    assert outcome.status == "cancelled" and outcome.winner is None
    await admin.next_saying("volvieron a sus dueños", within=30)
    after = await ledger_agrees(pool, client, fan.user_id)
    assert after.besitos == before.besitos and not after.wallet.purchases
    assert (await auctions.find(pool, auction_id)).status == "cancelled"  # type: ignore[union-attr]
    assert not saying(emulator, fan.user_id, "pujó más que tú"), "a cancellation is no outbid"
    # Cancelling again finds it over.
    await admin.press(from_panel["message_id"], admin.button(from_panel, "Cancelar"))
    over = await admin.next_from_bot("callback_answer")
    assert "ya había terminado" in over["text"]
