"""The journey workflow on a real Temporal dev server, with the real activities on a real Postgres."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from adapters.content_version import ActiveContent
from adapters.journeys import INTERACT, JourneyRejected, Journeys, JourneyUnavailable
from tests.conftest import start_temporal_env
from tests.helpers import eventually, new_user_id, request
from worker import journey_worker_options
from workflows import rules
from workflows.contracts import JourneyError, JourneyInput, JourneyReply, JourneyRequest, JourneyState
from workflows.journey import JourneyWorkflow, journey_id


async def onboard(journeys: Journeys, user_id: int) -> JourneyReply:
    reply = await journeys.interact(request(user_id, "start"))
    for _ in range(3):
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq))
    return reply


async def state_of(client: Client, user_id: int) -> JourneyState:
    return await client.get_workflow_handle(journey_id(user_id)).query(JourneyWorkflow.current_state)


async def ledger(pool: asyncpg.Pool, user_id: int) -> list[asyncpg.Record]:
    return await pool.fetch(  # type: ignore[no-any-return]
        "SELECT action, amount, balance_after, idempotency_key FROM besitos_ledger WHERE telegram_user_id = $1 ORDER BY id",
        user_id,
    )


async def projection_settled(client: Client, user_id: int) -> bool:
    return not (await state_of(client, user_id)).pending_effects


class TestOnboardingOnRealServers:
    async def test_start_to_menu_awards_welcome_besitos_and_projects_them(
        self, journeys: Journeys, client: Client, pool: asyncpg.Pool
    ) -> None:
        user_id = new_user_id()
        first = await journeys.interact(request(user_id, "start", first_name="Lucía"))
        assert first.screen.key == "onboarding.1"
        assert first.screen.params["name"] == "Lucía"
        menu = await onboard(journeys, user_id)
        assert menu.screen.key == "menu.greeting.welcome"

        besitos = await journeys.interact(request(user_id, "button", action="besitos", screen=menu.screen.seq))
        assert besitos.screen.params["balance"] == 65
        assert besitos.screen.params["level"] == 1

        await eventually(lambda: projection_settled(client, user_id))
        rows = await ledger(pool, user_id)
        assert [(r["action"], r["amount"], r["balance_after"]) for r in rows] == [
            ("daily_login", 15, 15),
            ("achievement_unlocked", 50, 65),
        ]
        assert sum(r["amount"] for r in rows) == (await state_of(client, user_id)).besitos
        user = await pool.fetchrow("SELECT stage, language FROM users WHERE telegram_user_id = $1", user_id)
        assert user is not None and (user["stage"], user["language"]) == ("active", "es")
        achievements = await pool.fetch("SELECT code FROM user_achievements WHERE telegram_user_id = $1", user_id)
        assert [a["code"] for a in achievements] == ["first_steps"]

    async def test_search_attributes_find_the_journey(self, journeys: Journeys, client: Client) -> None:
        user_id = new_user_id()
        await onboard(journeys, user_id)

        async def found() -> list[str]:
            query = f'WorkflowId = "{journey_id(user_id)}" AND JourneyStage = "active" AND BesitosBalance >= 50'
            return [wf.id async for wf in client.list_workflows(query)]

        assert await eventually(found) == [journey_id(user_id)]


class TestExactlyOnce:
    async def test_a_redelivered_update_is_applied_once(
        self, journeys: Journeys, client: Client, pool: asyncpg.Pool
    ) -> None:
        user_id = new_user_id()
        reply = await journeys.interact(request(user_id, "start"))
        for _ in range(2):
            reply = await journeys.interact(
                request(user_id, "button", action="onboarding_next", screen=reply.screen.seq)
            )
        last = request(user_id, "button", action="onboarding_next", screen=reply.screen.seq)
        first_delivery = await journeys.interact(last)
        second_delivery = await journeys.interact(last)
        assert second_delivery.screen == first_delivery.screen
        await eventually(lambda: projection_settled(client, user_id))
        assert (await state_of(client, user_id)).besitos == 65
        assert len(await ledger(pool, user_id)) == 2

    async def test_a_retried_projection_activity_writes_once(self, pool: asyncpg.Pool, redis: Redis) -> None:
        from datetime import UTC, datetime

        from activities.projection import ProjectionActivities
        from workflows.contracts import (
            LEADERBOARD_ALL_TIME,
            AwardBesitos,
            ProjectionBatch,
            SaveProfile,
            TelegramProfile,
            UnlockAchievement,
            UpdateLeaderboard,
        )

        user_id, stranger = new_user_id(), new_user_id()
        activities = ProjectionActivities(pool, redis)
        now = datetime.now(UTC)
        profile = SaveProfile(profile=TelegramProfile(user_id=user_id, first_name="Eva"), stage="active", language="es",
                              seen_at=now)  # fmt: skip
        award = AwardBesitos(user_id=user_id, idempotency_key=f"k-{user_id}", action="daily_login", amount=15,
                             balance_after=15, awarded_at=now)  # fmt: skip
        for _ in range(3):
            await activities.record_projection(ProjectionBatch(user_id=user_id, effects=[profile, award]))
        assert len(await ledger(pool, user_id)) == 1
        assert await pool.fetchval("SELECT count(*) FROM users WHERE telegram_user_id = $1", user_id) == 1

        # A turn's batch, retried: each row once. A row Postgres refuses (an achievement of a user it does not
        # know) is reported by position and the others are still written.
        second = award.model_copy(update={"idempotency_key": f"k2-{user_id}", "amount": 5, "balance_after": 20})
        totals = UpdateLeaderboard(user_id=user_id, name="Eva", lifetime_besitos=20, week_besitos=20, week="2026-W48")
        orphan = UnlockAchievement(user_id=stranger, code="first_steps", unlocked_at=now)
        for _ in range(2):
            outcome = await activities.record_projection(
                ProjectionBatch(user_id=user_id, effects=[profile, second, totals])
            )
            assert outcome.refused == []
        assert [row["amount"] for row in await ledger(pool, user_id)] == [15, 5]
        assert await redis.zscore(LEADERBOARD_ALL_TIME, str(user_id)) == 20
        third = award.model_copy(update={"idempotency_key": f"k3-{user_id}", "amount": 1, "balance_after": 21})
        outcome = await activities.record_projection(ProjectionBatch(user_id=user_id, effects=[orphan, third]))
        assert outcome.refused == [0]
        assert [row["amount"] for row in await ledger(pool, user_id)] == [15, 5, 1]


class TestBadInputChangesNothing:
    async def rejected(self, journeys: Journeys, req: object) -> str:
        with pytest.raises(JourneyRejected) as caught:
            await journeys.interact(req)  # type: ignore[arg-type]
        return caught.value.kind

    async def test_forged_stale_and_foreign_requests(
        self, journeys: Journeys, client: Client, pool: asyncpg.Pool
    ) -> None:
        user_id = new_user_id()
        menu = await onboard(journeys, user_id)
        await eventually(lambda: projection_settled(client, user_id))
        before_state = await state_of(client, user_id)
        before_ledger = await ledger(pool, user_id)
        before_history = len((await client.get_workflow_handle(journey_id(user_id)).fetch_history()).events)

        seq = menu.screen.seq
        assert await self.rejected(journeys, request(user_id, "button", action="grant_vip", screen=seq)) == (
            JourneyError.UNKNOWN_ACTION
        )
        assert await self.rejected(journeys, request(user_id, "button", action="besitos", screen=seq - 2)) == (
            JourneyError.STALE_SCREEN
        )
        assert await self.rejected(journeys, request(user_id, "text", text="a" * 5000)) == JourneyError.INVALID_INPUT

        # Someone else's request sent to this journey.
        handle = client.get_workflow_handle(journey_id(user_id))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(INTERACT, request(user_id + 1, "menu"))

        assert await state_of(client, user_id) == before_state
        assert await ledger(pool, user_id) == before_ledger
        # Rejected updates never enter the history.
        after_history = len((await handle.fetch_history()).events)
        assert after_history == before_history

    async def test_a_button_before_start_is_refused_and_opens_no_journey(
        self, journeys: Journeys, client: Client, pool: asyncpg.Pool
    ) -> None:
        """A stranger's press (forged, or an old screen) must not leave a journey behind that never ends."""
        user_id = new_user_id()
        assert await self.rejected(journeys, request(user_id, "button", action="menu", screen=0)) == (
            JourneyError.NOT_STARTED
        )
        with pytest.raises(RPCError) as missing:
            await client.get_workflow_handle(journey_id(user_id)).describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND
        assert await pool.fetchval("SELECT count(*) FROM users WHERE telegram_user_id = $1", user_id) == 0


