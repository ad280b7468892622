"""The admin dashboard: users, activity, the story funnel, missions, VIP, Stars revenue and the shop, from Postgres.

Every figure comes from the journeys' projection in one read-only snapshot, so the numbers agree
with each other. Each query reads an index or makes one pass over one table; on 100 000 users the
whole dashboard takes tens of milliseconds (``benchmarks/dashboard.py``).

Days are calendar days in the community's time zone (the active content's ``calendar.timezone``),
as for streaks and the daily reminder: "today" starts at local midnight, "7 days" is today and the
six days before. The charts' series (:data:`SERIES_DAYS` days, today last) are per local day too; a day's
bounds come from :func:`local_day_start`, passed to Postgres, so Python and SQL never disagree on a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from pydantic import BaseModel

from adapters import shop_figures
from adapters.content_store import active_version
from adapters.shop_figures import (
    AUCTIONS_QUERY,
    BESITOS_DAYS_QUERY,
    ORDERS_WAITING_QUERY,
    SALES_QUERY,
    ShopFigures,
)
from workflows.content import Content, Localized

REVENUE_DAYS: Final = 30
SERIES_DAYS: Final = 30  # the charts' days: today and the 29 before
STARS: Final = "XTR"
# Where Stars come from, in the charts' order: VIP subscriptions, and paid media (posts bought with Stars), which
# the revenue query does not read yet. A source the query returns that is not listed here comes after them.
REVENUE_SOURCES: Final = ("vip", "paid_media")


class FragmentFunnel(BaseModel):
    """How far users got in the story at one fragment."""

    fragment_id: str
    chapter: int | None  # None: a fragment no longer in the active content (users still stand on it)
    title: Localized | None
    reached: int  # users who entered it at least once (completed it, or stand on it now)
    completed: int  # users who moved on from it (an ending: who arrived there)
    here: int  # users standing on it now


class MissionCompletion(BaseModel):
    code: str
    title: Localized | None
    completed: int
    rate: float  # completed / users past onboarding


class DayActivity(BaseModel):
    """One local calendar day of the charts' user series."""

    day: date
    # People who used the bot that day: a first visit of the day past onboarding (the daily besitos), or joining.
    active: int
    new: int  # joined that day


class DayRevenue(BaseModel):
    """One local calendar day of Stars revenue."""

    day: date
    # Net Stars by source (every one of REVENUE_SOURCES, 0 if none): paid that day and not refunded since.
    stars: dict[str, int]


class Dashboard(BaseModel):
    generated_at: datetime
    timezone: str
    content_version: int
    users_total: int
    users_onboarded: int  # finished onboarding (stage "active")
    new_today: int
    new_7_days: int
    active_today: int  # last seen since local midnight: the daily active users
    active_7_days: int
    funnel: list[FragmentFunnel]
    missions: list[MissionCompletion]
    payers: int  # users with at least one payment, refunded or not
    vip_conversion: float  # payers / users_total
    vip_active: int
    vip_grace: int
    stars_gross: int
    stars_refunded: int
    stars_net: int
    stars_net_30_days: int  # paid in the last 30 days and not refunded
    payments_total: int
    payments_30_days: int
    paid_media_purchases: int  # paid media bought for Stars (sendPaidMedia), ever
    paid_media_stars: int
    paid_media_stars_30_days: int
    days: list[DayActivity]  # SERIES_DAYS days, oldest first, today last
    revenue_days: list[DayRevenue]  # the same days
    shop: ShopFigures = ShopFigures()  # besitos per day (the same days), sales, orders waiting, running auctions


