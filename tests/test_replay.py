"""Recorded journey histories replay against today's workflow code, so a change that would break
live journeys fails CI.

Record a new history when the workflow gains a path (``DIANA_RECORD_HISTORIES=vip_and_support``
records only that one). Once journeys run in production, keep the old ones: they are what live journeys
look like, and they must keep replaying; a change that breaks them needs ``workflow.patched`` (see the
README). Until then, re-record them all (``DIANA_RECORD_HISTORIES=1``) after a change to the commands:

    DIANA_RECORD_HISTORIES=vip_and_support python3 infra/bootstrap.py test tests/test_replay.py
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from adapters.content_version import ActiveContent
from adapters.journeys import Journeys
from tests.altered_journey import JourneyWithoutSearchAttributes
from tests.conftest import start_temporal_env
from tests.helpers import eventually, new_user_id, request
from tools.emulator import BotAPIEmulator
from tools.support import decoded_history
from worker import WORKFLOWS, journey_worker_options
from worker.content_library import ContentLibrary
from workflows.content import Content
from workflows.contracts import JourneyReply, PaymentDetails, SupportRequest, WalletReply, WalletRequest
from workflows.journey import JourneyWorkflow, journey_id
from workflows.search_attributes import SETTLED_WINDOW as SETTLED_ATTRIBUTES_WINDOW

HISTORIES = Path(__file__).parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))
# The content version each history played (a journey reads it from its worker's library, not its history).
CONTENT_SNAPSHOTS = HISTORIES / "content"
# Played on a server that suggests continue-as-new early; the others on the session's server.
SHORT_RUNS = ("onboarding_to_besitos", "continued_as_new")
# The story to its first ending; then, past the window, the busy search attributes published by a trailing timer.
ENDING = "story_to_an_ending"
SHOP = "shop_and_auction"


def replayer(workflows: list[type] = WORKFLOWS, name: str | None = None) -> Replayer:
    library = ContentLibrary(None)
    snapshot = CONTENT_SNAPSHOTS / f"{name}.json"
    if name and snapshot.exists():
        played = json.loads(snapshot.read_text())
        library.put(played["version"], Content.model_validate(played["document"]))
    return Replayer(workflows=workflows, data_converter=pydantic_data_converter, interceptors=[library.interceptor()])


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_journeys_replay_on_todays_code(path: Path) -> None:
    await replayer(name=path.stem).replay_workflow(load(path))


def test_there_are_recorded_histories() -> None:
    assert {p.stem for p in RECORDED} >= {*SHORT_RUNS, "vip_and_support", ENDING}
    assert all((CONTENT_SNAPSHOTS / f"{path.stem}.json").exists() for path in RECORDED)


async def test_a_change_to_the_command_sequence_is_caught() -> None:
    with pytest.raises(workflow.NondeterminismError):
        await replayer([JourneyWithoutSearchAttributes], "onboarding_to_besitos").replay_workflow(
            load(HISTORIES / "onboarding_to_besitos.json")
        )


async def _settled(client: Client, user_id: int) -> bool:
    state = await client.get_workflow_handle(journey_id(user_id)).query(JourneyWorkflow.current_state)
    return not state.pending_effects


async def _walk(journeys: Journeys, user_id: int, menu_rounds: int) -> None:
    reply = await journeys.interact(request(user_id, "start"))
    for _ in range(3):
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq))
    await journeys.interact(request(user_id, "text", text="hola Diana"))
    reply = await journeys.interact(request(user_id, "menu"))
    for action in ("story", "pick.c01_follow", "story_next", "missions"):
        reply = await journeys.interact(request(user_id, "button", action=action, screen=reply.screen.seq))
    await journeys.interact_if_started(request(user_id, "reaction", action="-1001000000001:7"))
    reply = await journeys.interact(request(user_id, "menu"))
    for _ in range(menu_rounds):
        reply = await journeys.interact(request(user_id, "button", action="besitos", screen=reply.screen.seq))
        reply = await journeys.interact(request(user_id, "button", action="menu", screen=reply.screen.seq))


async def _buy_and_be_supported(journeys: Journeys, client: Client, user_id: int) -> None:
    """A VIP purchase (pre-checkout, payment), then staff changes: grant, ban, unban, restart the story, refund."""
    reply = await journeys.interact(request(user_id, "start"))
    for _ in range(3):
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq))
    for action in ("story", "pick.c01_follow", "menu", "vip", "buy.mensual"):
        reply = await journeys.interact(request(user_id, "button", action=action, screen=reply.screen.seq))
    handle = client.get_workflow_handle(journey_id(user_id))
    invoice = (await handle.query(JourneyWorkflow.current_state)).subscription.invoices[-1]
    details = PaymentDetails(payload=invoice.payload, currency="XTR", total_amount=invoice.stars)
    await journeys.interact(request(user_id, "pre_checkout").model_copy(update={"payment": details}))
    charge = details.model_copy(update={"charge_id": f"charge-{user_id}", "provider_charge_id": "p"})
    await journeys.interact(request(user_id, "payment").model_copy(update={"payment": charge}))
    for number, (action, fields) in enumerate((("grant", {"amount": 100}), ("ban", {}), ("unban", {}),
                                               ("restart_story", {}), ("refund", {"charge_id": charge.charge_id}))):  # fmt: skip
        await journeys.support(SupportRequest(request_id=f"recorded-{number}", user_id=user_id, actor="support:record",
                                              action=action, reason="recorded history", **fields))  # type: ignore[arg-type]  # fmt: skip
    await journeys.interact(request(user_id, "menu"))


async def _shop_and_auction(journeys: Journeys, client: Client, user_id: int) -> None:
    """Spending besitos: a limited item (its unit claimed in Postgres), the backpack, a priced choice paid, and an
    auction's reserves, a release and a capture."""
    reply = await _begin(journeys, user_id)
    await journeys.support(SupportRequest(request_id=f"shop-{user_id}", user_id=user_id, actor="support:record",
                                          action="grant", amount=2000, reason="recorded history"))  # fmt: skip
    reply = await journeys.interact(request(user_id, "menu"))
    for action in ("shop", "shop.item.tu_nombre_en_mi_voz", "shop.buy.tu_nombre_en_mi_voz", "backpack", "story",
                   "pick.c01_follow", "story_next", "pick.c04_letter", "story_pay.c04_letter"):  # fmt: skip
        reply = await journeys.interact(request(user_id, "button", action=action, screen=reply.screen.seq))
    handle = client.get_workflow_handle(journey_id(user_id))
    for action, bid, amount in (("reserve", "b1", 100), ("reserve", "b2", 150), ("release", "b1", 0),
                                ("capture", "b2", 0)):  # fmt: skip
        wanted = WalletRequest.model_validate({"request_id": f"recorded-{action}-{bid}", "user_id": user_id,
                                               "action": action, "auction": "a1", "bid": bid, "amount": amount,
                                               "item": "retrato_en_sombra", "title": "Retrato"})  # fmt: skip
        reply = await handle.execute_update("Wallet", wanted, result_type=WalletReply)
        assert reply.ok


