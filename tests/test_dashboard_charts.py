"""The dashboard's charts: the per-day series from Postgres, what each chart draws, the pictures themselves, and an
admin receiving them through the real bot process (and Actualizar redrawing them in place)."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

import aiohttp
import asyncpg
import pytest
from PIL import Image

from adapters import dashboard_charts as charts
from adapters.dashboard import REVENUE_SOURCES, SERIES_DAYS, Dashboard, DayActivity, DayRevenue, FragmentFunnel
from adapters.dashboard import dashboard as read_dashboard
from bot import admin_panel
from bot.admin_panel import AdminCB
from tests.helpers import REPO_ROOT, shipped_content
from tests.telegram import EmulatedUser
from tests.test_admin_panel import (  # noqa: F401 -- admin_bot: the real bot, a fixture
    ADMIN,
    NOW,
    OTHER_ADMIN,
    add_payment,
    add_user,
    admin_bot,
    open_panel,
)
from tools.emulator import BotAPIEmulator
from workflows.content import Localized

# NOW is 06:00 on 24 November in Mexico City (UTC-6): the window's days are 26 October to 24 November, local.
FIRST_DAY = date(2026, 10, 26)
TODAY = date(2026, 11, 24)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` on ``day`` in Mexico City, as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) + timedelta(hours=6)


async def add_visit(
    pool: asyncpg.Pool, user_id: int | None, at: datetime, key: str, action: str = "daily_login"
) -> None:
    await pool.execute("INSERT INTO besitos_ledger (telegram_user_id, action, amount, balance_after, idempotency_key,"
                       " created_at) VALUES ($1, $2, 15, 15, $3, $4)", user_id, action, key, at)  # fmt: skip


def window(**by_day: int) -> dict[date, int]:
    """Every day of the window at 0, but the days named ``d2026_11_24=3``."""
    values = {FIRST_DAY + timedelta(days=n): 0 for n in range(SERIES_DAYS)}
    for name, value in by_day.items():
        values[date(*map(int, name.removeprefix("d").split("_")))] = value
    return values


class TestSeriesQueries:
    async def test_active_and_new_users_per_local_day(self, pool: asyncpg.Pool) -> None:
        u1, u2, u3, u4, u5 = (9_300_001 + i for i in range(5))
        await add_user(pool, u1, local(TODAY, 1), NOW)
        # 23:00 on the 23rd in Mexico City (05:00 UTC on the 24th): new on the 23rd, and visited that evening.
        await add_user(pool, u2, local(date(2026, 11, 23), 23), NOW)
        await add_user(pool, u3, datetime(2026, 9, 1, tzinfo=UTC), NOW)
        # Joined at the window's first instant and still in onboarding (no daily visit): active and new that day.
        await add_user(pool, u4, local(FIRST_DAY, 0), local(FIRST_DAY, 0), stage="onboarding")
        await add_user(pool, u5, datetime(2026, 9, 1, tzinfo=UTC), NOW)
        await add_visit(pool, u1, local(TODAY, 1, 5), "u1-today")
        await add_visit(pool, u2, local(date(2026, 11, 23), 23, 10), "u2-23")
        await add_visit(pool, u2, local(TODAY, 4), "u2-today")
        await add_visit(pool, u3, local(date(2026, 11, 20), 9), "u3-20")
        await add_visit(pool, u3, local(date(2026, 11, 20), 10), "u3-20-again")  # re-awarded after a reset: once
        await add_visit(pool, u3, local(FIRST_DAY, 0), "u3-first-day")
        await add_visit(pool, u3, local(FIRST_DAY, 0) - timedelta(minutes=1), "u3-before")  # 23:59 the day before
        await add_visit(pool, u5, local(TODAY, 2), "u5-choice", action="story_choice")  # not a visit of the day

        figures = await read_dashboard(pool, NOW)

        assert [day.day for day in figures.days] == list(window())
        assert {day.day: day.active for day in figures.days} == window(d2026_10_26=2, d2026_11_20=1, d2026_11_23=1,
                                                                        d2026_11_24=2)  # fmt: skip
        assert {day.day: day.new for day in figures.days} == window(d2026_10_26=1, d2026_11_23=1, d2026_11_24=1)
        assert figures.days[-1].new == figures.new_today
        assert sum(day.new for day in figures.days[-7:]) == figures.new_7_days

    async def test_net_stars_per_local_day_and_source(self, pool: asyncpg.Pool) -> None:
        await add_user(pool, 9_300_011, NOW, NOW)
        await add_payment(pool, "d1", 9_300_011, 250, local(TODAY, 2))
        await add_payment(pool, "d2", 9_300_011, 600, local(date(2026, 11, 23), 23, 30))  # 05:30 UTC on the 24th
        await add_payment(pool, "d3", 9_300_011, 250, local(date(2026, 11, 23), 9))
        await add_payment(
            pool, "d4", 9_300_011, 600, local(date(2026, 11, 20), 9), refunded=local(date(2026, 11, 21), 9)
        )
        await add_payment(pool, "d5", None, 250, local(FIRST_DAY, 0))  # an erased user's, anonymised: still revenue
        await add_payment(pool, "d6", 9_300_011, 250, local(FIRST_DAY, 0) - timedelta(minutes=1))  # before the window
        await pool.execute("INSERT INTO payments (charge_id, provider, telegram_user_id, payload, plan, amount, currency,"
                           " paid_at) VALUES ('d7', 'other', $1, 'p', 'mensual', 100, 'USD', $2)",
                           9_300_011, local(TODAY, 3))  # fmt: skip

        figures = await read_dashboard(pool, NOW)

        assert [day.day for day in figures.revenue_days] == list(window())
        assert all(list(day.stars) == list(REVENUE_SOURCES) for day in figures.revenue_days)
        assert {day.day: day.stars["vip"] for day in figures.revenue_days} == window(d2026_10_26=250,
                                                                                     d2026_11_23=850, d2026_11_24=250)  # fmt: skip
        assert {day.stars["paid_media"] for day in figures.revenue_days} == {0}

    async def test_no_users_yet(self, pool: asyncpg.Pool) -> None:
        figures = await read_dashboard(pool, NOW)
        assert [(day.day, day.active, day.new) for day in figures.days] == [(d, 0, 0) for d in window()]
        assert [day.stars for day in figures.revenue_days] == [{"vip": 0, "paid_media": 0}] * SERIES_DAYS


# What the charts draw ---------------------------------------------------------------------------------------------


def figures_for(*, funnel: list[FragmentFunnel] | None = None, active: list[int] | None = None,
                new: list[int] | None = None, vip: list[int] | None = None) -> Dashboard:  # fmt: skip
    """A dashboard as of NOW with the shipped story's fragments and the given series (zeros otherwise)."""
    days = [FIRST_DAY + timedelta(days=n) for n in range(SERIES_DAYS)]
    if funnel is None:
        funnel = [FragmentFunnel(fragment_id=f.id, chapter=f.chapter, title=f.title, reached=0, completed=0, here=0)
                  for f in shipped_content().story.fragments]  # fmt: skip
    return Dashboard(
        generated_at=NOW, timezone="America/Mexico_City", content_version=1, users_total=0, users_onboarded=0,
        new_today=0, new_7_days=0, active_today=0, active_7_days=0, funnel=funnel, missions=[], payers=0,
        vip_conversion=0.0, vip_active=0, vip_grace=0, stars_gross=0, stars_refunded=0, stars_net=0,
        stars_net_30_days=0, payments_total=0, payments_30_days=0, paid_media_purchases=0, paid_media_stars=0,
        paid_media_stars_30_days=0,
        days=[DayActivity(day=d, active=(active or [0] * SERIES_DAYS)[n], new=(new or [0] * SERIES_DAYS)[n])
              for n, d in enumerate(days)],
        revenue_days=[DayRevenue(day=d, stars={"vip": (vip or [0] * SERIES_DAYS)[n], "paid_media": 0})
                      for n, d in enumerate(days)],
    )  # fmt: skip