# The table is read once for the totals; the day windows read their index range only.
_USERS: Final = """
SELECT total, onboarded,
       (SELECT count(*) FROM users WHERE joined_at >= $1) AS new_today,
       (SELECT count(*) FROM users WHERE joined_at >= $2) AS new_7_days,
       (SELECT count(*) FROM users WHERE last_seen_at >= $1) AS active_today,
       (SELECT count(*) FROM users WHERE last_seen_at >= $2) AS active_7_days
FROM (SELECT count(*) AS total, count(*) FILTER (WHERE stage = 'active') AS onboarded FROM users) AS totals
"""
# One pass over story_progress: each completed fragment once per user (``completed`` holds it once), and the
# fragment the user stands on, which counts as reached unless completed on an earlier playthrough.
_FUNNEL: Final = """
SELECT fragment, count(*) FILTER (WHERE done OR fresh) AS reached, count(*) FILTER (WHERE done) AS completed,
       count(*) FILTER (WHERE NOT done) AS here
FROM (
    SELECT done.fragment, true AS done, false AS fresh
    FROM story_progress, jsonb_array_elements_text(story_progress.completed) AS done (fragment)
    UNION ALL
    SELECT fragment_id, false, NOT completed ? fragment_id FROM story_progress WHERE fragment_id IS NOT NULL
) AS reached
GROUP BY fragment
"""
_MISSIONS: Final = "SELECT code, count(*) AS completed FROM user_missions GROUP BY code"
_VIP: Final = """
SELECT count(*) FILTER (WHERE status = 'active') AS active, count(*) FILTER (WHERE status = 'grace') AS grace
FROM subscriptions WHERE status IN ('active', 'grace')
"""
_PAYMENTS: Final = """
SELECT count(DISTINCT telegram_user_id) AS payers,
       count(*) AS payments_total,
       count(*) FILTER (WHERE paid_at >= $2) AS payments_30_days,
       coalesce(sum(amount) FILTER (WHERE currency = $1), 0) AS gross,
       coalesce(sum(amount) FILTER (WHERE currency = $1 AND refunded_at IS NOT NULL), 0) AS refunded,
       coalesce(sum(amount) FILTER (WHERE currency = $1 AND refunded_at IS NULL AND paid_at >= $2), 0) AS net_30_days
FROM payments
"""

_PAID_MEDIA: Final = """
SELECT count(*) AS purchases, coalesce(sum(star_count), 0) AS stars,
       coalesce(sum(star_count) FILTER (WHERE purchased_at >= $1), 0) AS stars_30_days
FROM paid_media_purchases
"""

# The charts' days: $1 holds each day's local midnight, oldest first; width_bucket numbers the days from 1 (0: before
# the first). Each branch reads an index range: the window's first visits (besitos_ledger_daily_login_idx, 0012)
# and joins (users_joined_at_idx). A user counts once a day however many rows they have.
_DAILY_USERS: Final = """
SELECT width_bucket(at, $1::timestamptz[]) AS day, count(DISTINCT telegram_user_id) AS active,
       count(*) FILTER (WHERE joined) AS new
FROM (
    SELECT created_at AS at, telegram_user_id, false AS joined
    FROM besitos_ledger WHERE action = 'daily_login' AND created_at >= $2
    UNION ALL
    SELECT joined_at, telegram_user_id, true FROM users WHERE joined_at >= $2
) AS seen
GROUP BY 1
"""
# Net Stars per day and source, as the revenue figures count them (paid in the window, not refunded). One branch
# per source: paid media purchases become a second branch ``UNION ALL SELECT 'paid_media', ...`` here, nothing else.
_DAILY_REVENUE: Final = """
SELECT width_bucket(paid_at, $2::timestamptz[]) AS day, source, sum(amount) AS stars
FROM (
    SELECT 'vip' AS source, paid_at, amount FROM payments
    WHERE currency = $1 AND refunded_at IS NULL AND paid_at >= $3
    UNION ALL
    SELECT 'paid_media', purchased_at, star_count FROM paid_media_purchases
    WHERE star_count IS NOT NULL AND purchased_at >= $3
) AS revenue
GROUP BY 1, 2
"""

# By name, for the benchmark's per-query timings.
QUERIES: Final = {"users": _USERS, "funnel": _FUNNEL, "missions": _MISSIONS, "vip": _VIP, "payments": _PAYMENTS,
                  "paid_media": _PAID_MEDIA,
                  "daily_users": _DAILY_USERS, "daily_revenue": _DAILY_REVENUE,
                  "shop_besitos_days": BESITOS_DAYS_QUERY, "shop_sales": SALES_QUERY,
                  "shop_orders_waiting": ORDERS_WAITING_QUERY, "shop_auctions": AUCTIONS_QUERY}  # fmt: skip


def local_day_start(now: datetime, zone: tzinfo, days_back: int = 0) -> datetime:
    """Local midnight ``days_back`` calendar days before ``now``'s local day (DST-safe: by date, not hours)."""
    day = now.astimezone(zone).date() - timedelta(days=days_back)
    return datetime.combine(day, time(), tzinfo=zone)


def series_days(now: datetime, zone: tzinfo) -> list[datetime]:
    """The local midnights that open the charts' days, oldest first: today's is the last."""
    return [local_day_start(now, zone, back) for back in range(SERIES_DAYS - 1, -1, -1)]


