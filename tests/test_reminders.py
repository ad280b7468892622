"""The journey's timers (the daily reminder, the settled search attributes), at their real length on a time-skipping server."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.content_version import ActiveContent
from adapters.journeys import JourneyRejected, Journeys
from tests.helpers import eventually, new_user_id, request, shipped_content
from tools.emulator import BotAPIEmulator
from worker import journey_worker_options
from workflows.contracts import JourneyError, JourneyInput, JourneyReply
from workflows.days import local_day
from workflows.journey import JourneyWorkflow, journey_id
from workflows.rules import MAX_BLOCKED_ANSWERS, reminder_time


async def walk_in(env: WorkflowEnvironment, journeys: Journeys, user_id: int, *, presses: int,
                  first_name: str = "Sol") -> tuple[WorkflowHandle[Any, Any], JourneyReply]:  # fmt: skip
    """The user's journey, started outside the clock's skipping (as the server needs), then /start and ``presses`` of
    the introduction (3 walk it whole)."""
    with env.with_time_skipping_disabled():
        handle = await env.client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=user_id),
                                                 id=journey_id(user_id), task_queue=journeys.task_queue)  # fmt: skip
    reply = await journeys.interact(request(user_id, "start", first_name=first_name))
    for _ in range(presses):
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq,
                                                first_name=first_name))  # fmt: skip
    return handle, reply


def reminders_of(emulator: BotAPIEmulator, user_id: int) -> list[dict[str, object]]:
    """The daily reminders the user's chat shows."""
    return [e for e in emulator.chats[user_id].transcript
            if e["kind"] == "bot_message" and "no has venido a verme" in str(e["text"])]  # fmt: skip


async def test_a_user_who_stays_away_is_reminded_once_a_day(
    skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
    emulator: BotAPIEmulator, active_content: ActiveContent,
) -> None:  # fmt: skip
    env = skipping_env
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Sol")
    async with Worker(env.client, task_queue="reminders", **journey_worker_options(pool, redis, telegram_bot)):
        journeys = Journeys(env.client, "reminders", active_content)
        handle, _ = await walk_in(env, journeys, user_id, presses=3)

        visited = await env.get_current_time(handle)
        content = shipped_content()
        zone, hour = content.calendar.timezone, content.calendar.reminder_hour

        def due_by(moment: datetime) -> int:
            """This user's reminder moments after the day of the visit, up to ``moment``: one reminder each."""
            count, at = 0, reminder_time(user_id, visited, zone, hour)
            while at <= moment:
                count += local_day(at, zone) > local_day(visited, zone)
                at = reminder_time(user_id, at, zone, hour)
            return count

        # The user visited today: today's reminder hour passes in silence; each later day's does not.
        for _ in range(3):
            await env.fast_forward(handle, timedelta(hours=24))
            expected = due_by(await env.get_current_time(handle))
            await eventually(lambda expected=expected: _count(reminders_of(emulator, user_id), expected), within=30)  # type: ignore[misc]
        state = await handle.query(JourneyWorkflow.current_state)
        assert state.reminded_on is not None and state.devotion.streak == 1
        await handle.terminate("test over")
    assert len(reminders_of(emulator, user_id)) >= 2, (
        "three days away: at least two reminders, one per day, none repeated"
    )


async def test_reminders_stop_after_the_user_blocked_the_bot_and_resume_when_they_write(
    skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
    emulator: BotAPIEmulator, active_content: ActiveContent,
) -> None:  # fmt: skip
    env = skipping_env
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Sol")
    async with Worker(env.client, task_queue="reminders", **journey_worker_options(pool, redis, telegram_bot)):
        journeys = Journeys(env.client, "reminders", active_content)
        handle, _ = await walk_in(env, journeys, user_id, presses=3)
        emulator.blocked.add(user_id)

        def refused() -> int:
            return sum(
                1 for call in emulator.calls if call["method"] == "sendMessage" and call.get("error_code") == 403
            )

        async def state_when(check: Any) -> Any:
            state = await handle.query(JourneyWorkflow.current_state)
            return state if check(state) else None

        # A week away, the bot blocked: three reminders refused, then no more tries.
        for _ in range(7):
            await env.fast_forward(handle, timedelta(hours=24))
        blocked = await eventually(lambda: state_when(lambda s: s.blocked_answers == MAX_BLOCKED_ANSWERS), within=30)
        assert refused() == MAX_BLOCKED_ANSWERS
        assert [p.effect.kind for p in blocked.parked_effects] == ["notify"] * MAX_BLOCKED_ANSWERS
        assert all("bot was blocked" in p.reason for p in blocked.parked_effects)
        assert await pool.fetchval("SELECT count(*) FROM notifications WHERE telegram_user_id = $1 AND status = "
                                   "'undeliverable'", user_id) == MAX_BLOCKED_ANSWERS  # fmt: skip

        # They come back and write: reminders go on (the next one arrives).
        await emulator.user_sends_text(user_id, "perdón", first_name="Sol")
        await journeys.interact(request(user_id, "text", text="perdón", first_name="Sol"))
        assert (await handle.query(JourneyWorkflow.current_state)).blocked_answers == 0
        for _ in range(2):
            await env.fast_forward(handle, timedelta(hours=24))

        assert await eventually(lambda: _async(reminders_of(emulator, user_id)), within=30)
        await handle.terminate("test over")


