"""The story and the besitos economy on real servers: Temporal, Postgres, Redis and the Bot API emulator."""

from __future__ import annotations

import json
from base64 import b64encode

import asyncpg
import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from adapters.content_store import ContentRefused, activate, parse_content
from adapters.content_version import ActiveContent
from adapters.journeys import JourneyRejected, Journeys
from infra.payload_codec import ENCODING
from tests.helpers import REPO_ROOT, eventually, new_user_id, request, settled, shipped_content
from tools.emulator import BotAPIEmulator
from worker import WORKFLOWS
from worker.content_library import ContentLibrary
from workflows.contracts import LEADERBOARD_ALL_TIME, JourneyError, JourneyReply, JourneyState
from workflows.journey import JourneyWorkflow, journey_id

WARM = ("story", "pick.c01_follow", "story_next", "pick.c04_keep", "story_next", "pick.c07_open", "story_next",
        "pick.c10_stay", "story_next")  # fmt: skip
SHADOW = ("story", "pick.c01_ask", "story_next", "pick.c04_press", "story_next", "pick.c07_guard", "story_next",
          "pick.c10_leave", "pick.c13_walk")  # fmt: skip


async def state_of(client: Client, user_id: int) -> JourneyState:
    return await client.get_workflow_handle(journey_id(user_id)).query(JourneyWorkflow.current_state)


async def begin(journeys: Journeys, user_id: int) -> JourneyReply:
    reply = await journeys.interact(request(user_id, "start"))
    for _ in range(3):
        reply = await journeys.interact(request(user_id, "button", action="onboarding_next", screen=reply.screen.seq))
    return reply


async def walk(journeys: Journeys, user_id: int, reply: JourneyReply, actions: tuple[str, ...]) -> JourneyReply:
    for action in actions:
        reply = await journeys.interact(request(user_id, "button", action=action, screen=reply.screen.seq))
    return reply


async def ledger_sum(pool: asyncpg.Pool, user_id: int) -> int:
    return int(await pool.fetchval("SELECT coalesce(sum(amount), 0) FROM besitos_ledger WHERE telegram_user_id = $1",
                                   user_id))  # fmt: skip


async def test_both_endings_on_real_servers_with_postgres_in_agreement(journeys: Journeys, client: Client,
                                                                      pool: asyncpg.Pool, redis: Redis) -> None:  # fmt: skip
    user_id = new_user_id()
    reply = await walk(journeys, user_id, await begin(journeys, user_id), WARM)
    assert reply.screen.key == "story.ending" and reply.screen.params["title"] == "Amanecer"
    reply = await walk(journeys, user_id, reply, ("story_restart", *SHADOW[1:]))
    assert reply.screen.params["title"] == "La puerta entreabierta"

    state = await settled(client, user_id)
    assert state.story.endings == ["amanecer", "puerta_entreabierta"]
    assert await ledger_sum(pool, user_id) == state.besitos == state.lifetime_besitos
    progress = await pool.fetchrow("SELECT * FROM story_progress WHERE telegram_user_id = $1", user_id)
    assert progress is not None
    assert (progress["fragment_id"], progress["playthrough"], progress["relationship"]) == ("f14", 2, -2)
    assert json.loads(progress["endings"]) == ["amanecer", "puerta_entreabierta"]
    decisions = await pool.fetch("SELECT playthrough, choice_id FROM story_decisions WHERE telegram_user_id = $1 "
                                 "ORDER BY id", user_id)  # fmt: skip
    assert [(d["playthrough"], d["choice_id"]) for d in decisions] == [
        (1, "c01_follow"), (1, "c04_keep"), (1, "c07_open"), (1, "c10_stay"),
        (2, "c01_ask"), (2, "c04_press"), (2, "c07_guard"), (2, "c10_leave"), (2, "c13_walk"),
    ]  # fmt: skip
    missions = {r["code"] for r in await pool.fetch("SELECT code FROM user_missions WHERE telegram_user_id = $1",
                                                    user_id)}  # fmt: skip
    achievements = {r["code"] for r in await pool.fetch(
        "SELECT code FROM user_achievements WHERE telegram_user_id = $1", user_id)}  # fmt: skip
    assert missions == set(state.missions) and len(missions) >= 3
    assert achievements == set(state.achievements) and len(achievements) >= 5
    assert {"primera_conversacion", "exploradora_curiosa", "story_enthusiast"} <= missions
    # The all-time board holds the lifetime total, written by the leaderboard activity.
    assert await eventually(lambda: redis.zscore(LEADERBOARD_ALL_TIME, str(user_id))) == state.lifetime_besitos