async def _begin(journeys: Journeys, user_id: int) -> JourneyReply:
    reply = await journeys.interact(request(user_id, "start"))
    for _ in range(3):
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq))
    return reply


STORY_TO_AN_ENDING = ("story", "pick.c01_follow", "story_next", "pick.c04_keep", "story_next", "pick.c07_open",
                      "story_next", "pick.c10_stay", "story_next")  # fmt: skip


async def _snapshot_content(pool: asyncpg.Pool, name: str, version: int) -> None:
    document = await pool.fetchval("SELECT document FROM content_versions WHERE version = $1", version)
    CONTENT_SNAPSHOTS.mkdir(exist_ok=True)
    played = {"version": version, "document": json.loads(document)}
    (CONTENT_SNAPSHOTS / f"{name}.json").write_text(json.dumps(played, ensure_ascii=False, indent=1))


def _recording(name: str) -> bool:
    """``DIANA_RECORD_HISTORIES=1`` re-records every history; a comma-separated list, only those."""
    wanted = os.environ.get("DIANA_RECORD_HISTORIES", "")
    return wanted == "1" or name in wanted.split(",")


@pytest.mark.skipif(not os.environ.get("DIANA_RECORD_HISTORIES"), reason="set DIANA_RECORD_HISTORIES=1 to re-record")
async def test_record_histories(pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot, emulator: BotAPIEmulator,
                                active_content: ActiveContent, client: Client) -> None:  # fmt: skip
    HISTORIES.mkdir(exist_ok=True)
    for name in ("vip_and_support", ENDING, SHOP):
        if not _recording(name):
            continue
        # On the session's server, whose histories are long enough to hold the whole story in one run.
        async with Worker(client, task_queue=f"record-{name}", **journey_worker_options(pool, redis, telegram_bot)):
            user_id = new_user_id()
            await emulator.user_sends_text(user_id, "hola")  # the chat the invoice and notices go to
            journeys = Journeys(client, f"record-{name}", active_content)
            if name == ENDING:
                reply = await _begin(journeys, user_id)
                for action in STORY_TO_AN_ENDING:
                    reply = await journeys.interact(request(user_id, "button", action=action, screen=reply.screen.seq))
                assert reply.screen.key == "story.ending"
                # The last turn changed only attributes that are held back; past the window, the trailing timer
                # publishes them.
                await asyncio.sleep(SETTLED_ATTRIBUTES_WINDOW.total_seconds() + 2)
                reply = await journeys.interact(request(user_id, "menu"))
                await journeys.interact(request(user_id, "button", action="besitos", screen=reply.screen.seq))
            elif name == SHOP:
                await _shop_and_auction(journeys, client, user_id)
            else:
                await _buy_and_be_supported(journeys, client, user_id)
            await eventually(lambda user_id=user_id: _settled(client, user_id))  # type: ignore[misc]
            handle = client.get_workflow_handle(journey_id(user_id))
            history = await decoded_history(client, user_id)  # recorded in the clear: no key leaves the test
            (HISTORIES / f"{name}.json").write_text(history.to_json())
            if name == ENDING:
                assert any(e.HasField("timer_fired_event_attributes") for e in history.events), "no trailing timer"
            await _snapshot_content(pool, name, (await handle.query(JourneyWorkflow.current_state)).content_version)
    env = await start_temporal_env("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=60")
    try:
        async with Worker(env.client, task_queue="record", **journey_worker_options(pool, redis, telegram_bot)):
            journeys = Journeys(env.client, "record", active_content)
            for name, rounds in (("onboarding_to_besitos", 1), ("continued_as_new", 15)):
                if not _recording(name):
                    continue
                user_id = new_user_id()
                await _walk(journeys, user_id, rounds)
                await eventually(lambda user_id=user_id: _settled(env.client, user_id))  # type: ignore[misc]
                handle = env.client.get_workflow_handle(journey_id(user_id))
                first_run = await handle.fetch_history() if name != "continued_as_new" else None
                if first_run is None:
                    # The first run, which ended by continuing as new.
                    runs = [wf async for wf in env.client.list_workflows(f'WorkflowId = "{journey_id(user_id)}"')]
                    closed = [wf for wf in runs if wf.close_time is not None]
                    assert closed, "the journey did not continue as new"
                    first_run = await env.client.get_workflow_handle(
                        journey_id(user_id), run_id=closed[-1].run_id
                    ).fetch_history()
                (HISTORIES / f"{name}.json").write_text(first_run.to_json())
                await _snapshot_content(pool, name, (await handle.query(JourneyWorkflow.current_state)).content_version)
    finally:
        await env.shutdown()