async def test_continue_as_new_loses_and_doubles_nothing(pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
                                                         active_content: ActiveContent) -> None:  # fmt: skip
    """A server that suggests continue-as-new after 50 events: many runs, one consistent journey."""
    env = await start_temporal_env("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=50")
    try:
        client = env.client
        async with Worker(client, task_queue="can", **journey_worker_options(pool, redis, telegram_bot)):
            journeys = Journeys(client, "can", active_content)
            user_id = new_user_id()
            start = request(user_id, "start")
            reply = await journeys.interact(start)
            first_run = (await client.get_workflow_handle(journey_id(user_id)).describe()).run_id
            for _ in range(3):
                reply = await journeys.interact(request(user_id, "button", action="onboarding_next",
                                                        screen=reply.screen.seq))  # fmt: skip
            early_press = request(user_id, "button", action="besitos", screen=reply.screen.seq)
            reply = await journeys.interact(early_press)
            for _ in range(40):
                reply = await journeys.interact(request(user_id, "button", action="menu", screen=reply.screen.seq))
                reply = await journeys.interact(request(user_id, "button", action="besitos", screen=reply.screen.seq))
            await eventually(lambda: projection_settled(client, user_id))
            handle = client.get_workflow_handle(journey_id(user_id))
            assert (await handle.describe()).run_id != first_run, "the journey never continued as new"

            # Updates from an earlier run, redelivered now: applied once, nothing changes.
            before = await state_of(client, user_id)
            again = await journeys.interact(early_press)
            assert again.duplicate
            await journeys.interact(start)
            after = await state_of(client, user_id)
            assert after.besitos == before.besitos == 65
            assert after.screen_seq == before.screen_seq
            rows = await ledger(pool, user_id)
            assert len(rows) == 2 and sum(r["amount"] for r in rows) == after.besitos
            assert after.stage == "active" and after.achievements == ["first_steps"]
    finally:
        await env.shutdown()


