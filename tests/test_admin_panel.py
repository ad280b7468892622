"""The admin panel: the dashboard's SQL on seeded rows, users sending files to the emulator, and /admin
through the real bot process (refused to non-admins, dashboard, content upload, diff and activation)."""

from __future__ import annotations

import inspect
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.content_store import active_version
from adapters.dashboard import dashboard, local_day_start
from bot import build_dispatcher
from bot.admin_panel import AdminCB
from tests.helpers import REPO_ROOT, new_user_id, shipped_content
from tests.telegram import EmulatedUser, control, onboard
from tests.test_end_to_end import bot_environment, start_bot, stop_bot
from tools.emulator import BotAPIEmulator

ADMIN = 4_000_011
OTHER_ADMIN = 4_000_012
# Noon UTC on a Tuesday: 06:00 in Mexico City (the shipped content's time zone, UTC-6 all year).
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SHIPPED = (REPO_ROOT / "content" / "diana.yaml").read_text(encoding="utf-8")


async def add_user(pool: asyncpg.Pool, user_id: int, joined: datetime, seen: datetime, stage: str = "active") -> None:
    await pool.execute("INSERT INTO users (telegram_user_id, stage, joined_at, last_seen_at) VALUES ($1, $2, $3, $4)",
                       user_id, stage, joined, seen)  # fmt: skip


async def add_progress(pool: asyncpg.Pool, user_id: int, fragment_id: str | None, completed: list[str]) -> None:
    await pool.execute(
        "INSERT INTO story_progress (telegram_user_id, seq, content_version, fragment_id, playthrough, relationship,"
        " flags, completed, endings, saved_at) VALUES ($1, 1, 1, $2, 1, 0, '[]', $3::jsonb, '[]', $4)",
        user_id, fragment_id, json.dumps(completed), NOW,
    )  # fmt: skip


async def add_payment(pool: asyncpg.Pool, charge: str, user_id: int | None, amount: int, paid: datetime,
                      refunded: datetime | None = None) -> None:  # fmt: skip
    await pool.execute(
        "INSERT INTO payments (charge_id, provider, telegram_user_id, payload, plan, amount, currency, paid_at,"
        " refunded_at) VALUES ($1, 'telegram_stars', $2, 'p', 'mensual', $3, 'XTR', $4, $5)",
        charge, user_id, amount, paid, refunded,
    )  # fmt: skip


