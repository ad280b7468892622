"""Recorded journey histories replay against today's workflow code, so a change that would break
live journeys fails CI.

Re-record (only when a change is meant to alter new journeys and old ones are patched with
``workflow.patched``, or before any journey runs in production):

    DIANA_RECORD_HISTORIES=1 python3 infra/bootstrap.py test tests/test_replay.py
"""

from __future__ import annotations

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

from bot.content_version import ActiveContent
from bot.journeys import Journeys
from tests.altered_journey import JourneyWithoutSearchAttributes
from tests.conftest import start_temporal_env
from tests.helpers import eventually, new_user_id, request
from worker import WORKFLOWS, build_activities
from workflows.journey import JourneyWorkflow, journey_id

HISTORIES = Path(__file__).parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))


def replayer(workflows: list[type] = WORKFLOWS) -> Replayer:
    return Replayer(workflows=workflows, data_converter=pydantic_data_converter)


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_journeys_replay_on_todays_code(path: Path) -> None:
    await replayer().replay_workflow(load(path))


def test_there_are_recorded_histories() -> None:
    assert {p.stem for p in RECORDED} >= {"onboarding_to_besitos", "continued_as_new"}


async def test_a_change_to_the_command_sequence_is_caught() -> None:
    with pytest.raises(workflow.NondeterminismError):
        await replayer([JourneyWithoutSearchAttributes]).replay_workflow(load(HISTORIES / "onboarding_to_besitos.json"))


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


@pytest.mark.skipif(not os.environ.get("DIANA_RECORD_HISTORIES"), reason="set DIANA_RECORD_HISTORIES=1 to re-record")
async def test_record_histories(pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
                                active_content: ActiveContent) -> None:  # fmt: skip
    HISTORIES.mkdir(exist_ok=True)
    env = await start_temporal_env("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=60")
    try:
        activities = build_activities(pool, redis, telegram_bot)
        async with Worker(env.client, task_queue="record", workflows=WORKFLOWS, activities=activities):
            journeys = Journeys(env.client, "record", active_content)
            for name, rounds in (("onboarding_to_besitos", 1), ("continued_as_new", 15)):
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
    finally:
        await env.shutdown()