def stepped(start: int) -> list[int]:
    return [start + n for n in range(SERIES_DAYS)]


class TestChartData:
    def test_the_funnel_follows_the_story_with_titles_in_the_admins_language(self) -> None:
        funnel = [
            FragmentFunnel(fragment_id="f01", chapter=1, title=Localized(es="La invitación", en="The Invitation"),
                           reached=10, completed=8, here=2),
            FragmentFunnel(fragment_id="f02", chapter=1, title=Localized(es="Sin preguntas 😶"), reached=8,
                           completed=3, here=5),
            FragmentFunnel(fragment_id="gone", chapter=None, title=None, reached=1, completed=0, here=1),
        ]  # fmt: skip
        spanish = charts.funnel_data(figures_for(funnel=funnel), "es")
        assert spanish.title == "Embudo de la historia"
        # Emoji are left out (the chart's font has none); a title without English shows the Spanish one.
        assert spanish.categories == ["f01 La invitación", "f02 Sin preguntas", "gone (ya no está en el contenido)"[:25]
                                      + "…"]  # fmt: skip
        assert [s.label for s in spanish.series] == ["Llegaron", "Completaron", "Están ahí ahora"]
        assert (spanish.values("reached"), spanish.values("completed"), spanish.values("here")) == (
            [10, 8, 1], [8, 3, 0], [2, 5, 1])  # fmt: skip
        english = charts.funnel_data(figures_for(funnel=funnel), "en")
        assert english.title == "Story funnel" and english.categories[:2] == ["f01 The Invitation", "f02 Sin preguntas"]
        assert [s.label for s in english.series] == ["Reached", "Completed", "There now"]

    def test_a_long_story_shows_its_first_fragments_and_says_how_many_more(self) -> None:
        funnel = [FragmentFunnel(fragment_id=f"x{n:02d}", chapter=1, title=Localized(es=f"Parte {n}"), reached=60 - n,
                                 completed=0, here=0) for n in range(60)]  # fmt: skip
        data = charts.funnel_data(figures_for(funnel=funnel), "es")
        assert len(data.categories) == charts.MAX_CHART_FRAGMENTS and data.categories[0] == "x00 Parte 0"
        assert data.notes == ["… y 20 fragmentos más (en el texto del dashboard)"]

    def test_users_per_day_oldest_first(self) -> None:
        data = charts.activity_data(figures_for(active=stepped(10), new=stepped(0)), "es")
        assert data.categories[0] == "26/10" and data.categories[-1] == "24/11" and len(data.categories) == 30
        assert data.values("active") == stepped(10) and data.values("new") == stepped(0)
        # Today 39 of 10..39 (average 24.5, shown rounded to even), and 0+1+...+29 new.
        assert [s.label for s in data.series] == [
            "Activos: hoy 39 · media de 30 días 24",
            "Nuevos: hoy 29 · total de 30 días 435",
        ]
        assert charts.activity_data(figures_for(), "en").categories[-1] == "11/24"

    def test_revenue_per_day_by_source_paid_media_included_before_any_sale(self) -> None:
        vip = [0] * SERIES_DAYS
        vip[0], vip[-1] = 250, 600
        data = charts.revenue_data(figures_for(vip=vip), "es")
        assert [(s.key, s.label) for s in data.series] == [("vip", "VIP"), ("paid_media", "Contenido de pago")]
        assert data.values("vip") == vip and data.values("paid_media") == [0] * SERIES_DAYS
        assert data.notes == ["Últimos 30 días: 850 Stars netas, sin lo reembolsado"]
        assert [s.label for s in charts.revenue_data(figures_for(vip=vip), "en").series] == ["VIP", "Paid media"]

    def test_no_data_is_told_apart(self) -> None:
        empty = figures_for()
        assert charts.funnel_data(empty, "es").empty and charts.activity_data(empty, "es").empty
        assert charts.revenue_data(empty, "es").empty
        assert not charts.activity_data(figures_for(new=stepped(0)), "es").empty