async def dashboard(pool: asyncpg.Pool, now: datetime) -> Dashboard:
    """Every dashboard figure as of ``now`` (an aware datetime), read in one consistent snapshot."""
    version = await active_version(pool)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        document = await conn.fetchval("SELECT document FROM content_versions WHERE version = $1", version)
        content = Content.model_validate_json(document) if document else None
        zone = _zone(content.calendar.timezone if content else "UTC")
        today, week = local_day_start(now, zone), local_day_start(now, zone, 6)
        users = await conn.fetchrow(_USERS, today, week)
        funnel = {row["fragment"]: row for row in await conn.fetch(_FUNNEL)}
        missions = {row["code"]: int(row["completed"]) for row in await conn.fetch(_MISSIONS)}
        vip = await conn.fetchrow(_VIP)
        payments = await conn.fetchrow(_PAYMENTS, STARS, now - timedelta(days=REVENUE_DAYS))
        paid_media = await conn.fetchrow(_PAID_MEDIA, now - timedelta(days=REVENUE_DAYS))
        starts = series_days(now, zone)
        daily_users = await conn.fetch(_DAILY_USERS, starts, starts[0])
        daily_revenue = await conn.fetch(_DAILY_REVENUE, STARS, starts, starts[0])
        shop = await shop_figures.read(conn, content, starts, now - timedelta(days=REVENUE_DAYS))
    assert users is not None and vip is not None and payments is not None and paid_media is not None
    total, onboarded = int(users["total"]), int(users["onboarded"])
    return Dashboard(
        generated_at=now,
        timezone=str(zone),
        content_version=version,
        users_total=total,
        users_onboarded=onboarded,
        new_today=users["new_today"],
        new_7_days=users["new_7_days"],
        active_today=users["active_today"],
        active_7_days=users["active_7_days"],
        funnel=_funnel(content, funnel),
        missions=_missions(content, missions, onboarded),
        payers=payments["payers"],
        vip_conversion=payments["payers"] / total if total else 0.0,
        vip_active=vip["active"] or 0,
        vip_grace=vip["grace"] or 0,
        stars_gross=payments["gross"],
        stars_refunded=payments["refunded"],
        stars_net=payments["gross"] - payments["refunded"],
        stars_net_30_days=payments["net_30_days"],
        payments_total=payments["payments_total"],
        payments_30_days=payments["payments_30_days"],
        paid_media_purchases=paid_media["purchases"],
        paid_media_stars=paid_media["stars"],
        paid_media_stars_30_days=paid_media["stars_30_days"],
        days=_days(starts, daily_users),
        revenue_days=_revenue_days(starts, daily_revenue),
        shop=shop,
    )


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _days(starts: list[datetime], rows: list[asyncpg.Record]) -> list[DayActivity]:
    """Every day of the window, a day without rows as zeros (``day`` numbers the window's days from 1)."""
    by_day = {row["day"]: row for row in rows}
    return [DayActivity(day=start.date(), active=by_day[n]["active"] if n in by_day else 0,
                        new=by_day[n]["new"] if n in by_day else 0)
            for n, start in enumerate(starts, start=1)]  # fmt: skip


def _revenue_days(starts: list[datetime], rows: list[asyncpg.Record]) -> list[DayRevenue]:
    sources = [*REVENUE_SOURCES, *sorted({row["source"] for row in rows} - set(REVENUE_SOURCES))]
    stars = {(row["day"], row["source"]): int(row["stars"]) for row in rows}
    return [DayRevenue(day=start.date(), stars={source: stars.get((n, source), 0) for source in sources})
            for n, start in enumerate(starts, start=1)]  # fmt: skip


def _funnel(content: Content | None, rows: dict[str, asyncpg.Record]) -> list[FragmentFunnel]:
    """In the active content's fragment order; fragments it no longer has (older versions) come last."""
    known = [(f.id, f.chapter, f.title) for f in content.story.fragments] if content else []
    ids = {fragment_id for fragment_id, _, _ in known}
    others = [(fragment_id, None, None) for fragment_id in sorted(rows.keys() - ids)]
    funnel = []
    for fragment_id, chapter, title in [*known, *others]:
        row = rows.get(fragment_id)
        funnel.append(FragmentFunnel(fragment_id=fragment_id, chapter=chapter, title=title,
                                     reached=row["reached"] if row else 0, completed=row["completed"] if row else 0,
                                     here=row["here"] if row else 0))  # fmt: skip
    return funnel


def _missions(content: Content | None, completed: dict[str, int], onboarded: int) -> list[MissionCompletion]:
    known = [(goal.code, goal.title) for goal in content.missions] if content else []
    codes = {code for code, _ in known}
    rows = [*known, *((code, None) for code in sorted(completed.keys() - codes))]
    return [
        MissionCompletion(code=code, title=title, completed=completed.get(code, 0),
                          rate=completed.get(code, 0) / onboarded if onboarded else 0.0)
        for code, title in rows
    ]  # fmt: skip
