"""How fast the admin dashboard is on 100 000 users: ``python -m benchmarks.dashboard [--users N] [--runs N]
[--charts DIR]``.

Starts its own embedded Postgres (as the tests do: migrated, the shipped content active, on a free
port, in a temporary folder), seeds realistic rows with ``generate_series`` (profiles, story progress
along the story's real paths, decisions, missions, subscriptions, Stars payments with refunds, and the
besitos ledger of the last 60 days: daily visits among other awards), runs ``VACUUM ANALYZE`` as autovacuum
would, then times :func:`adapters.dashboard.dashboard`, each of its queries, and its charts: drawing them
(:func:`adapters.dashboard_charts.dashboard_charts`, in a thread as the bot does) and the whole of what a press
of 📊 Dashboard costs (queries and drawing). The first drawing, which imports matplotlib, is timed on its own.
Prints a table and one JSON line; ``--charts DIR`` also writes the pictures there, to look at.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from adapters import shop_figures
from adapters.content_store import active_version
from adapters.dashboard import QUERIES, dashboard, local_day_start, series_days
from adapters.dashboard_charts import Chart, dashboard_charts
from infra.settings import Settings
from tools import stack
from workflows.content import Content


def story_paths(content: Content, count: int = 3) -> tuple[list[list[str]], dict[str, str]]:
    """``count`` walks through the story (the n-th takes each fragment's n-th choice), and each choice's fragment."""
    paths: list[list[str]] = []
    choice_of: dict[str, str] = {}
    for n in range(count):
        path, fragment_id = [], content.story.start
        while fragment_id and fragment_id not in path:
            path.append(fragment_id)
            fragment = content.story.by_id[fragment_id]
            if fragment.choices:
                choice = fragment.choices[n % len(fragment.choices)]
                choice_of[fragment_id] = choice.id
                fragment_id = choice.next
            else:
                fragment_id = fragment.next or ""
        paths.append(path)
    return paths, choice_of


USERS = """
INSERT INTO users (telegram_user_id, username, first_name, language, stage, joined_at, last_seen_at)
SELECT 10000000 + i, 'user' || i, 'User ' || i, CASE WHEN i % 5 = 0 THEN 'en' ELSE 'es' END,
       CASE WHEN i % 10 = 0 THEN 'onboarding' ELSE 'active' END, joined,
       greatest(joined, now() - power(random(), 1.5) * interval '120 days')
FROM (SELECT i, now() - power(random(), 1.2) * interval '365 days' AS joined FROM generate_series(1, $1) AS i) AS s
"""
# Each onboarded user stands somewhere along one of the story's paths, having completed what comes before.
PROGRESS = """
INSERT INTO story_progress (telegram_user_id, seq, content_version, fragment_id, playthrough, relationship, flags,
                            completed, endings, saved_at)
SELECT id, 1, $1, path ->> k, 1, 0, '[]',
       (SELECT coalesce(jsonb_agg(e ORDER BY n), '[]') FROM jsonb_array_elements(path) WITH ORDINALITY AS a (e, n)
        WHERE n <= k), '[]', now()
FROM (SELECT telegram_user_id AS id, path, floor(power(random(), 0.7) * (jsonb_array_length(path) + 1))::int AS k
      FROM (SELECT telegram_user_id, $2::jsonb -> (telegram_user_id % jsonb_array_length($2::jsonb))::int AS path
            FROM users WHERE stage = 'active') AS u) AS p
"""
DECISIONS = """
INSERT INTO story_decisions (telegram_user_id, idempotency_key, playthrough, fragment_id, choice_id, decided_at)
SELECT telegram_user_id, 'bench:' || telegram_user_id || ':' || fragment, 1, fragment, $1::jsonb ->> fragment,
       saved_at - random() * interval '30 days'
FROM story_progress, jsonb_array_elements_text(completed) AS done (fragment)
WHERE $1::jsonb ? fragment
"""
# The first mission is done by 70% of users, the n-th by 70%/n.
MISSIONS = """
INSERT INTO user_missions (telegram_user_id, code, completed_at)
SELECT telegram_user_id, code, joined_at + (now() - joined_at) * random()
FROM (SELECT telegram_user_id, joined_at, code, n, random() AS r  -- one draw per user and mission
      FROM users, unnest($1::text[]) WITH ORDINALITY AS m (code, n) WHERE stage = 'active') AS drawn
WHERE r < 0.7 / n
"""
SUBSCRIPTIONS = """
INSERT INTO subscriptions (telegram_user_id, seq, plan, status, started_at, expires_at, updated_at)
SELECT telegram_user_id, 1, CASE WHEN random() < 0.7 THEN 'mensual' ELSE 'trimestral' END, status,
       now() - interval '20 days', now() + interval '10 days', now()
FROM (SELECT telegram_user_id, CASE WHEN r < 0.6 THEN 'active' WHEN r < 0.65 THEN 'grace'
                                    WHEN r < 0.95 THEN 'expired' ELSE 'refunded' END AS status
      FROM (SELECT telegram_user_id, random() AS r FROM users WHERE stage = 'active' AND random() < 0.12) AS c) AS s
"""
# One to three payments per subscriber over the year; a refunded subscription had its first one refunded.
PAYMENTS = """
INSERT INTO payments (charge_id, provider, telegram_user_id, payload, plan, amount, currency, paid_at, refunded_at)
SELECT 'bench-' || telegram_user_id || '-' || n, 'telegram_stars', telegram_user_id, 'vip:' || telegram_user_id,
       plan, CASE plan WHEN 'mensual' THEN 250 ELSE 600 END, 'XTR', paid,
       CASE WHEN status = 'refunded' AND n = 1 THEN paid + interval '1 day' END
FROM (SELECT telegram_user_id, plan, status, n, now() - random() * interval '365 days' AS paid
      FROM subscriptions, generate_series(1, 1 + (telegram_user_id % 3)::int) AS n) AS p
"""
# The ledger of the last 60 days: a third of the days between joining and the last visit have a visit (its daily
# besitos, once a day) and two other awards; the older ledger, which the dashboard never reads, is left out.
LEDGER = """
INSERT INTO besitos_ledger (telegram_user_id, action, amount, balance_after, idempotency_key, created_at)
SELECT telegram_user_id, CASE n WHEN 1 THEN 'daily_login' WHEN 2 THEN 'decision_made'
                                ELSE 'story_fragment_completion' END,
       15, 15, 'bench:' || telegram_user_id || ':' || day::date || ':' || n, day + n * interval '7 minutes'
FROM (SELECT telegram_user_id, day
      FROM users, generate_series(date_trunc('day', greatest(joined_at, now() - interval '60 days')), last_seen_at,
                                  interval '1 day') AS day
      WHERE stage = 'active' AND random() < 0.33) AS visits,
     generate_series(1, 3) AS n
"""
TABLES = ("users", "story_progress", "story_decisions", "user_missions", "subscriptions", "payments",
          "besitos_ledger")  # fmt: skip


async def seed(dsn: str, users: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        version = await active_version(conn)
        content = Content.model_validate_json(
            await conn.fetchval("SELECT document FROM content_versions WHERE version = $1", version)
        )
        paths, choice_of = story_paths(content)
        codes = [goal.code for goal in content.missions]
        await conn.execute(USERS, users)
        await conn.execute(PROGRESS, version, json.dumps(paths))
        await conn.execute(DECISIONS, json.dumps(choice_of))
        await conn.execute(MISSIONS, codes)
        await conn.execute(SUBSCRIPTIONS)
        await conn.execute(PAYMENTS)
        await conn.execute(LEDGER)
        await conn.execute("VACUUM ANALYZE")
        counts = {}
        for table in TABLES:
            counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 -- fixed names
        return counts
    finally:
        await conn.close()


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples) * 1000, 2), "max_ms": round(max(samples) * 1000, 2)}


async def measure(dsn: str, runs: int) -> tuple[dict[str, dict[str, float]], list[Chart]]:
    """Each timing's summary, and the charts as first drawn."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        now = datetime.now(UTC)
        figures = await dashboard(pool, now)  # warm the connection and the caches
        timings: dict[str, list[float]] = {"dashboard": [], "charts_first": [], "charts": [], "dashboard+charts": []}
        started = time.perf_counter()
        drawn = await asyncio.to_thread(dashboard_charts, figures, "es")  # imports matplotlib
        timings["charts_first"].append(time.perf_counter() - started)
        for _ in range(runs):
            started = time.perf_counter()
            figures = await dashboard(pool, now)
            timings["dashboard"].append(time.perf_counter() - started)
            drawing = time.perf_counter()
            await asyncio.to_thread(dashboard_charts, figures, "es")
            timings["charts"].append(time.perf_counter() - drawing)
            timings["dashboard+charts"].append(time.perf_counter() - started)
        today, week = local_day_start(now, UTC), local_day_start(now, UTC, 6)
        days = series_days(now, UTC)
        arguments: dict[str, tuple[Any, ...]] = {"users": (today, week), "payments": ("XTR", now), "paid_media": (now,),
                                                 "daily_users": (days, days[0]),
                                                 "daily_revenue": ("XTR", days, days[0]),
                                                 "shop_besitos_days": (days, days[0], shop_figures.REFUNDS,
                                                                       shop_figures.SPENDS),
                                                 "shop_sales": (now, shop_figures.SALES)}  # fmt: skip
        async with pool.acquire() as conn:
            for name, query in QUERIES.items():
                timings[name] = []
                for _ in range(runs):
                    started = time.perf_counter()
                    await conn.fetch(query, *arguments.get(name, ()))
                    timings[name].append(time.perf_counter() - started)
        return {name: summary(samples) for name, samples in timings.items()}, drawn
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--charts", type=Path, help="write the charts' pictures to this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="diana-bench-") as folder:
        settings = Settings(DIANA_DATA_DIR=Path(folder), DIANA_POSTGRES_PORT=stack.free_port())
        stack.start_postgres(settings, fast_unsafe=True)
        try:
            started = time.perf_counter()
            # As the owner: VACUUM ANALYZE skips the tables of others (the application's role owns none).
            counts = asyncio.run(seed(settings.postgres_owner_dsn, args.users))
            seeded = time.perf_counter() - started
            results, drawn = asyncio.run(measure(settings.postgres_dsn, args.runs))
        finally:
            stack.stop_postgres(settings)
    print(f"seeded in {seeded:.1f} s: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
    print(f"{'query':<16} {'p50 ms':>9} {'max ms':>9}   ({args.runs} runs; charts_first: once)")
    for name, figures in results.items():
        print(f"{name:<16} {figures['p50_ms']:>9.2f} {figures['max_ms']:>9.2f}")
    if args.charts is not None:
        args.charts.mkdir(parents=True, exist_ok=True)
        for chart in drawn:
            (args.charts / f"{chart.name}.png").write_bytes(chart.png)
        sizes = ", ".join(f"{chart.name}.png {len(chart.png) // 1024} KB" for chart in drawn)
        print(f"charts in {args.charts}: {sizes}")
    print(json.dumps({"users": args.users, "runs": args.runs, "rows": counts, "timings": results}))


if __name__ == "__main__":
    main()
