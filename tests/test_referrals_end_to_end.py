"""The invitation screen through the real bot process: the link, its share button, and a friend who comes through it."""

from __future__ import annotations

import subprocess
from urllib.parse import parse_qs, urlparse

import aiohttp
import asyncpg
from temporalio.client import Client

from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, onboard
from tests.test_end_to_end import bot_process  # noqa: F401  (the fixture)
from tools.emulator import BotAPIEmulator
from tools.emulator.common import BOT_USERNAME
from workflows.contracts import JourneyState
from workflows.journey import JourneyWorkflow, journey_id


async def test_the_invitation_screen_and_a_friend_through_the_link(
    bot_process: subprocess.Popen[bytes],  # noqa: F811
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    menu = await onboard(fan)
    await fan.press(menu["message_id"], fan.button(menu, "Mis Besitos"))
    besitos = await fan.next_from_bot("bot_edit")
    await fan.press(besitos["message_id"], fan.button(besitos, "Invita"))
    invite = await fan.next_from_bot("bot_edit")
    assert "Invita" in invite["text"] and "Llegaron por ti: 0" in invite["text"]
    share = next(b for row in invite["buttons"] for b in row if "Comparte" in b["text"])
    link = parse_qs(urlparse(share["url"]).query)["url"][0]
    assert share["url"].startswith("https://t.me/share/url?")
    assert link.startswith(f"https://t.me/{BOT_USERNAME}?start=ref_") and link in invite["text"]
    code = link.rsplit("ref_", 1)[1]
    assert str(fan.user_id) not in link, "the code, never the user id"

    async def saved() -> bool:
        owner = await pool.fetchval("SELECT telegram_user_id FROM referral_codes WHERE code = $1", code)
        return bool(owner == fan.user_id)

    assert await eventually(saved)

    # A friend opens the link: attributed, and once through the introduction the fan earns besitos.
    friend = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Rita")
    await friend.send(f"/start ref_{code}")
    screen = await friend.next_from_bot("bot_message", within=60)
    for _ in range(3):
        await friend.press(screen["message_id"], friend.button(screen, "✨" if "✨" in str(screen["buttons"]) else ""))
        screen = await friend.next_from_bot("bot_edit")
    state: JourneyState = await client.get_workflow_handle(journey_id(friend.user_id)).query(
        JourneyWorkflow.current_state
    )
    assert state.referral.referrer == code and str(fan.user_id) not in state.model_dump_json()

    async def introduced() -> JourneyState | None:
        state = await client.get_workflow_handle(journey_id(fan.user_id)).query(JourneyWorkflow.current_state)
        return state if state.referral.introduced == 1 and not state.pending_effects else None

    fan_state = await eventually(introduced, within=30)
    assert fan_state is not None and fan_state.referral.besitos_earned == 50
    await fan.next_saying("terminó su presentación")
    total = await pool.fetchval("SELECT sum(amount) FROM besitos_ledger WHERE telegram_user_id = $1", fan.user_id)
    assert total == fan_state.besitos

    # The screen shows it; a stranger's malformed payload is a normal start.
    await fan.send("/diana")
    menu = await fan.next_from_bot("bot_message")
    await fan.press(menu["message_id"], fan.button(menu, "Mis Besitos"))
    besitos = await fan.next_from_bot("bot_edit")
    await fan.press(besitos["message_id"], fan.button(besitos, "Invita"))
    invite = await fan.next_from_bot("bot_edit")
    assert "Llegaron por ti: 1" in invite["text"] and "Terminaron su presentación: 1" in invite["text"]
    assert "te has ganado 50 besitos" in invite["text"]
    stranger = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Eco")
    await stranger.send("/start ref_<script>")
    assert "Diana" in (await stranger.next_from_bot("bot_message", within=60))["text"]
    state = await client.get_workflow_handle(journey_id(stranger.user_id)).query(JourneyWorkflow.current_state)
    assert state.referral.referrer == "" and state.stage == "onboarding"