async def test_journey_input_round_trips_through_the_data_converter(client: Client, task_queue: str,
                                                                   worker: Worker) -> None:  # fmt: skip
    """A journey started with carried state (as continue-as-new does) resumes from it."""
    user_id = new_user_id()
    carried = JourneyState(user_id=user_id, stage="active", besitos=120, lifetime_besitos=120, screen_seq=7,
                           recent_deliveries=["11-a", "12-b"])  # fmt: skip
    handle = await client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=user_id, state=carried),
                                         id=journey_id(user_id), task_queue=task_queue,
                                         execution_timeout=timedelta(minutes=5))  # fmt: skip
    state = await handle.query(JourneyWorkflow.current_state)
    assert state.besitos == 120 and state.screen_seq == 7 and state.recent_deliveries == ["11-a", "12-b"]
    await handle.terminate("test over")


async def test_a_row_postgres_refuses_is_parked_and_later_effects_go_on(
    client: Client, task_queue: str, worker: Worker, pool: asyncpg.Pool
) -> None:
    """A ledger row whose user does not exist in Postgres (foreign key) can never be written."""
    from datetime import UTC, datetime

    from workflows.contracts import AwardBesitos, SaveProfile, TelegramProfile

    user_id = new_user_id()
    now = datetime.now(UTC)
    orphan = AwardBesitos(user_id=user_id + 500_000, idempotency_key=f"orphan-{user_id}", action="daily_login",
                          amount=15, balance_after=15, awarded_at=now)  # fmt: skip
    profile = SaveProfile(profile=TelegramProfile(user_id=user_id, first_name="Inés"), stage="active",
                          language="es", seen_at=now)  # fmt: skip
    carried = JourneyState(user_id=user_id, stage="active", pending_effects=[orphan, profile])
    handle = await client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=user_id, state=carried),
                                         id=journey_id(user_id), task_queue=task_queue)  # fmt: skip

    async def parked() -> JourneyState | None:
        state = await handle.query(JourneyWorkflow.current_state)
        return state if not state.pending_effects else None

    state = await eventually(parked)
    assert state is not None
    assert [parked.effect for parked in state.parked_effects] == [orphan]
    assert state.parked_effects[0].reason
    assert await pool.fetchval("SELECT first_name FROM users WHERE telegram_user_id = $1", user_id) == "Inés"
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING, "the journey lives on"
    await handle.terminate("test over")


async def test_a_fault_applying_one_request_refuses_it_and_the_journey_goes_on(
    client: Client, task_queue: str, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
    active_content: ActiveContent, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A bug hit by one request fails that Update, not the workflow task: the journey answers the next one."""
    applying = rules.decide

    def decide_with_a_bug(state: JourneyState, request: JourneyRequest, *args: object, **kwargs: object) -> object:
        if request.kind == "text":
            raise KeyError("a bug in the rules")
        return applying(state, request, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rules, "decide", decide_with_a_bug)
    user_id = new_user_id()
    options = journey_worker_options(pool, redis, telegram_bot, sandboxed=False)  # the patch reaches the rules
    async with Worker(client, task_queue=task_queue, **options):
        journeys = Journeys(client, task_queue, active_content, deadline=30)
        await journeys.interact(request(user_id, "start"))
        with pytest.raises(JourneyUnavailable, match="could not apply it: KeyError"):
            await journeys.interact(request(user_id, "text", text="hola"))
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=1))
        assert reply.screen.key.startswith("onboarding") and reply.screen.seq == 2
        handle = client.get_workflow_handle(journey_id(user_id))
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_a_content_version_no_worker_can_read_is_refused_and_the_journey_keeps_its_own(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, active_content: ActiveContent,
) -> None:  # fmt: skip
    """A version gone from Postgres (a restore): a journey that has one plays on with it; a new one is refused as
    unavailable. Neither fails its workflow tasks forever."""
    playing = new_user_id()
    await journeys.interact(request(playing, "start"))
    gone = ActiveContent(pool)
    gone.version = active_content.version + 1000  # never stored
    lost = Journeys(client, journeys.task_queue, gone, deadline=30)
    reply = await lost.interact(request(playing, "button", action="onboarding_next", screen=1))
    assert reply.screen.key.startswith("onboarding")
    state = await client.get_workflow_handle(journey_id(playing)).query(JourneyWorkflow.current_state)
    assert state.content_version == active_content.version, "it keeps the newest version it could read"
    with pytest.raises(JourneyUnavailable, match="does not exist"):
        await lost.interact(request(new_user_id(), "start"))