async def test_an_introduction_left_unfinished_ends_and_a_later_start_begins_anew(
    skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
    emulator: BotAPIEmulator, active_content: ActiveContent,
) -> None:  # fmt: skip
    env = skipping_env
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Sol")
    days = shipped_content().community.introduction_days
    async with Worker(env.client, task_queue="reminders", **journey_worker_options(pool, redis, telegram_bot)):
        journeys = Journeys(env.client, "reminders", active_content)
        handle, reply = await walk_in(env, journeys, user_id, presses=1)
        assert await eventually(lambda: _users(pool, user_id), within=30) == 1

        # Away for almost the whole time: still there. Past it: the journey ends, the profile is forgotten.
        await env.fast_forward(handle, timedelta(days=days - 1))
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await env.fast_forward(handle, timedelta(days=2))
        assert await handle.result() == "lapsed"
        assert await _users(pool, user_id) == 0

        # An old introduction button says so; /start begins anew, from the first screen.
        with pytest.raises(JourneyRejected) as lapsed:
            await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq))
        assert lapsed.value.kind == JourneyError.LAPSED
        again = await journeys.interact(request(user_id, "start", first_name="Sol"))
        assert again.screen.key == "onboarding.1"
        state = await env.client.get_workflow_handle(journey_id(user_id)).query(JourneyWorkflow.current_state)
        assert state.stage == "onboarding" and state.onboarding_step == 1
        await env.client.get_workflow_handle(journey_id(user_id)).terminate("test over")


async def _users(pool: asyncpg.Pool, user_id: int) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM users WHERE telegram_user_id = $1", user_id))


async def _async(value: list[dict[str, object]]) -> list[dict[str, object]]:
    return value


async def _count(items: list[dict[str, object]], expected: int) -> bool:
    return len(items) == expected


async def test_turns_leave_the_alarm_running_and_settle_busy_attributes_within_a_minute(
    skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
    active_content: ActiveContent,
) -> None:  # fmt: skip
    """Each timer and each search-attribute upsert is a write on the server: a turn must cost neither."""
    env = skipping_env
    user_id = new_user_id()
    async with Worker(env.client, task_queue="settled", **journey_worker_options(pool, redis, telegram_bot)):
        journeys = Journeys(env.client, "settled", active_content)
        handle, reply = await walk_in(env, journeys, user_id, presses=3, first_name="Ana")
        onboarded = await _attributes(handle)
        assert onboarded["JourneyStage"] == "active", "the stage goes out at once, the balance with it"
        assert onboarded["BesitosBalance"] == (await handle.query(JourneyWorkflow.current_state)).besitos
        assert "StoryFragment" not in onboarded

        for action in ("story", "menu", "story", "menu", "story"):
            reply = await journeys.interact(request(user_id, "button", action=action, screen=reply.screen.seq))
        fragment = (await handle.query(JourneyWorkflow.current_state)).story.fragment_id
        assert fragment is not None
        assert "StoryFragment" not in await _attributes(handle), "held back: the last publish is under a minute old"

        await env.fast_forward(handle, timedelta(seconds=61))
        await eventually(lambda: _published(handle, "StoryFragment", fragment), within=15)

        events = [event async for event in handle.fetch_history_events()]
        alarms = [e for e in events if e.HasField("timer_started_event_attributes")
                  and "reminder" in e.user_metadata.summary.data.decode()]  # fmt: skip
        cancelled = {e.timer_canceled_event_attributes.timer_id for e in events
                     if e.HasField("timer_canceled_event_attributes")}  # fmt: skip
        # One toward the end of an unfinished introduction (kept through its turns), replaced once by the daily
        # reminder's when the user became active; then none restarted by each turn.
        assert len(alarms) == 2, "one alarm timer per stage, not one per turn"
        assert alarms[0].timer_started_event_attributes.timer_id in cancelled
        assert alarms[1].timer_started_event_attributes.timer_id not in cancelled
        await handle.terminate("test over")


async def _attributes(handle: WorkflowHandle[Any, Any]) -> dict[str, object]:
    described = await handle.describe()
    return {pair.key.name: pair.value for pair in described.typed_search_attributes}


async def _published(handle: WorkflowHandle[Any, Any], name: str, value: object) -> bool:
    return (await _attributes(handle)).get(name) == value