class TestDashboardQueries:
    async def test_every_figure_matches_the_seeded_rows(self, pool: asyncpg.Pool) -> None:
        u1, u2, u3, u4, u5 = (9_100_001 + i for i in range(5))
        await add_user(pool, u1, NOW - timedelta(hours=1), NOW - timedelta(hours=1))
        # 05:00 UTC is 23:00 the day before in Mexico City: new this week, not today; seen today at 01:00 local.
        await add_user(pool, u2, datetime(2026, 11, 24, 5, tzinfo=UTC), datetime(2026, 11, 24, 7, tzinfo=UTC))
        await add_user(pool, u3, NOW - timedelta(days=10), NOW - timedelta(days=3))
        await add_user(pool, u4, NOW - timedelta(days=30), NOW - timedelta(days=30), stage="onboarding")
        # 23:30 local on 17 November: half an hour before the 7-day window opens.
        await add_user(pool, u5, datetime(2026, 11, 18, 5, 30, tzinfo=UTC), datetime(2026, 11, 18, 5, 30, tzinfo=UTC))
        await add_progress(pool, u1, "f02", ["f01"])
        await add_progress(pool, u2, "f04", ["f01", "f02"])
        # A second playthrough: standing on f01, completed before; it is reached once.
        await add_progress(pool, u3, "f01", ["f01", "f03", "f04", "f05", "f07", "f08", "f10", "f11", "f12"])
        await add_progress(pool, u5, "gone", [])  # a fragment an older content version had
        for user_id, code in ((u1, "primera_conversacion"), (u2, "primera_conversacion"),
                              (u3, "primera_conversacion"), (u3, "exploradora_curiosa"), (u2, "retired")):  # fmt: skip
            await pool.execute("INSERT INTO user_missions (telegram_user_id, code, completed_at) VALUES ($1, $2, $3)",
                               user_id, code, NOW)  # fmt: skip
        for user_id, status in ((u1, "active"), (u2, "grace"), (u3, "expired"), (u5, "refunded")):
            await pool.execute("INSERT INTO subscriptions (telegram_user_id, seq, plan, status, updated_at)"
                               " VALUES ($1, 1, 'mensual', $2, $3)", user_id, status, NOW)  # fmt: skip
        await add_payment(pool, "c1", u1, 250, NOW - timedelta(days=2))
        await add_payment(pool, "c2", u2, 250, NOW - timedelta(days=40))
        await add_payment(pool, "c3", u2, 600, NOW - timedelta(days=10), refunded=NOW - timedelta(days=9))
        await add_payment(pool, "c4", u5, 250, NOW - timedelta(days=100), refunded=NOW - timedelta(days=99))
        await add_payment(pool, "c5", None, 250, NOW - timedelta(days=5))  # an erased user's, anonymised

        figures = await dashboard(pool, NOW)

        assert figures.timezone == "America/Mexico_City" and figures.content_version == await active_version(pool)
        assert (figures.users_total, figures.users_onboarded) == (5, 4)
        assert (figures.new_today, figures.new_7_days) == (1, 2)
        assert (figures.active_today, figures.active_7_days) == (2, 3)
        funnel = {row.fragment_id: (row.reached, row.completed, row.here) for row in figures.funnel}
        assert funnel["f01"] == (3, 3, 1)
        assert funnel["f02"] == (2, 1, 1)
        assert funnel["f03"] == (1, 1, 0)
        assert funnel["f04"] == (2, 1, 1)
        assert funnel["f06"] == (0, 0, 0)
        assert funnel["f12"] == (1, 1, 0)
        fragments = [f.id for f in shipped_content().story.fragments]
        assert [row.fragment_id for row in figures.funnel] == [*fragments, "gone"], "content order, unknown last"
        assert figures.funnel[-1].chapter is None and funnel["gone"] == (1, 0, 1)
        missions = {row.code: (row.completed, row.rate) for row in figures.missions}
        assert missions["primera_conversacion"] == (3, 0.75)
        assert missions["exploradora_curiosa"] == (1, 0.25)
        assert missions["devotion_daily"] == (0, 0.0)
        assert figures.missions[-1].code == "retired" and figures.missions[-1].title is None
        assert (figures.payers, figures.vip_conversion) == (3, 0.6)
        assert (figures.vip_active, figures.vip_grace) == (1, 1)
        assert (figures.stars_gross, figures.stars_refunded, figures.stars_net) == (1600, 850, 750)
        assert (figures.stars_net_30_days, figures.payments_total, figures.payments_30_days) == (500, 5, 3)

    async def test_an_empty_community_is_all_zeros(self, pool: asyncpg.Pool) -> None:
        figures = await dashboard(pool, NOW)
        assert figures.users_total == figures.payers == figures.stars_net == 0
        assert figures.vip_conversion == 0.0
        assert len(figures.funnel) == len(shipped_content().story.fragments)
        assert all(row.reached == 0 for row in figures.funnel)
        assert all(row.rate == 0.0 for row in figures.missions)

    def test_days_start_at_local_midnight(self) -> None:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo("America/Mexico_City")
        assert local_day_start(NOW, zone) == datetime(2026, 11, 24, 6, tzinfo=UTC)
        assert local_day_start(NOW, zone, 6) == datetime(2026, 11, 18, 6, tzinfo=UTC)
        # Madrid leaves summer time on 25 October 2026: the week before has a 25-hour day.
        madrid = ZoneInfo("Europe/Madrid")
        assert local_day_start(datetime(2026, 10, 27, 12, tzinfo=UTC), madrid, 6) == datetime(2026, 10, 20, 22,
                                                                                              tzinfo=UTC)  # fmt: skip