async def test_a_reaction_counts_once_and_a_journey_is_never_opened_by_one(journeys: Journeys, client: Client,
                                                                          pool: asyncpg.Pool) -> None:  # fmt: skip
    stranger = new_user_id()
    with pytest.raises(JourneyRejected) as caught:
        await journeys.interact_if_started(request(stranger, "reaction", action="-1001000000001:9"))
    assert caught.value.kind == JourneyError.NOT_STARTED
    assert not [wf async for wf in client.list_workflows(f'WorkflowId = "{journey_id(stranger)}"')]

    user_id = new_user_id()
    await begin(journeys, user_id)
    first = await journeys.interact_if_started(request(user_id, "reaction", action="-1001000000001:9"))
    again = await journeys.interact_if_started(request(user_id, "reaction", action="-1001000000001:9"))
    assert first.toast is not None and first.toast.key == "toast.reaction.rewarded"
    assert again.toast is not None and again.toast.key == "toast.reaction.again"
    state = await settled(client, user_id)
    assert "community_member" in state.achievements
    rows = await pool.fetch("SELECT rewarded FROM channel_reactions WHERE telegram_user_id = $1", user_id)
    assert [r["rewarded"] for r in rows] == [True]
    assert await ledger_sum(pool, user_id) == state.besitos


async def test_content_activated_under_a_live_journey_is_picked_up_deterministically(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, active_content: ActiveContent
) -> None:
    user_id = new_user_id()
    reply = await walk(journeys, user_id, await begin(journeys, user_id), ("story", "pick.c01_follow"))
    assert reply.screen.params["title"] == "Sin preguntas"
    first_version = active_content.version

    document = shipped_content().model_dump(mode="json")
    document["version"] = "2026-11-23.2"
    for fragment in document["story"]["fragments"]:
        if fragment["id"] == "f04":
            fragment["title"]["es"] = "El primer secreto (edición revisada)"
    text = json.dumps(document, ensure_ascii=False)
    async with pool.acquire() as conn:
        version = await activate(conn, parse_content(text))
    assert version > first_version
    await eventually(lambda: _equals(active_content.version, version))

    reply = await walk(journeys, user_id, reply, ("story_next",))
    assert reply.screen.params["title"] == "El primer secreto (edición revisada)"
    state = await settled(client, user_id)
    assert state.content_version == version and state.story.fragment_id == "f04"

    # The live history, with the content switch in it, replays on today's code, on a worker that reads both
    # versions from Postgres as the replay meets them (the history holds no content). It is encrypted in Temporal:
    # the replay decrypts it through the same codec as the worker.
    history = await client.get_workflow_handle(journey_id(user_id)).fetch_history()
    assert "load_content" not in history.to_json() and b64encode(ENCODING).decode() in history.to_json()
    fresh = ContentLibrary(pool)
    await Replayer(workflows=WORKFLOWS, data_converter=client.data_converter,
                   interceptors=[fresh.interceptor()]).replay_workflow(history)  # fmt: skip
    assert fresh.loaded() == {first_version, version}


async def _equals(current: int, expected: int) -> bool:
    return current == expected


async def test_activation_refuses_bad_content_and_changes_nothing(pool: asyncpg.Pool,
                                                                 active_content: ActiveContent) -> None:  # fmt: skip
    before = await pool.fetchval("SELECT count(*) FROM content_versions")
    document = shipped_content().model_dump(mode="json")
    document["story"]["fragments"] = [f for f in document["story"]["fragments"] if f["id"] != "f18"]
    for fragment in document["story"]["fragments"]:
        if fragment["id"] == "f16":
            fragment["choices"] = fragment["choices"][:1]
    checked = parse_content(json.dumps(document))  # valid on its own...
    async with pool.acquire() as conn:
        with pytest.raises(ContentRefused, match="f18"):  # ...but journeys may stand on f18
            await activate(conn, checked)
    for bad, expected in (("version: [", "not valid YAML"), ("- a list", "must be a mapping"),
                          ("version: x\nstory: {start: f01, fragments: []}\nmissions: []\nachievements: []",
                           "fragments")):  # fmt: skip
        with pytest.raises(ContentRefused, match=expected):
            parse_content(bad)
    assert await pool.fetchval("SELECT count(*) FROM content_versions") == before


