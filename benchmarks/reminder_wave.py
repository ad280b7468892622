"""The daily reminder wave: N journeys' reminders due in the same hour, against Telegram's flood control.

``python -m benchmarks.reminder_wave --journeys 10000 [--speedup 60] [--json out.json]``

It runs the reminders' real sending path (``TelegramActivities.send_notification`` with its Postgres claims and the
bulk budget in Redis, through the project's Bot and its patient session) against the Bot API emulator with
Telegram's limits switched on (30 messages a second, one a second per chat), while a user chats with the bot:
an interactive reply every 200 ms, never paced. Up to 100 reminders are in flight at once, as in a worker
(Temporal's default concurrent activities). Two waves, the same N users:

1. **burst** (the code before the wave was spread and paced): every journey's timer at the reminder hour's first
   second, each reminder sent at once;
2. **wave**: each journey's reminder at its own moment (``rules.reminder_time``, two hours; replayed ``--speedup``
   times faster, so 60 compresses the wave to 2 minutes and its arrivals outrun the budget, which is the test), all
   through the shared bulk budget (``activities.pacing``).

For each: the reminders sent and their rate, Telegram's 429 answers, reminders given up after the session's
retries (Temporal would retry them later), and the interactive replies' p50/p95/max latency while the wave ran.
Prints a table and one JSON line. Postgres and Redis are started on free ports in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.pacing import SharedPacer
from activities.telegram import TelegramActivities
from adapters.telegram import create_bot
from infra import migrate
from infra.connections import create_pool, create_redis
from infra.settings import Settings
from tools import stack
from tools.emulator import BotAPIEmulator
from workflows.content import Calendar
from workflows.contracts import Button, Notify, Screen
from workflows.rules import reminder_time

FIRST_USER: Final = 8_000_000
# The users chatting meanwhile (one reply every PROBE_EVERY seconds, each to the next of them: Telegram allows a
# chat one message a second, and interactive traffic is many chats).
PROBE_USERS: Final = range(7_999_900, 7_999_950)
PROBE_EVERY: Final = 0.2
IN_FLIGHT: Final = 100  # a worker's concurrent activities (Temporal's default)


def _percentile(ordered: list[float], percent: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def reminder(user_id: int, day: str) -> Notify:
    screen = Screen(key="notify.reminder", params={"name": "Ana", "streak": 3},
                    buttons=[[Button(label="menu.story", action="story")], [Button(label="menu.open", action="menu")]])  # fmt: skip
    return Notify(user_id=user_id, idempotency_key=f"journey-{user_id}:reminder:{day}", language="es", screen=screen,
                  bulk=True)  # fmt: skip


async def interactive_probe(bot: Bot, stop: asyncio.Event, latencies: list[float]) -> int:
    """Users chatting meanwhile: each reply an unpaced sendMessage, timed until Telegram took it; returns how many
    replies failed (Telegram still refusing after the session's own retries)."""
    failed = 0
    for turn in itertools.count():
        if stop.is_set():
            return failed
        started = time.monotonic()
        try:
            await bot.send_message(PROBE_USERS[turn % len(PROBE_USERS)], "Aquí estoy.")
            latencies.append(time.monotonic() - started)
        except TelegramAPIError:
            failed += 1
        await asyncio.sleep(PROBE_EVERY)
    return failed


async def run_wave(mode: str, args: argparse.Namespace, emulator: BotAPIEmulator, bot: Bot, pool: asyncpg.Pool,
                   activities: TelegramActivities) -> dict[str, Any]:  # fmt: skip
    users = range(FIRST_USER, FIRST_USER + args.journeys)
    calendar = Calendar()
    start_of_wave = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # before the reminder hour, the day of the wave
    if mode == "burst":
        offsets = {user: 0.0 for user in users}
    else:
        first = min(reminder_time(user, start_of_wave, calendar.timezone, calendar.reminder_hour) for user in users)
        offsets = {user: (reminder_time(user, start_of_wave, calendar.timezone, calendar.reminder_hour) - first)
                   .total_seconds() / args.speedup for user in users}  # fmt: skip
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    given_up = 0
    environment = ActivityEnvironment()
    began = time.monotonic()

    async def send(user: int) -> None:
        nonlocal given_up
        await asyncio.sleep(max(0.0, began + offsets[user] - time.monotonic()))
        async with in_flight:
            try:
                await environment.run(activities.send_notification, reminder(user, mode))
            except (TelegramAPIError, ApplicationError):
                given_up += 1  # Temporal would retry this activity later

    stop = asyncio.Event()
    latencies: list[float] = []
    probe = asyncio.create_task(interactive_probe(bot, stop, latencies))
    calls_before = len(emulator.calls)
    await asyncio.gather(*(send(user) for user in users))
    duration = time.monotonic() - began
    stop.set()
    probe_failures = await probe
    sends = [call for call in emulator.calls[calls_before:] if call["method"] == "sendMessage"]
    sent = await pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent' AND idempotency_key LIKE $1",
                               f"%:reminder:{mode}")  # fmt: skip
    ordered = sorted(latencies)
    return {
        "mode": mode,
        "journeys": args.journeys,
        "sent": int(sent),
        "given_up": given_up,
        "seconds": round(duration, 1),
        "sent_per_second": round(int(sent) / duration, 1) if duration else None,
        "telegram_429": sum(1 for call in sends if call.get("error_code") == 429),
        "interactive_429": sum(
            1 for call in sends if call.get("error_code") == 429 and call.get("chat_id") in PROBE_USERS
        ),
        "interactive_replies": len(latencies),
        "interactive_failed": probe_failures,
        "interactive_p50_ms": _ms(_percentile(ordered, 50)),
        "interactive_p95_ms": _ms(_percentile(ordered, 95)),
        "interactive_max_ms": _ms(ordered[-1] if ordered else None),
    }