class TestUsersSendDocuments:
    async def test_the_bot_receives_and_downloads_the_file(self, emulator: BotAPIEmulator,
                                                           http: aiohttp.ClientSession) -> None:  # fmt: skip
        user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Eva")
        sent = await user.send_document(
            "story.yaml", "versión: 1\n".encode(), mime_type="application/x-yaml", caption="nuevo"
        )
        bot = Bot("123:ABC", session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url)))
        try:
            updates = await bot.get_updates(timeout=1)
            assert [u.update_id for u in updates] == [sent["update_id"]]
            message = updates[0].message
            assert message is not None and message.document is not None and message.from_user is not None
            assert (message.chat.id, message.from_user.id, message.caption) == (user.user_id, user.user_id, "nuevo")
            assert message.document.file_name == "story.yaml" and message.document.file_size == 12
            assert message.document.mime_type == "application/x-yaml"
            downloaded = await bot.download(message.document)
            assert downloaded is not None and downloaded.read() == "versión: 1\n".encode()
        finally:
            await bot.session.close()
        entry = (await user.transcript())[-1]
        assert entry["kind"] == "user_document" and entry["file_id"] == sent["file_id"] and entry["file_size"] == 12

    async def test_multipart_and_refusals(self, emulator: BotAPIEmulator, http: aiohttp.ClientSession) -> None:
        user_id = new_user_id()
        form = aiohttp.FormData()
        form.add_field("document", b"\x00\x01", filename="blob.bin", content_type="application/octet-stream")
        form.add_field("first_name", "Eva")
        async with http.post(f"{emulator.base_url}/control/users/{user_id}/documents", data=form) as response:
            answer = await response.json()
        assert answer["ok"] and answer["result"]["update_id"]
        url = f"{emulator.base_url}/control/users/{user_id}/documents"
        for body in ({"file_name": "a.yaml", "content_base64": "***"}, {"file_name": "a.yaml", "content_base64": ""},
                     {"content_base64": "aGk="}):  # fmt: skip
            with pytest.raises(AssertionError, match="Bad Request"):
                await control(http, "POST", url, body)


# Through the real bot ------------------------------------------------------------------------------------