async def test_the_content_cli_checks_the_shipped_file_and_refuses_a_broken_one(tmp_path: object) -> None:
    from pathlib import Path

    from tests import hermetic

    env = hermetic.process_environment()
    ok = hermetic.run_diana(["-m", "tools.cli", "content", "check"], env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "20 fragments, 11 missions, 18 achievements — valid" in ok.stdout
    broken = Path(str(tmp_path)) / "broken.yaml"
    broken.write_text((REPO_ROOT / "content" / "diana.yaml").read_text().replace("next: f04", "next: f99", 1))
    refused = hermetic.run_diana(["-m", "tools.cli", "content", "check", str(broken)], env, capture_output=True,
                                 text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 1
    assert "f99" in refused.stderr


async def test_export_sends_a_document_and_erase_forgets_but_keeps_the_ledger_balanced(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator, redis: Redis
) -> None:
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Marta")  # the chat exists in the emulator
    reply = await walk(journeys, user_id, await begin(journeys, user_id), ("story", "pick.c01_follow", "settings"))
    reply = await walk(journeys, user_id, reply, ("export",))
    assert reply.screen.key == "settings.export.sent"

    async def exported() -> dict[str, object] | None:
        for entry in emulator.chats[user_id].transcript:
            if entry["kind"] == "bot_document":
                return json.loads(entry["document_text"])  # type: ignore[no-any-return]
        return None

    document = await eventually(exported)
    assert document is not None
    state = await settled(client, user_id)
    assert document["journey"]["besitos"] == state.besitos  # type: ignore[index]
    assert sum(row["amount"] for row in document["database"]["besitos_ledger"]) == state.besitos  # type: ignore[index]

    rows_before = await pool.fetchval("SELECT count(*) FROM besitos_ledger")
    reply = await walk(journeys, user_id, reply, ("settings", "erase", "erase_confirm"))
    assert reply.screen.key == "settings.erased"
    # The journey completes, then is deleted from Temporal altogether (tests/test_payload_encryption.py).
    assert await eventually(lambda: _closed(client, user_id)) in (WorkflowExecutionStatus.COMPLETED, "deleted")
    assert await pool.fetchval("SELECT count(*) FROM users WHERE telegram_user_id = $1", user_id) == 0
    assert await pool.fetchval("SELECT count(*) FROM story_progress WHERE telegram_user_id = $1", user_id) == 0
    assert await pool.fetchval("SELECT count(*) FROM besitos_ledger") == rows_before, "anonymised, not deleted"
    assert await redis.zscore(LEADERBOARD_ALL_TIME, str(user_id)) is None

    # Starting again is a brand-new journey: the welcome besitos are paid again, into a clean ledger.
    await begin(journeys, user_id)
    again = await settled(client, user_id)
    assert again.besitos == 65 and await ledger_sum(pool, user_id) == 65


async def _closed(client: Client, user_id: int) -> WorkflowExecutionStatus | str | None:
    try:
        description = await client.get_workflow_handle(journey_id(user_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "deleted"
        raise
    return description.status if description.status != WorkflowExecutionStatus.RUNNING else None


async def test_a_notification_is_sent_once_however_often_the_activity_runs(pool: asyncpg.Pool,
                                                                          emulator: BotAPIEmulator,
                                                                          telegram_bot: object) -> None:  # fmt: skip
    from aiogram import Bot
    from temporalio.testing import ActivityEnvironment

    from activities.telegram import TelegramActivities
    from workflows.contracts import Notice, Notify, Screen

    assert isinstance(telegram_bot, Bot)
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola")
    await pool.execute("INSERT INTO users (telegram_user_id, stage) VALUES ($1, 'active')", user_id)
    notify = Notify(user_id=user_id, idempotency_key=f"journey-{user_id}:notify:1", language="es",
                    screen=Screen(key="notify.progress", notices=[Notice(key="notice.level_up", params={"level": 3})]))  # fmt: skip
    activities = TelegramActivities(telegram_bot, pool)
    for _ in range(3):  # a retried activity, a restarted worker
        await ActivityEnvironment().run(activities.send_notification, notify)
    sent = [e for e in emulator.chats[user_id].transcript if e["kind"] == "bot_message"]
    assert len(sent) == 1 and "nivel 3" in sent[0]["text"]
    assert await pool.fetchval("SELECT status FROM notifications WHERE idempotency_key = $1",
                               notify.idempotency_key) == "sent"  # fmt: skip
