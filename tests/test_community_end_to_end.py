"""The community through the real bot process: admin posts, reactions, channel joins, ranking, the story."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from infra.settings import EMULATOR_COMMUNITY_CHANNEL
from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, onboard
from tests.test_end_to_end import bot_environment, running_bot
from tools.emulator import BotAPIEmulator
from workflows.contracts import JourneyState
from workflows.journey import JourneyWorkflow, journey_id

SECOND_CHANNEL = -1001000000002
ADMIN = 4_000_001


@pytest.fixture
async def community_bot(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker, http: aiohttp.ClientSession,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    async with http.post(f"{emulator.base_url}/control/channels",
                         json={"chat_id": SECOND_CHANNEL, "title": "Diana · Secretos"}) as response:  # fmt: skip
        assert (await response.json())["ok"]
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, ADMIN_IDS=str(ADMIN),
                          COMMUNITY_CHANNEL_IDS=f"{EMULATOR_COMMUNITY_CHANNEL},{SECOND_CHANNEL}")  # fmt: skip
    async with running_bot(env) as process:
        yield process


async def test_posts_reactions_joins_ranking_and_story_through_the_real_bot(
    community_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    menu = await onboard(fan)
    assert "Bienvenido a mi mundo" in str(menu["text"])

    # A non-admin cannot publish; the attempt is audited.
    await fan.send("/publicar hola a todos")
    refused = await fan.next_from_bot("bot_message")
    assert "solo para quienes administran" in refused["text"]
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'publish refused' AND actor = $1",
                               f"user:{fan.user_id}") == 1  # fmt: skip

    # The admin publishes; the post lands in the channel with reaction buttons.
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    await admin.send("/publicar Nueva noche, nuevos secretos 🌙")
    done = await admin.next_from_bot("bot_message")
    assert "Publicado en el canal" in done["text"]
    channel = EmulatedUser(http, emulator.base_url, fan.user_id)
    post = (await channel.transcript(chat_id=EMULATOR_COMMUNITY_CHANNEL))[-1]
    assert post["text"] == "Nueva noche, nuevos secretos 🌙"
    heart = post["buttons"][0][0]["callback_data"]

    # The fan reacts twice: besitos once, and the toast says so.
    pressed = await fan.press(post["message_id"], heart, chat_id=EMULATOR_COMMUNITY_CHANNEL)
    assert "+2 besitos" in (await fan.callback_answer(pressed["callback_query_id"]))["text"]
    pressed = await fan.press(post["message_id"], heart, chat_id=EMULATOR_COMMUNITY_CHANNEL)
    assert "Ya reaccionaste" in (await fan.callback_answer(pressed["callback_query_id"]))["text"]
    # The post counts its reactions: one person, one heart, however often they press.
    edits = [e for e in await channel.transcript(chat_id=EMULATOR_COMMUNITY_CHANNEL, wait=2)
             if e["message_id"] == post["message_id"] and e["kind"] == "bot_edit"]  # fmt: skip
    assert [b["text"] for b in edits[-1]["buttons"][0]] == ["❤️ 1", "🔥", "💋"] and len(edits) == 1
    # The first reaction unlocked an achievement: the journey tells the fan in the private chat.
    news = await fan.next_from_bot("bot_message")
    assert "Miembro de la Comunidad" in news["text"]

    # Someone who never met Diana reacts: a clear answer, and no journey is opened.
    stranger = EmulatedUser(http, emulator.base_url, new_user_id())
    pressed = await stranger.press(post["message_id"], heart, chat_id=EMULATOR_COMMUNITY_CHANNEL)
    assert "/start" in (await stranger.callback_answer(pressed["callback_query_id"]))["text"]
    assert not [wf async for wf in client.list_workflows(f'WorkflowId = "{journey_id(stranger.user_id)}"')]

    # Joining both community channels completes the "Miembro de la Comunidad" mission.
    for chat_id in (EMULATOR_COMMUNITY_CHANNEL, SECOND_CHANNEL):
        assert (await fan.join(chat_id))["update_id"] is not None

    async def joined_both() -> JourneyState | None:
        state = await client.get_workflow_handle(journey_id(fan.user_id)).query(JourneyWorkflow.current_state)
        return state if "channel_member" in state.missions else None

    state = await eventually(joined_both, within=30)
    assert state is not None and sorted(state.community.channels) == sorted([EMULATOR_COMMUNITY_CHANNEL,
                                                                             SECOND_CHANNEL])  # fmt: skip

    # The ranking shows the fan with their own rank (the mission's notification may arrive in between).
    await fan.send("/diana")
    menu = await fan.next_from_bot("bot_message")
    while "Ranking" not in str(menu["buttons"]):
        assert "Misión cumplida" in menu["text"]
        menu = await fan.next_from_bot("bot_message")
    await fan.press(menu["message_id"], fan.button(menu, "Ranking"))
    ranking = await fan.next_from_bot()
    assert "Lola" in ranking["text"] and "Tu puesto: #1" in ranking["text"]

    # Back to the menu, and into the story: Diana's first fragment, with its choices.
    await fan.press(ranking["message_id"], fan.button(ranking, "Volver"))
    menu = await fan.next_from_bot()
    await fan.press(menu["message_id"], fan.button(menu, "Continuar Historia"))
    fragment = await fan.next_from_bot()
    assert "La invitación" in fragment["text"] and fragment["type"] == "photo"
    await fan.press(fragment["message_id"], fan.button(fragment, "Seguirla"))
    fragment = await fan.next_from_bot()
    assert "Sin preguntas" in fragment["text"] and "Logro desbloqueado" in fragment["text"]