class BotProcess:
    """The real bot as its own process; ``restart`` stops it and starts a new one on the same servers."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return start_bot(self.env)

    async def restart(self) -> None:
        await stop_bot(self.process)
        self.process = self._start()


@pytest.fixture
async def admin_bot(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker,
) -> AsyncIterator[BotProcess]:  # fmt: skip
    if "admin_panel.router" not in inspect.getsource(build_dispatcher):
        pytest.fail("bot/__init__.py does not include admin_panel.router (it belongs before start.router)")
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server,
                          ADMIN_IDS=f"{ADMIN},{OTHER_ADMIN}")  # fmt: skip
    bot = BotProcess(env)
    try:
        yield bot
    finally:
        await stop_bot(bot.process)


async def audit_rows(pool: asyncpg.Pool, action: str, actor: str | None = None) -> list[asyncpg.Record]:
    return list(await pool.fetch("SELECT * FROM audit_log WHERE action = $1 AND ($2::text IS NULL OR actor = $2)"
                                 " ORDER BY id", action, actor))  # fmt: skip


async def open_panel(admin: EmulatedUser) -> dict[str, Any]:
    await admin.send("/admin")
    panel = await admin.next_from_bot("bot_message", within=60)
    assert "Panel de administración" in panel["text"]
    assert [b["text"] for row in panel["buttons"] for b in row] == ["📊 Dashboard", "👤 Usuarios", "📣 Difusión",
                                                                   "📚 Contenido", "📝 Publicar", "🔨 Subastas",
                                                                   "🎁 Pedidos", "🚪 Solicitudes"]  # fmt: skip
    return panel


async def test_the_dashboard_for_admins_and_the_menu_for_everyone_else(
    admin_bot: BotProcess, emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    now = datetime.now(UTC)
    for i in range(3):
        await add_user(pool, 9_200_001 + i, now - timedelta(days=20 * i), now - timedelta(days=20 * i))
    await add_progress(pool, 9_200_001, "f02", ["f01"])
    await add_payment(pool, "e2e-1", 9_200_001, 300, now - timedelta(days=1))
    await add_payment(pool, "e2e-2", 9_200_002, 634, now - timedelta(days=45))

    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    panel = await open_panel(admin)
    await admin.press(panel["message_id"], admin.button(panel, "Dashboard"))
    board = await admin.next_from_bot("bot_message")
    text = board["text"]
    assert "Dashboard" in text and "Total: 3 · con el onboarding hecho: 3" in text
    assert "Nuevos: hoy 1 · últimos 7 días 1" in text
    assert "f01 La invitación: 1 (100.0 %) · 1 · 0" in text and "f02 Sin preguntas: 1 (100.0 %) · 0 · 1" in text
    assert "Conversión: 2 personas pagaron alguna vez (66.7 % del total)" in text
    assert "Ingresos: 934 netas (934 cobradas − 0 reembolsadas; 2 pagos)" in text
    assert "Últimos 30 días: 300 netas (1 pagos)" in text

    # Refresh redraws the same message with today's figures.
    await add_payment(pool, "e2e-3", 9_200_003, 66, now)
    await admin.press(board["message_id"], admin.button(board, "Actualizar"))
    refreshed = await admin.next_from_bot("bot_edit")
    assert refreshed["message_id"] == board["message_id"] and "Ingresos: 1000 netas" in refreshed["text"]

    # The other sections answer with their commands' usage.
    for label, usage in (("Usuarios", "/usuario"), ("Difusión", "/difundir"), ("Publicar", "/publicar"),
                         ("Contenido", "YAML")):  # fmt: skip
        await admin.press(panel["message_id"], admin.button(panel, label))
        assert usage in (await admin.next_from_bot("bot_message"))["text"]
    assert not await audit_rows(pool, "admin panel refused")

    # Someone else: the normal menu, as /diana shows it, and the attempt is audited.
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    await onboard(fan)
    await fan.send("/admin")
    menu = await fan.next_from_bot("bot_message")
    while "Continuar Historia" not in str(menu["buttons"]):  # a notification may come first
        menu = await fan.next_from_bot("bot_message")
    assert "Panel de administración" not in menu["text"]
    assert len(await audit_rows(pool, "admin panel refused", f"user:{fan.user_id}")) == 1

    # A forged panel button: refused, audited, nothing shown.
    pressed = await fan.press(menu["message_id"], AdminCB(action="dashboard").pack(), forge=True)
    assert "solo para quienes administran" in (await fan.callback_answer(pressed["callback_query_id"]))["text"]
    assert len(await audit_rows(pool, "admin panel refused", f"user:{fan.user_id}")) == 2
    assert "Dashboard" not in str(await fan.transcript(after=fan.seen, wait=1))


def changed_content() -> bytes:
    """The shipped content with a new label, one fragment's text changed and a yearly plan added."""
    text = SHIPPED
    for old, new in (('version: "2026-12-05.2"', 'version: "2026-12-01.1"'),
                     ("Y aquí estás. El pasillo", "Y aquí estás, por fin. El pasillo"),
                     ("      days: 90\n      stars: 600\n",
                      "      days: 90\n      stars: 600\n    - code: anual\n      name:\n        es: \"VIP Anual\"\n"
                      "      description:\n        es: \"Un año entero a mi lado... ¿te atreves?\"\n      days: 365\n"
                      "      stars: 2000\n")):  # fmt: skip
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode()


