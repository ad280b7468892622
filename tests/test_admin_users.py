"""/usuario and /dar through the real bot: an admin looks a fan up, gives and takes besitos, bans and unbans;
a fan trying the same is refused and audited."""

from __future__ import annotations

import subprocess

import aiohttp
import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.bot_process import BotProcesses, bots_fixture  # noqa: F401  (the ``bots`` fixture)
from tests.helpers import new_user_id, settled
from tests.telegram import EmulatedUser, onboard, redeliver
from tests.test_story_economy import ledger_sum
from tools.emulator import BotAPIEmulator

ADMIN = 4_000_021


async def staff_rows(pool: asyncpg.Pool, user_id: int) -> list[int]:
    rows = await pool.fetch("SELECT amount FROM besitos_ledger WHERE telegram_user_id = $1 AND action LIKE 'support_%' "
                            "ORDER BY id", user_id)  # fmt: skip
    return [row["amount"] for row in rows]


@pytest.fixture
def admin_bot(bots: BotProcesses, database: str, redis_server: str, worker: Worker) -> subprocess.Popen[bytes]:
    return bots.start(database, redis_server, ADMIN_IDS=str(ADMIN))


async def test_an_admin_looks_a_fan_up_and_changes_their_journey_once_per_press(
    admin_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola", username="lola_luna")
    await onboard(fan)
    before = await settled(client, fan.user_id)

    # A fan cannot look anyone up; the attempt is audited.
    await fan.send(f"/usuario {fan.user_id}")
    assert "solo para quienes administran" in (await fan.next_from_bot("bot_message"))["text"]
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user lookup refused' AND actor = $1",
                               f"user:{fan.user_id}") == 1  # fmt: skip

    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    await admin.send("/usuario")
    assert "Uso: /usuario" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send("/usuario @nadie_aqui")
    assert "No encuentro ese viaje: no user @nadie_aqui" in (await admin.next_from_bot("bot_message"))["text"]

    await admin.send("/usuario @lola_luna")
    shown = await admin.next_from_bot("bot_message")
    assert f"Lola</b> @lola_luna · <code>{fan.user_id}</code>" in shown["html"]
    assert f"Besitos: <b>{before.besitos}</b>" in shown["html"] and "Postgres coincide con el viaje" in shown["text"]

    # +50 pressed, and the same press delivered again: applied once.
    grant = admin.button(shown, "+50")
    pressed = await admin.press(shown["message_id"], grant)
    await admin.next_from_bot("bot_edit")
    await redeliver(http, emulator.base_url, pressed["update_id"])
    granted = await settled(client, fan.user_id)
    assert await staff_rows(pool, fan.user_id) == [50]  # (besitos thresholds it crossed pay on their own)
    assert "50" in (await fan.next_saying("Te regalo"))["text"]

    # A fan pressing an admin's button is refused and audited, and nothing changes.
    await fan.press(shown["message_id"], grant, chat_id=ADMIN, forge=True)
    assert (await settled(client, fan.user_id)).besitos == granted.besitos

    await admin.send(f"/dar {fan.user_id} -20 ajuste de prueba")
    assert "took back 20 besitos" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send(f"/dar {fan.user_id} muchos porque sí")
    assert "Uso: /dar" in (await admin.next_from_bot("bot_message"))["text"]
    after = await settled(client, fan.user_id)
    assert after.besitos == granted.besitos - 20 and await ledger_sum(pool, fan.user_id) == after.besitos
    assert await staff_rows(pool, fan.user_id) == [50, -20]

    # A large grant waits for the admin's ✅ on a preview: cancelled, nothing changes; confirmed, applied once.
    await admin.send(f"/dar {fan.user_id} 1000 premio del concurso")
    preview = await admin.next_saying("Vas a dar")
    assert (
        f"<b>1000</b> besitos a Lola (<code>{fan.user_id}</code>), que ahora tiene {after.besitos}" in preview["html"]
    )
    await admin.press(preview["message_id"], admin.button(preview, "Cancelar"))
    await admin.next_saying("Cancelado")
    assert await staff_rows(pool, fan.user_id) == [50, -20]
    await admin.send(f"/dar {fan.user_id} 600 premio del concurso, corregido")
    preview = await admin.next_saying("Vas a dar")
    await admin.press(preview["message_id"], admin.button(preview, "Confirmar"))
    assert "granted 600 besitos" in (await admin.next_from_bot("bot_message"))["text"]
    assert await staff_rows(pool, fan.user_id) == [50, -20, 600]

    await admin.press(shown["message_id"], admin.button(shown, "Suspender"))
    banned_view = await admin.next_from_bot("bot_edit")
    assert "Suspendido: sí" in banned_view["text"] and "Levantar suspensión" in str(banned_view["buttons"])
    await fan.send("/diana")
    await fan.next_saying("Tu acceso a la comunidad de Diana está suspendido")
    await admin.press(shown["message_id"], admin.button(banned_view, "Levantar"))
    await admin.next_from_bot("bot_edit")
    await fan.send("/diana")
    assert "suspendido" not in (await fan.next_from_bot("bot_message"))["text"]

    actions = [row["action"] for row in await pool.fetch(
        "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id", f"user:{fan.user_id}")]  # fmt: skip
    assert actions == ["grant", "grant", "grant", "ban", "unban"]
    # The press delivered again was answered too late for Telegram: handled all the same, nothing kept as failed.
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user change refused' AND actor = $1",
                               f"user:{fan.user_id}") == 1  # fmt: skip
