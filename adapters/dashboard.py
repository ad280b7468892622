"""The admin dashboard: users, activity, the story funnel, missions, VIP and Stars revenue, from Postgres.

Every figure comes from the journeys' projection in one read-only snapshot, so the numbers agree
with each other. Each query reads an index or makes one pass over one table; on 100 000 users the
whole dashboard takes tens of milliseconds (``benchmarks/dashboard.py``).

Days are calendar days in the community's time zone (the active content's ``calendar.timezone``),
as for streaks and the daily reminder: "today" starts at local midnight, "7 days" is today and the
six days before.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from pydantic import BaseModel

from adapters.content_store import active_version
from workflows.content import Content, Localized

REVENUE_DAYS: Final = 30
STARS: Final = "XTR"


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


# By name, for the benchmark's per-query timings.
QUERIES: Final = {"users": _USERS, "funnel": _FUNNEL, "missions": _MISSIONS, "vip": _VIP, "payments": _PAYMENTS}


def local_day_start(now: datetime, zone: tzinfo, days_back: int = 0) -> datetime:
    """Local midnight ``days_back`` calendar days before ``now``'s local day (DST-safe: by date, not hours)."""
    day = now.astimezone(zone).date() - timedelta(days=days_back)
    return datetime.combine(day, time(), tzinfo=zone)


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
    assert users is not None and vip is not None and payments is not None
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
    )


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


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