async def test_content_upload_is_checked_shown_as_a_diff_and_activated_once(
    admin_bot: BotProcess, emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    before = await pool.fetchval("SELECT count(*) FROM content_versions")
    active_before = await active_version(pool)
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    await open_panel(admin)

    # Broken files: every problem listed, nothing stored.
    await admin.send_document("roto.yaml", b"version: [sin cerrar\n")
    refused = await admin.next_from_bot("bot_message")
    assert "roto.yaml no es válido (1 problemas)" in refused["text"] and "not valid YAML" in refused["text"]
    dangling = SHIPPED.replace("next: f16", "next: f99", 1).encode()
    await admin.send_document("colgado.yaml", dangling)
    refused = await admin.next_from_bot("bot_message")
    assert "no es válido" in refused["text"] and "leads to 'f99', which does not exist" in refused["text"]
    await admin.send_document("binario.yaml", b"\xff\xfe\x00version")
    assert "no es texto UTF-8" in (await admin.next_from_bot("bot_message"))["text"]
    # A time zone that does not exist would fail every journey once active; an alias could blow up the checks.
    await admin.send_document("zona.yaml", SHIPPED.replace("America/Mexico_City", "America/Atlantida", 1).encode())
    assert "America/Atlantida" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send_document("alias.yaml", b"version: &v x\nlabel: *v\n" + SHIPPED.encode())
    assert "anchor" in (await admin.next_from_bot("bot_message"))["text"]
    assert len(await audit_rows(pool, "content upload refused", f"admin:{ADMIN}")) == 5
    assert await pool.fetchval("SELECT count(*) FROM content_versions") == before

    # A valid file, cancelled: its buttons are gone and its Activar no longer works.
    await admin.send_document("diana.yaml", changed_content())
    cancelled = await admin.next_from_bot("bot_message")
    await admin.press(cancelled["message_id"], admin.button(cancelled, "Cancelar"))
    assert "Subida cancelada" in (await admin.next_saying("Subida cancelada"))["text"]
    pressed = await admin.press(cancelled["message_id"], admin.button(cancelled, "Activar"), forge=True)
    assert "ya no vale" in (await admin.callback_answer(pressed["callback_query_id"]))["text"]
    assert await active_version(pool) == active_before

    # A valid, changed file: the diff names each change; still nothing stored.
    await admin.send_document("diana.yaml", changed_content())
    preview = await admin.next_from_bot("bot_message")
    text = preview["text"]
    assert "diana.yaml es válido" in text and "Versión: 2026-12-05.2 → 2026-12-01.1" in text
    assert "Fragmentos: +0 −0 ~1" in text and "~ f01: text" in text
    assert "Planes VIP: +1 −0 ~0" in text and "+ anual" in text
    assert "Misiones" not in text and "Logros" not in text
    assert await pool.fetchval("SELECT count(*) FROM content_versions") == before
    activate = admin.button(preview, "Activar")
    assert AdminCB.unpack(activate).action == "activate"

    # The pending upload outlives the bot process.
    await admin_bot.restart()

    # Nobody else can confirm it: not a non-admin (refused as any admin button), not another admin.
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    await fan.send("/help")
    help_message = await fan.next_from_bot("bot_message", within=60)
    pressed = await fan.press(help_message["message_id"], activate, forge=True)
    assert "solo para quienes administran" in (await fan.callback_answer(pressed["callback_query_id"]))["text"]
    other = EmulatedUser(http, emulator.base_url, OTHER_ADMIN, first_name="Otra")
    await other.send("/help")
    other_help = await other.next_from_bot("bot_message")
    pressed = await other.press(other_help["message_id"], activate, forge=True)
    assert "otra persona administradora" in (await other.callback_answer(pressed["callback_query_id"]))["text"]
    assert await active_version(pool) == active_before

    # Its admin activates it: a new active version, audited.
    pressed = await admin.press(preview["message_id"], activate)
    await admin.callback_answer(pressed["callback_query_id"])
    done = await admin.next_saying("Contenido activado")
    version = await active_version(pool)
    assert version != active_before and f"versión {version} (2026-12-01.1)" in done["text"]
    row = await pool.fetchrow("SELECT label, document FROM content_versions WHERE version = $1", version)
    assert row["label"] == "2026-12-01.1"
    assert [plan["code"] for plan in json.loads(row["document"])["vip"]["plans"]] == ["mensual", "trimestral", "anual"]
    activated = await audit_rows(pool, "content activated", f"admin:{ADMIN}")
    assert len(activated) == 1 and activated[0]["subject"] == f"content:{version}"
    stamp = await pool.fetchval("SELECT activated_at FROM content_versions WHERE version = $1", version)

    # A second press (a redelivered or double tap, the button forged back): stale, nothing changes.
    pressed = await admin.press(preview["message_id"], activate, forge=True)
    assert "ya no vale" in (await admin.callback_answer(pressed["callback_query_id"]))["text"]
    assert await pool.fetchval("SELECT activated_at FROM content_versions WHERE version = $1", version) == stamp
    assert await pool.fetchval("SELECT count(*) FROM content_versions") == before + 1
    assert len(await audit_rows(pool, "content activated")) == 1

    # The same file again is the active content: nothing to activate.
    await admin.send_document("diana.yaml", changed_content())
    assert f"exactamente el contenido activo (versión {version})" in (await admin.next_from_bot("bot_message"))["text"]
