"""The dashboard's shop figures on seeded rows: besitos earned and spent per local day, sales per item, orders waiting
and running auctions; the text an admin reads and what the besitos chart draws."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg

from adapters import dashboard_charts as charts
from adapters.dashboard import SERIES_DAYS, MissionCompletion
from adapters.dashboard import dashboard as read_dashboard
from adapters.shop_figures import ItemSales, RunningAuction, ShopFigures
from adapters.texts import fits
from bot.admin_panel import render_dashboard
from tests.helpers import shipped_content
from tests.shop_content import POLAROID, VOICE_NOTE, activate_shop
from tests.test_admin_panel import NOW, add_user
from tests.test_dashboard_charts import FIRST_DAY, TODAY, figures_for, local, picture, pixels_of, window
from workflows.content import Localized

U1, U2 = 9_500_001, 9_500_002


async def ledger(pool: asyncpg.Pool, user_id: int, action: str, amount: int, at: datetime, key: str) -> None:
    await pool.execute("INSERT INTO besitos_ledger (telegram_user_id, action, amount, balance_after, idempotency_key,"
                       " created_at) VALUES ($1, $2, $3, 0, $4, $5)", user_id, action, amount, key, at)  # fmt: skip


async def purchase(pool: asyncpg.Pool, user_id: int | None, n: int, item: str, source: str, price: int, status: str,
                   at: datetime) -> None:  # fmt: skip
    await pool.execute(
        "INSERT INTO shop_purchases (purchase_id, telegram_user_id, item, item_kind, source, price, status, bought_at,"
        " changed_at) VALUES ($1, $2, $3, 'reward', $4, $5, $6, $7, $7)",
        f"journey-{user_id or 0}:p{n}", user_id, item, source, price, status, at,
    )  # fmt: skip


async def auction(pool: asyncpg.Pool, auction_id: str, title: str, status: str, ends: datetime,
                  leading: int | None = None, bids: int = 0) -> None:  # fmt: skip
    await pool.execute(
        "INSERT INTO auctions (auction_id, item, title, start_price, increment, ends_at, status, leader, leading_bid,"
        " bids, created_at, changed_at) VALUES ($1, $2, $3, 100, 10, $4, $5, $6, $7, $8, $9, $9)",
        auction_id, POLAROID, title, ends, status, U1 if leading else None, leading, bids, NOW - timedelta(days=1),
    )  # fmt: skip


async def test_besitos_sales_orders_and_auctions(pool: asyncpg.Pool) -> None:
    await activate_shop(pool)
    for user_id in (U1, U2):
        await add_user(pool, user_id, NOW - timedelta(days=60), NOW)
    # Today (local): 15 + 40 earned, a grant of 100 (earned), 120 spent in the shop, 30 on priced story, a refund of
    # 80 (not earned: it lowers the day's spending) and a take-back by staff (neither).
    await ledger(pool, U1, "daily_login", 15, local(TODAY, 1), "a")
    await ledger(pool, U1, "mission_completed", 40, local(TODAY, 2), "b")
    await ledger(pool, U2, "support_grant", 100, local(TODAY, 3), "c")
    await ledger(pool, U1, "shop_purchase", -120, local(TODAY, 4), "d")
    await ledger(pool, U2, "story_price", -30, local(TODAY, 4), "e")
    await ledger(pool, U2, "shop_refund", 80, local(TODAY, 5), "f")
    await ledger(pool, U2, "support_revoke", -10, local(TODAY, 5), "g")
    # 23:30 on the 20th in Mexico City (05:30 UTC on the 21st): the 20th's. An auction won and a purchase, all spent.
    await ledger(pool, U1, "auction_won", -200, local(date(2026, 11, 20), 23, 30), "h")
    await ledger(pool, U2, "shop_purchase", -80, local(date(2026, 11, 20), 9), "i")
    await ledger(pool, U2, "decision_made", 5, local(FIRST_DAY, 0), "j")
    await ledger(pool, U2, "decision_made", 999, local(FIRST_DAY, 0) - timedelta(minutes=1), "k")  # before the window

    await purchase(pool, U1, 1, VOICE_NOTE, "shop", 120, "waiting", NOW - timedelta(hours=8))
    await purchase(pool, U1, 2, POLAROID, "auction", 200, "delivered", NOW - timedelta(days=4))
    await purchase(pool, U2, 1, POLAROID, "shop", 80, "refunded", NOW - timedelta(days=4))  # no sale
    await purchase(pool, U2, 2, VOICE_NOTE, "shop", 120, "waiting", NOW - timedelta(days=45))  # a sale, not in 30 days
    await purchase(pool, U2, 3, VOICE_NOTE, "support", 0, "waiting", NOW - timedelta(days=1))  # a gift: no sale
    await purchase(pool, None, 9, "retired", "shop", 50, "waiting", NOW - timedelta(days=2))  # an erased user's
    await auction(pool, "a2", "Cena a solas", "running", NOW + timedelta(hours=5))
    await auction(pool, "a1", "La polaroid <firmada>", "running", NOW + timedelta(hours=2), leading=340, bids=4)
    await auction(pool, "a0", "Ya terminó", "ended", NOW - timedelta(hours=2), leading=500, bids=9)

    figures = await read_dashboard(pool, NOW)
    shop = figures.shop

    assert [day.day for day in shop.besitos_days] == list(window())
    assert {day.day: day.earned for day in shop.besitos_days} == window(d2026_10_26=5, d2026_11_24=155)
    assert {day.day: day.spent for day in shop.besitos_days} == window(d2026_11_20=280, d2026_11_24=70)
    assert (shop.earned, shop.spent) == (160, 350)
    sales = {s.item: (s.sold, s.besitos, s.sold_30_days, s.besitos_30_days) for s in shop.sales}
    assert sales == {VOICE_NOTE: (2, 240, 1, 120), POLAROID: (1, 200, 1, 200), "retired": (1, 50, 1, 50)}
    assert [s.item for s in shop.sales] == [VOICE_NOTE, POLAROID, "retired"], "the most besitos first"
    assert shop.sales[0].name is not None and shop.sales[0].name.es == "Nota de voz personalizada"
    assert shop.sales[2].name is None, "an item no longer in the content"
    assert shop.orders_waiting == 3, "the erased user's order is nobody's to deliver"
    assert [(a.auction_id, a.leading_bid, a.bids) for a in shop.auctions] == [("a1", 340, 4), ("a2", None, 0)]

    text = render_dashboard(figures, "es")
    assert "Ganados: 160 · gastados: 350 (netos de reembolsos)\nHoy: ganados 155 · gastados 70" in text
    assert "Ventas</b> (tienda y subastas, sin reembolsadas): 4 en 3 artículos, 490 besitos" in text
    assert (f"<code>{VOICE_NOTE}</code> Nota de voz personalizada: 2 · 240 besitos (30 días: 1 · 120 besitos)"
            in text)  # fmt: skip
    assert "<code>retired</code> —: 1 · 50 besitos" in text
    assert "🎁 Pedidos pendientes: 3" in text and "Subastas en curso</b>: 2" in text
    # Ends in the community's time zone (UTC-6); a title is escaped once.
    assert "La polaroid &lt;firmada&gt;: va ganando con 340 (4 pujas) · termina 2026-11-24 08:00" in text
    assert "Cena a solas: sin pujas (sale en 100) · termina 2026-11-24 11:00" in text
    english = render_dashboard(figures, "en")
    assert "Earned: 160 · spent: 350" in english and "Running auctions</b>: 2" in english

    data = charts.besitos_data(figures, "es")
    assert len(data.categories) == SERIES_DAYS and data.categories[-1] == "24/11"
    assert data.values("earned")[-1] == 155 and data.values("spent")[-1] == 70
    assert data.series[0].label == "Ganados: 160" and "350 gastados" in data.notes[0]


async def test_a_shop_with_nothing_sold_is_all_zeros(pool: asyncpg.Pool) -> None:
    figures = await read_dashboard(pool, NOW)
    shop = figures.shop
    assert len(shop.besitos_days) == SERIES_DAYS and shop.earned == shop.spent == 0
    assert shop.sales == [] and shop.orders_waiting == 0 and shop.auctions == []
    assert charts.besitos_data(figures, "es").empty
    assert "Ganados: 0 · gastados: 0" in render_dashboard(figures, "es")
    # A day with more refunded than spent goes below zero, and is drawn so.
    days = [day.model_copy(update={"spent": -80 if n == 3 else 0}) for n, day in enumerate(shop.besitos_days)]
    negative = figures.model_copy(update={"shop": shop.model_copy(update={"besitos_days": days})})
    assert charts.besitos_data(negative, "es").values("spent")[3] == -80
    image = picture(charts.besitos_chart(negative, "es"))
    assert image.size == (charts.WIDTH_PX, charts.HEIGHT_PX) and pixels_of(image, charts.COLORS["spent"]) > 500


def test_now_is_the_charts_today() -> None:
    assert NOW.astimezone(UTC).date() == TODAY and FIRST_DAY == TODAY - timedelta(days=SERIES_DAYS - 1)


def test_a_big_shop_still_fits_the_dashboards_one_message() -> None:
    """Many items sold and auctions running, with long names: the dashboard's text stays one Telegram message."""
    figures = figures_for()
    missions = [MissionCompletion(code=goal.code, title=goal.title, completed=10**6, rate=0.5)
                for goal in shipped_content().missions]  # fmt: skip
    name = "Un nombre de artículo bastante largo, larguísimo, que no acaba"
    sales = [ItemSales(item=f"articulo_{n:02d}_de_codigo_largo", name=Localized(es=name), sold=10**6, besitos=10**8,
                       sold_30_days=10**5, besitos_30_days=10**7) for n in range(30)]  # fmt: skip
    auctions = [RunningAuction(auction_id=str(n), title=f"{name} {n}", leading_bid=10**6, bids=10**4, start_price=100,
                               ends_at=NOW) for n in range(30)]  # fmt: skip
    big = figures.model_copy(update={"missions": missions, "shop": ShopFigures(sales=sales, auctions=auctions)})
    assert fits(render_dashboard(big, "es")) and fits(render_dashboard(big, "en"))
    assert "… y 22 más" in render_dashboard(big, "es") and "… y 25 más" in render_dashboard(big, "es")