def _ms(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    return round(seconds * 1000, 1)


@contextmanager
def servers() -> Iterator[Settings]:
    folder = Path(tempfile.mkdtemp(prefix="diana-wave-"))
    postgres_port, redis_port = stack.free_ports(2)
    settings = Settings(_env_file=None, DIANA_DATA_DIR=folder, DIANA_POSTGRES_PORT=postgres_port,
                        DIANA_REDIS_PORT=redis_port)  # fmt: skip
    try:
        stack.start_postgres(settings)
        stack.start_redis(settings)
        yield settings
    finally:
        stack.down(settings)
        shutil.rmtree(folder, ignore_errors=True)


async def bench(args: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    emulator = BotAPIEmulator(flood_limits=True)
    await emulator.start()
    for user_id in (*PROBE_USERS, *range(FIRST_USER, FIRST_USER + args.journeys)):
        emulator.private_chat(emulator.user(user_id, {"first_name": "Ana"}))
    pool = await create_pool(settings.postgres_dsn)
    redis = create_redis(settings.redis_dsn)
    bot = create_bot(Settings(_env_file=None, TELEGRAM_API_BASE=emulator.base_url))
    try:
        async with pool.acquire() as conn:
            await migrate.migrate(conn)
        results = []
        for mode in args.modes:
            activities = TelegramActivities(bot, pool, pacer=SharedPacer(redis) if mode == "wave" else None)
            results.append(await run_wave(mode, args, emulator, bot, pool, activities))
            print_row(results[-1])
        return results
    finally:
        await bot.session.close()
        await redis.aclose()
        await pool.close()
        await emulator.stop()


COLUMNS: Final = ("mode", "journeys", "sent", "given_up", "seconds", "sent_per_second", "telegram_429",
                  "interactive_replies", "interactive_failed", "interactive_429", "interactive_p50_ms", "interactive_p95_ms",
                  "interactive_max_ms")  # fmt: skip


def print_row(row: dict[str, Any]) -> None:
    print("  ".join(f"{name}={row[name]}" for name in COLUMNS), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--journeys", type=int, default=10_000)
    parser.add_argument("--speedup", type=float, default=60.0, help="how much faster than real time the wave plays")
    parser.add_argument("--modes", nargs="+", choices=("burst", "wave"), default=["burst", "wave"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.journeys < 1 or args.speedup <= 0:
        parser.error("--journeys must be positive and --speedup above 0")
    with servers() as settings:
        results = asyncio.run(bench(args, settings))
    line = json.dumps({"reminder_wave": results})
    print(line)
    if args.json:
        args.json.write_text(line + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