# The pictures ----------------------------------------------------------------------------------------------------


def picture(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def pixels_of(image: Image.Image, color: str) -> int:
    """How many pixels have exactly ``color`` (a bar's inside; antialiased edges do not count)."""
    rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return sum(count for count, value in image.convert("RGB").getcolors(image.width * image.height) or []
               if value == rgb)  # fmt: skip


def chart_sizes(fragments: int) -> list[tuple[int, int]]:
    """The four pictures' sizes: phone-sized (4:5), the funnel taller when the story has more rows than fit."""
    rows = charts.FUNNEL_CHROME_PX + charts.FUNNEL_ROW_PX * fragments
    funnel = min(charts.MAX_HEIGHT_PX, max(charts.HEIGHT_PX, rows))
    return [(charts.WIDTH_PX, funnel), *[(charts.WIDTH_PX, charts.HEIGHT_PX)] * 3]


class TestPictures:
    @pytest.mark.parametrize("language", ["es", "en"])
    def test_four_phone_sized_pictures_with_captions(self, language: str) -> None:
        funnel = [FragmentFunnel(fragment_id=f.id, chapter=f.chapter, title=f.title, reached=100 - 5 * n,
                                 completed=90 - 5 * n, here=n) for n, f in enumerate(shipped_content().story.fragments)]  # fmt: skip
        drawn = charts.dashboard_charts(figures_for(funnel=funnel, active=stepped(5), new=stepped(1),
                                                    vip=[250] * SERIES_DAYS), language)  # fmt: skip
        assert [chart.name for chart in drawn] == ["funnel", "activity", "revenue", "besitos"]
        assert [picture(chart.png).size for chart in drawn] == chart_sizes(len(funnel))
        captions = [chart.caption for chart in drawn]
        if language == "es":
            assert "Embudo de la historia" in captions[0] and "Usuarios por día" in captions[1]
            assert "últimos 30 días: 7500 Stars netas" in captions[2]
        else:
            assert "Story funnel" in captions[0] and "Users per day" in captions[1]
            assert "last 30 days: 7500 net Stars" in captions[2]

    def test_the_data_reaches_the_picture(self) -> None:
        empty, full = figures_for(), figures_for(active=stepped(5), vip=[250] * SERIES_DAYS)
        # The legend shows each colour a little; bars fill far more.
        assert pixels_of(picture(charts.revenue_chart(full, "es")), charts.COLORS["vip"]) > 20 * pixels_of(
            picture(charts.revenue_chart(empty, "es")), charts.COLORS["vip"])  # fmt: skip
        assert pixels_of(picture(charts.activity_chart(full, "es")), charts.COLORS["active"]) > 10_000
        assert pixels_of(picture(charts.activity_chart(empty, "es")), charts.COLORS["active"]) == 0

    def test_no_users_yet_and_no_content_still_draw(self) -> None:
        for figures in (figures_for(), figures_for(funnel=[]), figures_for(funnel=[]).model_copy(
                update={"days": [], "revenue_days": []})):  # fmt: skip
            drawn = charts.dashboard_charts(figures, "es")
            assert [picture(chart.png).size for chart in drawn] == chart_sizes(len(figures.funnel))

    def test_a_long_story_makes_a_taller_picture_within_telegrams_limits(self) -> None:
        funnel = [FragmentFunnel(fragment_id=f"x{n:02d}", chapter=1, title=Localized(es=f"Parte {n}"), reached=n,
                                 completed=0, here=0) for n in range(60)]  # fmt: skip
        width, height = picture(charts.funnel_chart(figures_for(funnel=funnel), "es")).size
        assert width == charts.WIDTH_PX and height == charts.MAX_HEIGHT_PX

    async def test_drawing_runs_off_the_event_loop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        threads: list[int] = []

        def draw(figures: Dashboard, language: str) -> list[charts.Chart]:
            threads.append(threading.get_ident())
            return []

        monkeypatch.setattr(admin_panel, "dashboard_charts", draw)
        await admin_panel.draw_charts(figures_for(), "es")
        assert threads and threads[0] != threading.get_ident()

    async def test_a_drawing_failure_leaves_the_text_dashboard(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(figures: Dashboard, language: str) -> list[charts.Chart]:
            raise ValueError("a bug in a chart")

        monkeypatch.setattr(admin_panel, "dashboard_charts", broken)
        assert await admin_panel.draw_charts(figures_for(), "es") == []

    def test_the_bot_starts_without_matplotlib(self) -> None:
        code = "import sys, bot.main, tools.cli; assert 'matplotlib' not in sys.modules, 'imported at start'"
        subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)

    def test_refresh_buttons_carry_the_charts_ids(self) -> None:
        button = admin_panel.dashboard_keyboard("es", [101, 102, 103]).inline_keyboard[0][0]
        assert button.text == "🔄 Actualizar" and button.callback_data is not None
        assert admin_panel.chart_ids(AdminCB.unpack(button.callback_data).subject) == [101, 102, 103]
        assert len(button.callback_data.encode()) <= 64
        assert admin_panel.chart_ids("") == [] and admin_panel.chart_ids("1.x.3") == []
        # A dashboard's button from before charts still refreshes (and then sends them).
        assert AdminCB.unpack("adm:refresh:").subject == ""


# Through the real bot ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("admin_bot")
async def test_an_admin_gets_the_charts_and_refresh_redraws_them_in_place(
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    now = datetime.now(UTC)
    await add_user(pool, 9_400_001, now - timedelta(minutes=5), now)
    await add_payment(pool, "charts-1", 9_400_001, 250, now - timedelta(minutes=5))
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    panel = await open_panel(admin)
    await admin.press(panel["message_id"], admin.button(panel, "Dashboard"))

    # First the pictures, as one album, then the figures as text with the refresh button under everything.
    album = await admin.next_from_bot("bot_media_group", "bot_message", within=60)
    assert album["kind"] == "bot_media_group", "the charts come before the text"
    items = album["items"]
    sizes = chart_sizes(len(shipped_content().story.fragments))  # the active content is the shipped one
    assert [(item["type"], item["width"], item["height"]) for item in items] == [("photo", *s) for s in sizes]
    assert "Embudo de la historia" in items[0]["caption"] and "Usuarios por día" in items[1]["caption"]
    assert "Ingresos por día" in items[2]["caption"] and "250 Stars netas" in items[2]["caption"]
    board = await admin.next_from_bot("bot_message")
    assert "Ingresos: 250 netas" in board["text"]
    refresh = admin.button(board, "Actualizar")
    assert admin_panel.chart_ids(AdminCB.unpack(refresh).subject) == album["message_ids"]

    # Actualizar: the text and each picture are replaced where they are; nothing new piles up in the chat.
    await add_payment(pool, "charts-2", 9_400_001, 600, now)
    await admin.press(board["message_id"], refresh)
    edited = await admin.next_from_bot("bot_edit")
    assert edited["message_id"] == board["message_id"] and "Ingresos: 850 netas" in edited["text"]
    redrawn = [await admin.next_from_bot("bot_edit_media", within=60) for _ in items]
    assert [entry["message_id"] for entry in redrawn] == album["message_ids"]
    assert all(entry["type"] == "photo" and entry["width"] == 1080 for entry in redrawn)
    assert "850 Stars netas" in redrawn[2]["caption"]
    transcript = await admin.transcript()
    assert [entry["kind"] for entry in transcript].count("bot_media_group") == 1

    # A dashboard whose pictures cannot be edited (one from before charts): they come again, and its button
    # learns their new messages.
    await add_payment(pool, "charts-3", 9_400_001, 100, now)
    await admin.press(board["message_id"], AdminCB(action="refresh").pack(), forge=True)
    assert "Ingresos: 950 netas" in (await admin.next_from_bot("bot_edit"))["text"]
    again = await admin.next_from_bot("bot_media_group", within=60)
    assert "950 Stars netas" in again["items"][2]["caption"]
    markup = await admin.next_from_bot("bot_edit")
    assert admin_panel.chart_ids(AdminCB.unpack(admin.button(markup, "Actualizar")).subject) == again["message_ids"]

    # In English for an admin whose Telegram is in English.
    other = EmulatedUser(http, emulator.base_url, OTHER_ADMIN, first_name="Other", language_code="en")
    await other.send("/admin")
    english_panel = await other.next_from_bot("bot_message", within=60)
    await other.press(english_panel["message_id"], other.button(english_panel, "Dashboard"))
    english = await other.next_from_bot("bot_media_group", within=60)
    captions = [item["caption"] for item in english["items"]]
    assert "Story funnel" in captions[0] and "Users per day" in captions[1] and "950 net Stars" in captions[2]
    assert "Refresh" in str((await other.next_from_bot("bot_message"))["buttons"])
