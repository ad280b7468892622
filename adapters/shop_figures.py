"""The dashboard's shop figures: besitos earned and spent per day, sales per item, orders waiting, running auctions.

Read inside the dashboard's snapshot (``adapters.dashboard``), from the ledger and the shop's projection:

* **earned** on a day: besitos that came into users' hands, every positive ledger row of the day but refunds (story,
  missions, daily visits, reactions, staff grants).
* **spent** on a day: besitos paid that day in the shop, for priced story and for auctions won, less the besitos
  refunded that day (a refund lowers the spending of the day it was given, so a day can be negative). Reserves held
  by leading bids move no besitos and are not spent until the auction is won.
* **sales** of an item: purchases in the shop and auctions won (gifts are not sales), refunded ones left out.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Final

import asyncpg
from pydantic import BaseModel, Field

from adapters.texts import t
from workflows.content import Content, Localized
from workflows.contracts import Language

# Ledger actions that spend besitos (negative rows), and the one that gives a purchase's back.
SPENDS: Final = ("shop_purchase", "story_price", "auction_won")
REFUNDS: Final = ("shop_refund",)
# Where a purchase is a sale (the others are gifts: missions, achievements, staff).
SALES: Final = ("shop", "auction")
# How many items and auctions the text names (the rest are counted), and how much of a name: the dashboard is one
# message (4096 characters) with the funnel and the missions before these.
MAX_SALES: Final = 8
MAX_AUCTIONS: Final = 5
MAX_NAME: Final = 40


class DayBesitos(BaseModel):
    """One local calendar day of besitos earned and spent (see the module's definitions)."""

    day: date
    earned: int = 0
    spent: int = 0


class ItemSales(BaseModel):
    item: str
    name: Localized | None  # None: an item no longer in the active content
    sold: int
    besitos: int
    sold_30_days: int
    besitos_30_days: int


class RunningAuction(BaseModel):
    auction_id: str
    title: str
    leading_bid: int | None  # None: no bid yet
    bids: int
    start_price: int
    ends_at: datetime


class ShopFigures(BaseModel):
    besitos_days: list[DayBesitos] = Field(default_factory=list)  # the dashboard's days, oldest first
    sales: list[ItemSales] = Field(default_factory=list)  # the most besitos first
    orders_waiting: int = 0
    auctions: list[RunningAuction] = Field(default_factory=list)  # the soonest to end first

    @property
    def earned(self) -> int:
        return sum(day.earned for day in self.besitos_days)

    @property
    def spent(self) -> int:
        return sum(day.spent for day in self.besitos_days)


# $1 the days' local midnights (oldest first; width_bucket numbers them from 1), $2 the first, $3 refunds, $4 spends.
BESITOS_DAYS_QUERY: Final = """
SELECT width_bucket(created_at, $1::timestamptz[]) AS day,
       coalesce(sum(amount) FILTER (WHERE amount > 0 AND NOT action = ANY($3::text[])), 0) AS earned,
       coalesce(sum(-amount) FILTER (WHERE action = ANY($4::text[])), 0)
       - coalesce(sum(amount) FILTER (WHERE action = ANY($3::text[])), 0) AS spent
FROM besitos_ledger
WHERE created_at >= $2
GROUP BY 1
"""
SALES_QUERY: Final = """
SELECT item, count(*) AS sold, sum(price) AS besitos, count(*) FILTER (WHERE bought_at >= $1) AS sold_30_days,
       coalesce(sum(price) FILTER (WHERE bought_at >= $1), 0) AS besitos_30_days
FROM shop_purchases
WHERE source = ANY($2::text[]) AND status <> 'refunded'
GROUP BY item
ORDER BY besitos DESC, item
"""
# Orders of erased users are left out: nobody is there to deliver them to.
ORDERS_WAITING_QUERY: Final = (
    "SELECT count(*) FROM shop_purchases WHERE status = 'waiting' AND telegram_user_id IS NOT NULL"
)
AUCTIONS_QUERY: Final = """
SELECT auction_id, title, leading_bid, bids, start_price, ends_at FROM auctions WHERE status = 'running'
ORDER BY ends_at, auction_id
"""


async def read(conn: asyncpg.Connection, content: Content | None, starts: list[datetime],
               since: datetime) -> ShopFigures:  # fmt: skip
    """The figures, on the caller's connection (its snapshot): per day over ``starts``, sales since ``since`` and ever."""
    days = {row["day"]: row for row in await conn.fetch(BESITOS_DAYS_QUERY, starts, starts[0], REFUNDS, SPENDS)}
    catalogue = content.shop.by_code if content else {}
    sales = [ItemSales(item=row["item"], name=catalogue[row["item"]].name if row["item"] in catalogue else None,
                       sold=row["sold"], besitos=row["besitos"], sold_30_days=row["sold_30_days"],
                       besitos_30_days=row["besitos_30_days"])
             for row in await conn.fetch(SALES_QUERY, since, SALES)]  # fmt: skip
    besitos_days = [DayBesitos(day=start.date(), earned=days[n]["earned"] if n in days else 0,
                               spent=days[n]["spent"] if n in days else 0)
                    for n, start in enumerate(starts, start=1)]  # fmt: skip
    return ShopFigures(
        besitos_days=besitos_days,
        sales=sales,
        orders_waiting=await conn.fetchval(ORDERS_WAITING_QUERY),
        auctions=[RunningAuction(**dict(row)) for row in await conn.fetch(AUCTIONS_QUERY)],
    )


def lines(figures: ShopFigures, language: str, zone: tzinfo) -> list[str]:
    """The shop's part of the dashboard's text (HTML, each line one locale text)."""
    lang: Language = "en" if language == "en" else "es"
    found = [t("admin.dashboard.shop.besitos", language, days=len(figures.besitos_days), earned=figures.earned,
               spent=figures.spent, today_earned=figures.besitos_days[-1].earned if figures.besitos_days else 0,
               today_spent=figures.besitos_days[-1].spent if figures.besitos_days else 0),
             t("admin.dashboard.shop.sales", language, items=len(figures.sales),
               sold=sum(s.sold for s in figures.sales), besitos=sum(s.besitos for s in figures.sales))]  # fmt: skip
    for sale in figures.sales[:MAX_SALES]:
        found.append(t("admin.dashboard.shop.item", language, code=sale.item,
                       name=_short(sale.name.get(lang)) if sale.name else "—", sold=sale.sold, besitos=sale.besitos,
                       sold_30_days=sale.sold_30_days, besitos_30_days=sale.besitos_30_days))  # fmt: skip
    if len(figures.sales) > MAX_SALES:
        found.append(t("admin.panel.more", language, count=len(figures.sales) - MAX_SALES))
    found.append(t("admin.dashboard.shop.orders", language, count=figures.orders_waiting))
    found.append(t("admin.dashboard.shop.auctions", language, count=len(figures.auctions)))
    for auction in figures.auctions[:MAX_AUCTIONS]:
        key = "admin.dashboard.shop.auction" if auction.leading_bid is not None else "admin.dashboard.shop.no_bid"
        found.append(t(key, language, title=_short(auction.title), amount=auction.leading_bid or 0, bids=auction.bids,
                       start=auction.start_price, ends=auction.ends_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")))  # fmt: skip
    if len(figures.auctions) > MAX_AUCTIONS:
        found.append(t("admin.panel.more", language, count=len(figures.auctions) - MAX_AUCTIONS))
    return found


def _short(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1].rstrip() + "…"
