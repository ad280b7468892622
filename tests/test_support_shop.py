"""Support's side of the shop against the real stack: ``show`` lists the backpack, reserves and spendable besitos and
names a purchase Postgres disagrees on; ``grant --item`` gives an item (an unknown one is refused, nothing changes);
``deliver-order`` and ``refund-purchase`` apply once and are audited."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from adapters import staff
from adapters.content_version import ActiveContent
from adapters.journeys import Journeys
from tests.helpers import eventually, request, settled
from tests.shop_content import LETTER, POLAROID, PRICES, VOICE_NOTE, activate_shop
from tests.test_story_economy import ledger_sum, walk
from tests.test_support_cli import audit_rows, cli, played
from tools.emulator import BotAPIEmulator
from workflows.contracts import JourneyState, WalletReply, WalletRequest
from workflows.journey import journey_id

ACTOR = "support:test"


async def statuses(pool: asyncpg.Pool, user_id: int) -> dict[str, str]:
    rows = await pool.fetch("SELECT purchase_id, status FROM shop_purchases WHERE telegram_user_id = $1", user_id)
    return {row["purchase_id"].rpartition(":")[2]: row["status"] for row in rows}


async def shop_active(pool: asyncpg.Pool, active_content: ActiveContent) -> None:
    """The shop's content active, and seen by the journeys' door (journeys begun now play it)."""
    version = await activate_shop(pool)

    async def seen() -> bool:
        return active_content.version == version

    await eventually(seen)


async def agrees(pool: asyncpg.Pool, user_id: int, journey: dict[str, str]) -> bool:
    return await statuses(pool, user_id) == journey


def backpack(state: JourneyState) -> dict[str, str]:
    return {p.id: p.status for p in state.wallet.purchases}


async def test_grant_an_item_show_the_wallet_deliver_and_refund_orders(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator, active_content: ActiveContent,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    await shop_active(pool, active_content)
    user_id = await played(journeys, client, emulator)
    start = await settled(client, user_id)

    # An unknown item, or neither besitos nor an item, or both: refused, and nothing changes.
    with pytest.raises(staff.SupportError, match="the shop has no item 'perfume'"):
        await cli(client, pool, "grant", str(user_id), "--item", "perfume", "--reason", "a gift for her birthday")
    for wrong in ([], ["50", "--item", POLAROID]):
        with pytest.raises(staff.SupportError, match="an AMOUNT of besitos or --item CODE"):
            await cli(client, pool, "grant", str(user_id), *wrong, "--reason", "a gift for her birthday")
    unchanged = await settled(client, user_id)
    assert unchanged.wallet == start.wallet and unchanged.besitos == start.besitos
    assert await audit_rows(pool, user_id) == []

    # A creator's reward given: it waits for the admins, and the user is told it is in the backpack.
    assert (
        await cli(client, pool, "grant", str(user_id), "--item", POLAROID, "--reason", "a gift for her birthday") == 0
    )
    given = await settled(client, user_id)
    assert backpack(given) == {"p1": "waiting"} and given.wallet.purchases[0].source == "support"
    assert given.besitos == start.besitos, "a gift costs nothing"
    assert "regalo en tu mochila" in emulator.chats[user_id].transcript[-1]["text"]
    assert await eventually(lambda: statuses(pool, user_id)) == {"p1": "waiting"}

    # Besitos to buy with, a reward bought (its order waits) and a message; an auction holds some.
    assert await cli(client, pool, "grant", str(user_id), "500", "--reason", "a budget for the shop") == 0
    budget = await settled(client, user_id)  # (besitos thresholds the grant crossed pay on their own)
    await walk(journeys, user_id, await journeys.interact(request(user_id, "menu")),
               ("besitos", "shop", f"shop.item.{VOICE_NOTE}", f"shop.buy.{VOICE_NOTE}", "shop", f"shop.item.{LETTER}",
                        f"shop.buy.{LETTER}"))  # fmt: skip
    # As the auction workflow will ask it (its Update by name: the auction is another engineer's, in the making).
    held = await client.get_workflow_handle(journey_id(user_id)).execute_update(
        "Wallet", WalletRequest(request_id="reserve-1", user_id=user_id, action="reserve", auction="a-luna", bid="b-7",
                                amount=75), result_type=WalletReply)  # fmt: skip
    assert held.ok
    bought = await settled(client, user_id)
    assert backpack(bought) == {"p1": "waiting", "p2": "waiting", "p3": "delivered"}
    spent = PRICES[VOICE_NOTE] + PRICES[LETTER]
    assert bought.wallet.spent == spent and bought.besitos == budget.besitos - spent

    # show: the wallet, every backpack entry and the reserve, beside Postgres (which agrees).
    await eventually(lambda: agrees(pool, user_id, backpack(bought)))
    assert await cli(client, pool, "show", str(user_id)) == 0
    shown = capsys.readouterr().out
    assert (f"wallet: spendable {bought.besitos - 75} (balance {bought.besitos} - reserved 75), spent {spent}"
            in shown)  # fmt: skip
    assert "backpack: 3 entries" in shown
    assert f"p1\t{POLAROID}\tsupport\t0 besitos\twaiting\t" in shown
    assert f"p2\t{VOICE_NOTE}\tshop\t{PRICES[VOICE_NOTE]} besitos\twaiting\t" in shown
    assert f"p3\t{LETTER}\tshop\t{PRICES[LETTER]} besitos\tdelivered\t" in shown
    assert "reserves: 1\n    auction a-luna\tbid b-7\t75 besitos" in shown
    assert "Postgres agrees with the journey." in shown

    # The order delivered by hand: once (a second time is refused, nothing changes); the user is told.
    assert await cli(client, pool, "deliver-order", str(user_id), "p2", "--reason", "voice note sent by mail") == 0
    delivered = await settled(client, user_id)
    assert backpack(delivered)["p2"] == "delivered"
    assert "Ya está listo lo que te preparé" in emulator.chats[user_id].transcript[-1]["text"]
    for entry, why in (("p2", "no order 'p2' waiting"), ("p3", "no order 'p3' waiting"), ("p9", "no order 'p9'")):
        with pytest.raises(staff.SupportError, match=why):
            await cli(client, pool, "deliver-order", str(user_id), entry, "--reason", "voice note sent twice")
    assert backpack(await settled(client, user_id)) == backpack(delivered)

    # A purchase refunded: its besitos back in a ledger row, once.
    assert await cli(client, pool, "refund-purchase", str(user_id), "p2", "--reason", "the voice note was lost") == 0
    refunded = await settled(client, user_id)
    assert backpack(refunded)["p2"] == "refunded" and refunded.besitos == delivered.besitos + PRICES[VOICE_NOTE]
    with pytest.raises(staff.SupportError, match="no refundable purchase 'p2'"):
        await cli(client, pool, "refund-purchase", str(user_id), "p2", "--reason", "the voice note was lost")
    assert await ledger_sum(pool, user_id) == refunded.besitos
    assert await pool.fetchval("SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1 "
                               "AND action = 'shop_refund'", user_id) == 1  # fmt: skip
    actions = [(action, reason) for _, action, reason in await audit_rows(pool, user_id)]
    assert actions == [("give_item", "a gift for her birthday"), ("grant", "a budget for the shop"),
                       ("deliver_order", "voice note sent by mail"), ("refund_purchase", "the voice note was lost")]  # fmt: skip

    # Postgres saying otherwise than the journey about a purchase is a disagreement.
    await eventually(lambda: agrees(pool, user_id, backpack(refunded)))
    await pool.execute("UPDATE shop_purchases SET status = 'delivered' WHERE purchase_id = $1", f"journey-{user_id}:p1")
    assert await cli(client, pool, "show", str(user_id)) == 1
    assert "purchases: journey {'p1': 'waiting'" in capsys.readouterr().out


async def test_a_reset_that_drops_a_gift_takes_it_out_of_the_backpack_in_postgres_too(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator, redis_server: str,
    active_content: ActiveContent, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    await shop_active(pool, active_content)
    user_id = await played(journeys, client, emulator, actions=())
    seen = len((await client.get_workflow_handle(journey_id(user_id)).fetch_history()).events)
    assert await cli(client, pool, "grant", str(user_id), "--item", POLAROID, "--reason", "given to the wrong fan") == 0
    await settled(client, user_id)
    await eventually(lambda: agrees(pool, user_id, {"p1": "waiting"}))

    # Back to the workflow task that gave it: it runs again without the gift.
    history = await client.get_workflow_handle(journey_id(user_id)).fetch_history()
    point = next(e.event_id for e in history.events
                 if e.event_id > seen and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)  # fmt: skip
    code = await cli(client, pool, "reset", str(user_id), "--to", str(point), "--no-reapply", "--reason",
                     "the gift went to the wrong fan", redis_dsn=redis_server)  # fmt: skip
    said = capsys.readouterr().out
    assert code == 0, said
    assert "backpack" in said and "Postgres agrees" in said
    assert backpack(await settled(client, user_id)) == {}
    assert await statuses(pool, user_id) == {}
