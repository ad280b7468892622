"""The seed's load test: N emulated users through the real bot, the emulator and the real stack, against two floors.

``python -m benchmarks.load --users 1000 --duration 60 [--think 5] [--json out.json]``

One run starts everything it measures, on free loopback ports in a temporary folder: the Temporal
dev server (SQLite file, as ``diana up``), Postgres and Redis; the Bot API emulator in this process;
the real worker and the real bot as processes of their own (``python -m tools.cli worker|bot``, as
the end-to-end tests run them). Then three phases with the same users, think time, ramp and duration:

1. **engine floor** (``--no-floor`` skips it): a trivial workflow per user with a trivial Update handler
   (:mod:`benchmarks.floor`, its own task queue and worker process), reached by update-with-start as the
   bot reaches a journey, called directly by this load generator: Temporal alone;
2. **architecture floor** (``--no-architecture-floor`` skips it): Diana's path with nothing of Diana on it.
   A trivial bot (:mod:`benchmarks.echo_bot`, a process of its own, built with the project's Bot factory
   and served by the bot's own webhook server, in ``--mode``) takes the users' updates from the same
   emulator, makes each an update-with-start on the engine floor's workflow (a fresh floor worker
   process) and sends one reply with a button: ``sendMessage`` for a text or a command,
   ``editMessageText`` and ``answerCallbackQuery`` at once for a press. The users write /start, then
   press its button, or now and then write a command or a word, as often as Diana's users do;
3. **Diana**: each user writes /start, goes through the introduction, then wanders the menu and the
   story (besitos, missions, achievements, ranking, VIP, story choices, /diana, a word to Diana).

Diana ÷ each floor (throughput, p95) is reported: above the engine floor is everything Diana adds to
Temporal; above the architecture floor, what Diana adds to a Telegram bot on Temporal (its middlewares,
rules, state, projection, content, bigger screens).

Latency is update→reply: from the moment the emulator queued the user's update to the moment the
bot's answer (the new message, or the edit of the pressed one) reached the user's chat, both as the
emulator recorded them; waiting uses the emulator's own hook, not polling (the engine floor, with no
bot, times its Update call). An error is a reply that did not come within ``--reply-timeout`` or a
refusal ("Diana no puede responder ahora mismo").

``--scale N`` first opens N journeys directly through Temporal (update-with-start with a /start
request, as the bot would send it; in batches; at most ``--scale-budget`` seconds), then runs the
Diana phase with ``--users`` active users (half of them returning to journeys opened idle) while the
rest sit idle, reporting the worker's memory before, after opening and after the active phase.

Prints a table and one JSON line (also written to ``--json``). The figures are only as quiet as the
machine: every server shares its cores with the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from adapters.content_store import active_version
from adapters.journeys import INTERACT, telegram_update_id
from adapters.texts import t
from benchmarks import echo_bot, floor
from infra.payload_codec import encrypted_data_converter
from infra.payload_keys import PayloadKeys, embedded_master_key, master_keys
from infra.settings import REPO_ROOT, Settings
from tools import stack
from tools.emulator import BotAPIEmulator
from tools.emulator.server import ChatLog
from workflows.contracts import JourneyInput, JourneyRequest, JourneyState, TelegramProfile
from workflows.journey import JourneyWorkflow, journey_id

DIANA_USERS: Final = 1_000_000
FLOOR_USERS: Final = 9_000_000
ARCHITECTURE_FLOOR_USERS: Final = 5_000_000
IDLE_USERS: Final = 50_000_000
TASK_QUEUE: Final = "bench-journeys"
FLOOR_TASK_QUEUE: Final = "bench-floor"
# Buttons a wandering user presses, and how much more often than a menu entry (settings, purchases,
# exports and erasure are left alone: they change who the user is, not how busy Diana is).
# Story screens that carry media: the message with the buttons is the screen (an album's text comes after it).
MEDIA_SCREENS: Final = frozenset({"bot_photo", "bot_video", "bot_animation", "bot_voice"})
WEIGHTS: Final = {"onboarding_next": 20, "story": 4, "story_next": 6, "story_restart": 2, "besitos": 1, "missions": 1,
                  "achievements": 1, "ranking": 1, "vip": 1, "menu": 2}  # fmt: skip
PICK_WEIGHT: Final = 6
REFUSALS: Final = frozenset(t(f"reject.{kind}", language) for language in ("es", "en")
                            for kind in ("unavailable", "ContentUnavailable"))  # fmt: skip
STATE_SAMPLE: Final = 20
HISTORY_SAMPLE: Final = 5


# Measuring ---------------------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    started: float
    latency: float | None  # None: no reply (or a refusal) — an error
    error: str = ""


@dataclass
class Phase:
    """The interactions of one phase; figures in milliseconds and interactions per second."""

    name: str
    users: int
    samples: list[Sample] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    ramp: float = 0.0

    def figures(self) -> dict[str, Any]:
        latencies = sorted(s.latency for s in self.samples if s.latency is not None)
        errors = [s for s in self.samples if s.latency is None]
        seconds = max(self.ended - self.started, 1e-9)
        return {
            "users": self.users,
            "interactions": len(self.samples),
            "errors": len(errors),
            "error_rate": round(len(errors) / len(self.samples), 4) if self.samples else 0.0,
            "errors_by_kind": dict(Counter(s.error for s in errors)),
            "per_second": round(len(latencies) / seconds, 1),
            "p50_ms": _ms(_percentile(latencies, 50)),
            "p95_ms": _ms(_percentile(latencies, 95)),
            "p99_ms": _ms(_percentile(latencies, 99)),
            "max_ms": _ms(latencies[-1] if latencies else None),
            "seconds": round(seconds, 1),
            "after_arrival": self.after_arrival(),
            "p95_ms_by_kind": {
                kind: _ms(
                    _percentile(sorted(s.latency for s in self.samples if s.kind == kind and s.latency is not None), 95)
                )
                for kind in sorted({s.kind for s in self.samples})
            },  # fmt: skip
        }

    def after_arrival(self) -> dict[str, Any]:
        """The same once every user has arrived (the first /start of each opens a journey, the costliest step)."""
        since = self.started + self.ramp
        settled = [s for s in self.samples if s.started >= since]
        latencies = sorted(s.latency for s in settled if s.latency is not None)
        return {
            "interactions": len(settled),
            "error_rate": round(1 - len(latencies) / len(settled), 4) if settled else 0.0,
            "per_second": round(len(latencies) / max(self.ended - since, 1e-9), 1),
            "p50_ms": _ms(_percentile(latencies, 50)),
            "p95_ms": _ms(_percentile(latencies, 95)),
            "p99_ms": _ms(_percentile(latencies, 99)),
        }


def _percentile(ordered: list[float], percent: float) -> float | None:
    """Nearest rank: the smallest value with at least ``percent`` % of the values at or below it."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (now) and ``VmHWM`` (peak) of a process, in KiB."""
    figures: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = int(value.split()[0])
    return figures


def _cpu_of(pid: int, *, children: bool = False) -> float:
    """CPU seconds a process has used (with its reaped children's when ``children``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _pid_file(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().split()[0])
    return None


def cpu_by_component(settings: Settings, processes: Processes) -> dict[str, float]:
    """CPU seconds used so far by each part of the run: our processes, the servers, this load generator."""
    used = {name: _cpu_of(process.pid) for name, process in processes.running.items()}
    used["load generator"] = _cpu_of(os.getpid())
    for name, pid_file in (("temporal", settings.data_dir / "temporal" / "temporal.pid"),
                           ("redis", settings.data_dir / "redis" / "redis.pid")):  # fmt: skip
        pid = _pid_file(pid_file)
        if pid:
            used[name] = _cpu_of(pid)
    postmaster = _pid_file(settings.data_dir / "postgres" / "postmaster.pid")
    if postmaster:
        used["postgres"] = _cpu_of(postmaster, children=True) + sum(_cpu_of(c) for c in _children_of(postmaster))
    return used


def cpu_per_interaction(before: dict[str, float], after: dict[str, float], phase: Phase) -> dict[str, float]:
    """Milliseconds of CPU each part spent per interaction of ``phase``."""
    count = max(len(phase.samples), 1)
    return {name: round((after[name] - before.get(name, 0.0)) * 1000 / count, 2) for name in after}


# The emulator, with a hook per chat ----------------------------------------------------------------------

Match = Callable[[dict[str, Any]], bool]


class TimedEmulator(BotAPIEmulator):
    """The Bot API emulator, telling each waiting user about its chat's next transcript entries.

    The emulator's own long poll wakes every waiter on every change; a thousand users would spend the
    load generator's CPU on that. Here each user registers what it waits for and is woken alone.
    """

    def __init__(self) -> None:
        super().__init__()
        self._waiters: dict[int, tuple[Match, asyncio.Future[dict[str, Any]]]] = {}

    def expect(self, chat_id: int, match: Match) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[chat_id] = (match, future)
        return future

    def forget(self, chat_id: int) -> None:
        self._waiters.pop(chat_id, None)

    async def drop_webhook(self) -> None:
        """Forget the webhook and the updates still queued (a phase's bot is gone; the next one sets its own)."""
        await self._delete_webhook({"drop_pending_updates": "true"})

    async def append(self, chat: ChatLog, kind: str, entry: dict[str, Any]) -> None:
        await super().append(chat, kind, entry)
        waiter = self._waiters.get(chat.chat["id"])
        if waiter is not None and not waiter[1].done() and waiter[0](chat.transcript[-1]):
            waiter[1].set_result(chat.transcript[-1])
            del self._waiters[chat.chat["id"]]


# A user of a bot -----------------------------------------------------------------------------------------

# What a user presses: how much a button (by its callback data) weighs among those of the screen (0: never).
Weigh = Callable[[str], int]


def diana_weight(data: str) -> int:
    """Diana's journey buttons: the introduction and the story more than the menu (see ``WEIGHTS``)."""
    prefix, _, rest = data.partition(":")
    action = rest.rpartition(":")[0]
    weight = PICK_WEIGHT if action.startswith("pick.") else WEIGHTS.get(action, 0)
    return weight if prefix == "j" else 0


def architecture_floor_weight(data: str) -> int:
    """The architecture floor's one button."""
    return 1 if data == echo_bot.PRESS else 0


class Wanderer:
    """One emulated user: /start, then the screens' buttons (Diana's: the introduction, the menu and the
    story), now and then a command or a word, one step at a time."""

    def __init__(self, emulator: TimedEmulator, user_id: int, rng: random.Random, phase: Phase,
                 reply_timeout: float, weigh: Weigh = diana_weight) -> None:  # fmt: skip
        self.emulator = emulator
        self.user_id = user_id
        self.rng = rng
        self.phase = phase
        self.reply_timeout = reply_timeout
        self.weigh = weigh
        self.profile: dict[str, Any] = {"first_name": f"Bench {user_id}", "language_code": "es"}
        self.screen: dict[str, Any] | None = None

    async def step(self) -> None:
        choice = self._next_button()
        if choice is None:
            await self._say("/start" if self.screen is None else "/diana", "command")
        elif choice == "text":
            await self._say("Hola Diana, ¿sigues ahí?", "text")
        else:
            await self._press(choice)

    def _next_button(self) -> str | None:
        if self.screen is None:
            return None
        roll = self.rng.random()
        if roll < 0.08:
            return None  # /diana: the menu as a new message
        if roll < 0.12:
            return "text"
        options: list[str] = []
        weights: list[int] = []
        for row in self.screen.get("buttons") or []:
            for button in row:
                data = str(button.get("callback_data") or "")
                weight = self.weigh(data)
                if weight:
                    options.append(data)
                    weights.append(weight)
        return self.rng.choices(options, weights)[0] if options else None

    async def _say(self, text: str, kind: str) -> None:
        reply = self.emulator.expect(self.user_id, lambda entry: entry["kind"] == "bot_message")
        await self.emulator.user_sends_text(self.user_id, text, **self.profile)
        await self._record(kind, reply)

    async def _press(self, callback_data: str) -> None:
        assert self.screen is not None
        message_id = self.screen["message_id"]
        query: dict[str, str] = {}

        def answered(entry: dict[str, Any]) -> bool:
            if entry["kind"] == "callback_answer":
                # An answer with a text is the reply (a locked way, say: the screen stays); without one, the edit follows.
                return entry["callback_query_id"] == query.get("id") and bool(entry.get("text"))
            # A screen is sent anew (text, or media with its buttons: a photo, a voice note) or edited in place.
            return bool(
                entry["kind"] == "bot_message"
                or (entry["kind"] in MEDIA_SCREENS and entry.get("buttons"))
                or (entry["kind"] in ("bot_edit", "bot_edit_media") and entry["message_id"] == message_id)
            )

        reply = self.emulator.expect(self.user_id, answered)
        pressed = await self.emulator.user_presses(self.user_id, message_id=message_id, callback_data=callback_data,
                                                   **self.profile)  # fmt: skip
        query["id"] = pressed["callback_query_id"]
        await self._record("press", reply)

    async def _record(self, kind: str, reply: asyncio.Future[dict[str, Any]]) -> None:
        chat = self.emulator.chats[self.user_id]
        sent_at = next(e["at"] for e in reversed(chat.transcript) if e["kind"] in ("user_message", "user_press"))
        try:
            entry = await asyncio.wait_for(reply, self.reply_timeout)
        except TimeoutError:
            self.emulator.forget(self.user_id)
            self.phase.samples.append(Sample(kind, sent_at, None, "timeout"))
            self.screen = None  # start over from /start, as a person would
            return
        if entry.get("text") in REFUSALS:
            self.phase.samples.append(Sample(kind, sent_at, None, "refused"))
            return
        self.phase.samples.append(Sample(kind, sent_at, entry["at"] - sent_at))
        if entry.get("buttons"):
            self.screen = entry


async def run_users(phase: Phase, user_ids: list[int], act: Callable[[int, float], Awaitable[None]],
                    duration: float, ramp: float) -> None:  # fmt: skip
    """Start the users evenly over ``ramp`` seconds; each acts until ``duration`` has passed."""
    phase.started = time.time()
    phase.ramp = ramp
    deadline = phase.started + duration

    async def user(index: int, user_id: int) -> None:
        await asyncio.sleep(ramp * index / max(len(user_ids), 1))
        await act(user_id, deadline)

    await asyncio.gather(*(user(i, uid) for i, uid in enumerate(user_ids)))
    phase.ended = time.time()


def think_time(rng: random.Random, mean: float) -> float:
    return rng.uniform(0.5 * mean, 1.5 * mean)


# Processes -----------------------------------------------------------------------------------------------


@dataclass
class Processes:
    folder: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = process
        return process

    async def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)

    def alive(self, name: str) -> None:
        process = self.running[name]
        if process.poll() is not None:
            tail = (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"the {name} process exited ({process.returncode}):\n{tail}")


def diana_environment(settings: Settings, emulator: BotAPIEmulator, mode: str,
                      task_queue: str = TASK_QUEUE) -> dict[str, str]:  # fmt: skip
    """The bot's and the worker's configuration, as tests/test_end_to_end.py's ``bot_environment`` builds it."""
    env = {key: value for key, value in os.environ.items() if key != "TELEGRAM_BOT_TOKEN"}
    env.update(
        TELEGRAM_API_BASE=emulator.base_url,
        TEMPORAL_ADDRESS=settings.temporal_target,
        TEMPORAL_TASK_QUEUE=task_queue,
        DATABASE_URL=settings.postgres_dsn,
        REDIS_URL=settings.redis_dsn,
        DIANA_DATA_DIR=str(settings.data_dir),
        # Its own master key (the run's data folder): payloads are encrypted as in production.
        DIANA_MASTER_KEY=embedded_master_key(settings.data_dir),
        BOT_HEALTH_PORT=str(stack.free_port()),
        WORKER_HEALTH_PORT=str(stack.free_port()),
        CODEC_PORT=str(stack.free_port()),
        BOT_MODE=mode,
        PYTHONUNBUFFERED="1",
    )
    if mode == "webhook":
        port = stack.free_port()
        env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook", WEBHOOK_LISTEN_PORT=str(port),
                   WEBHOOK_SECRET=f"bench-{os.getpid()}")  # fmt: skip
    return env


# The phases ----------------------------------------------------------------------------------------------


async def start_floor_worker(settings: Settings, processes: Processes) -> Client:
    """A fresh floor worker process (each floor phase its own: its memory and CPU are the phase's), polling."""
    processes.start("floor-worker", [sys.executable, "-m", "benchmarks.floor", "--address", settings.temporal_target,
                                     "--task-queue", FLOOR_TASK_QUEUE], dict(os.environ))  # fmt: skip
    client = await Client.connect(settings.temporal_target)
    # Warm up: the worker is polling once one Update round-trips.
    await asyncio.wait_for(floor.touch(client, FLOOR_TASK_QUEUE, FLOOR_USERS - 1, f"warm-up-{time.time()}"), 60)
    return client


async def floor_phase(args: argparse.Namespace, settings: Settings, processes: Processes) -> dict[str, Any]:
    client = await start_floor_worker(settings, processes)
    phase = Phase("floor", args.users)
    rng = random.Random(args.seed)

    async def act(user_id: int, deadline: float) -> None:
        done = 0
        while time.time() < deadline:
            started = time.time()
            try:
                await asyncio.wait_for(floor.touch(client, FLOOR_TASK_QUEUE, user_id, f"{user_id}-{done}"),
                                       args.reply_timeout)  # fmt: skip
                phase.samples.append(Sample("update", started, time.time() - started))
            except Exception as error:  # any failure is an error of the run, counted
                phase.samples.append(Sample("update", started, None, type(error).__name__))
            done += 1
            await asyncio.sleep(think_time(rng, args.think))

    before = cpu_by_component(settings, processes)
    await run_users(phase, [FLOOR_USERS + i for i in range(args.users)], act, args.duration, args.ramp)
    cpu = cpu_per_interaction(before, cpu_by_component(settings, processes), phase)
    memory = memory_kib(processes.running["floor-worker"].pid)
    await processes.stop("floor-worker")
    return {**phase.figures(), "worker_peak_mib": _mib(memory.get("VmHWM")), "cpu_ms_per_interaction": cpu}


async def architecture_floor_phase(args: argparse.Namespace, settings: Settings, emulator: TimedEmulator,
                                   processes: Processes) -> dict[str, Any]:  # fmt: skip
    """The trivial bot on the floor's workflow, reached through the emulator as Diana is; both processes stopped after."""
    await start_floor_worker(settings, processes)
    env = diana_environment(settings, emulator, args.mode, task_queue=FLOOR_TASK_QUEUE)
    processes.start("echo-bot", [sys.executable, "-m", "benchmarks.echo_bot"], env)
    try:
        await wait_until_bot_answers(emulator, processes, ARCHITECTURE_FLOOR_USERS - 1, bot="echo-bot",
                                     worker="floor-worker")  # fmt: skip
        user_ids = [ARCHITECTURE_FLOOR_USERS + i for i in range(args.users)]
        phase, figures = await chat_phase(args, settings, emulator, processes, "architecture floor", user_ids,
                                          architecture_floor_weight, bot="echo-bot", worker="floor-worker")  # fmt: skip
    finally:
        await processes.stop("echo-bot")
        await processes.stop("floor-worker")
        # Updates the floor's bot never took (a timed-out user's, a late warm-up's) are not Diana's to answer.
        await emulator.drop_webhook()
    return {**phase.figures(), **figures}


async def diana_phase(args: argparse.Namespace, settings: Settings, emulator: TimedEmulator, processes: Processes,
                      user_ids: list[int]) -> tuple[Phase, dict[str, Any]]:  # fmt: skip
    return await chat_phase(args, settings, emulator, processes, "diana", user_ids, diana_weight, bot="bot",
                            worker="worker", profile=True)  # fmt: skip


async def chat_phase(args: argparse.Namespace, settings: Settings, emulator: TimedEmulator, processes: Processes,
                     name: str, user_ids: list[int], weigh: Weigh, *, bot: str, worker: str,
                     profile: bool = False) -> tuple[Phase, dict[str, Any]]:  # fmt: skip
    """Users chatting with the bot process ``bot`` (its workflows on ``worker``) through the emulator."""
    phase = Phase(name, len(user_ids))
    # The same draws in every phase that chats (each user's own generator, and the think times).
    rng = random.Random(args.seed + 1)

    async def act(user_id: int, deadline: float) -> None:
        user = Wanderer(emulator, user_id, random.Random(rng.random()), phase, args.reply_timeout, weigh)
        while time.time() < deadline:
            await user.step()
            await asyncio.sleep(think_time(rng, args.think))

    profilers = start_profilers(args, processes) if profile else []
    before = cpu_by_component(settings, processes)
    calls_before = len(emulator.calls)
    await run_users(phase, user_ids, act, args.duration, args.ramp)
    cpu = cpu_per_interaction(before, cpu_by_component(settings, processes), phase)
    calls = Counter(call["method"] for call in emulator.calls[calls_before:])
    bot_api = {method: round(count / max(len(phase.samples), 1), 2) for method, count in calls.most_common()}
    for profiler in profilers:
        await asyncio.to_thread(profiler.wait)
    memory = {part: memory_kib(processes.running[process].pid) for part, process in (("worker", worker), ("bot", bot))}
    return phase, {"worker_peak_mib": _mib(memory["worker"].get("VmHWM")),
                   "bot_peak_mib": _mib(memory["bot"].get("VmHWM")), "cpu_ms_per_interaction": cpu,
                   "bot_api_calls_per_interaction": bot_api}  # fmt: skip


def start_profilers(args: argparse.Namespace, processes: Processes) -> list[subprocess.Popen[bytes]]:
    """``--profile DIR``: py-spy samples the worker and the bot for the whole phase (collapsed stacks)."""
    if not args.profile:
        return []
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args.profile.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(processes.running[name].pid),
                "--duration",
                str(int(args.duration + args.ramp)),
                "--rate",
                "50",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(args.profile / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name in ("worker", "bot")
    ]


async def journey_figures(client: Client, user_ids: list[int]) -> dict[str, Any]:
    """What a journey weighs after the run: state JSON, history, and Temporal's work per interaction."""
    sizes, pending, lengths, history_bytes = [], [], [], []
    for user_id in user_ids[:STATE_SAMPLE]:
        handle = client.get_workflow_handle(journey_id(user_id))
        with contextlib.suppress(Exception):
            state: JourneyState = await handle.query(JourneyWorkflow.current_state)
            sizes.append(len(state.model_dump_json()))
            pending.append(len(state.pending_effects))
            description = await handle.describe()
            lengths.append(description.history_length)
            history_bytes.append(description.raw_info.history_size_bytes)
    events: Counter[str] = Counter()
    sampled_bytes = 0
    for user_id in user_ids[:HISTORY_SAMPLE]:
        handle = client.get_workflow_handle(journey_id(user_id))
        with contextlib.suppress(Exception):
            sampled_bytes += (await handle.describe()).raw_info.history_size_bytes
            async for event in handle.fetch_history_events():
                events[event.WhichOneof("attributes") or ""] += 1
    updates = events["workflow_execution_update_completed_event_attributes"] or 1
    by_type = {
        name.removesuffix("_event_attributes"): round(count / updates, 2) for name, count in events.most_common()
    }
    return {
        "state_json_bytes_median": _median(sizes),
        "state_json_bytes_max": max(sizes, default=None),
        "pending_effects_at_end_median": _median(pending),
        "history_events_median": _median(lengths),
        "history_bytes_median": _median(history_bytes),
        "per_interaction": {
            "history_events": round(sum(events.values()) / updates, 1),
            "workflow_tasks": round(events["workflow_task_completed_event_attributes"] / updates, 2),
            "activities": round(events["activity_task_scheduled_event_attributes"] / updates, 2),
            "history_bytes": round(sampled_bytes / updates),
            "events_by_type": by_type,
        },
        "sampled_journeys": len(sizes),
    }


def _median(values: list[int]) -> int | None:
    return sorted(values)[len(values) // 2] if values else None


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


# Opening many journeys (--scale) -------------------------------------------------------------------------


async def open_journeys(client: Client, settings: Settings, count: int, concurrency: int,
                        budget: float) -> dict[str, Any]:  # fmt: skip
    """Open ``count`` journeys as a first /start would (update-with-start), ``concurrency`` at a time, within ``budget`` s."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        version = await active_version(conn)
    finally:
        await conn.close()
    started = time.time()
    deadline = started + budget
    ids = iter(range(IDLE_USERS, IDLE_USERS + count))
    opened = failed = 0

    async def opener() -> None:
        nonlocal opened, failed
        for user_id in ids:
            if time.time() > deadline:
                return
            request = JourneyRequest(update_id=1, user_id=user_id, kind="start", text="/start", content_version=version,
                                     profile=TelegramProfile(user_id=user_id, first_name=f"Idle {user_id}",
                                                             language_code="es"))  # fmt: skip
            start = WithStartWorkflowOperation(JourneyWorkflow.run, JourneyInput(user_id=user_id),
                                               id=journey_id(user_id), task_queue=TASK_QUEUE,
                                               id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)  # fmt: skip
            try:
                await client.execute_update_with_start_workflow(
                    INTERACT, request, start_workflow_operation=start,
                    id=telegram_update_id(request),
                )  # fmt: skip
                opened += 1
            except Exception:  # counted; the run goes on
                failed += 1
            if opened and opened % 5000 == 0:
                print(f"  {opened:,} journeys open ({opened / (time.time() - started):.0f}/s)", flush=True)

    await asyncio.gather(*(opener() for _ in range(concurrency)))
    seconds = time.time() - started
    return {"requested": count, "opened": opened, "failed": failed, "seconds": round(seconds, 1),
            "per_second": round(opened / seconds, 1)}  # fmt: skip


# The run -------------------------------------------------------------------------------------------------


async def wait_until_bot_answers(emulator: TimedEmulator, processes: Processes, user_id: int = DIANA_USERS - 1, *,
                                 bot: str = "bot", worker: str = "worker") -> None:  # fmt: skip
    """A warm-up user's /start is answered: bot, worker and content are ready."""
    for _ in range(60):
        processes.alive(bot)
        processes.alive(worker)
        reply = emulator.expect(user_id, lambda entry: entry["kind"] == "bot_message")
        await emulator.user_sends_text(user_id, "/start", first_name="Warm-up")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reply, 5)
            return
    raise SystemExit("the bot did not answer /start within 5 minutes")


async def bench(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    processes = Processes(settings.data_dir)
    emulator = TimedEmulator()
    result: dict[str, Any] = {
        "command": "python -m benchmarks.load " + " ".join(sys.argv[1:]),
        "users": args.users, "duration_s": args.duration, "think_s": args.think, "ramp_s": args.ramp, "mode": args.mode,
        "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "temporal_dynamic_config": args.temporal_arg, "sqlite_pragmas": args.sqlite_pragma,
    }  # fmt: skip
    try:
        if not args.no_floor:
            print(f"engine floor: {args.users} users, {args.duration:g} s ...", flush=True)
            result["floor"] = await floor_phase(args, settings, processes)
        await emulator.start()
        if not args.no_architecture_floor:
            print(f"architecture floor: {args.users} users, {args.duration:g} s ...", flush=True)
            result["architecture_floor"] = await architecture_floor_phase(args, settings, emulator, processes)
        env = diana_environment(settings, emulator, args.mode)
        processes.start("worker", [sys.executable, "-m", "tools.cli", "worker"], env)
        processes.start("bot", [sys.executable, "-m", "tools.cli", "bot"], env)
        await wait_until_bot_answers(emulator, processes)
        # Reads and opens journeys as Diana does: encrypted under the run's master key.
        keys = PayloadKeys(master_keys(settings), settings.postgres_dsn)
        client = await Client.connect(settings.temporal_target, data_converter=encrypted_data_converter(keys))
        user_ids = [DIANA_USERS + i for i in range(args.users)]
        if args.scale:
            worker_pid = processes.running["worker"].pid
            scale: dict[str, Any] = {"worker_rss_before_mib": _mib(memory_kib(worker_pid).get("VmRSS"))}
            print(f"opening {args.scale:,} journeys ...", flush=True)
            scale.update(await open_journeys(client, settings, args.scale, args.scale_concurrency, args.scale_budget))
            await asyncio.sleep(10)  # let the last effects settle before weighing the idle worker
            scale["worker_rss_idle_mib"] = _mib(memory_kib(worker_pid).get("VmRSS"))
            # Half the active users come back to a journey opened idle (likely evicted from the worker's cache).
            returning = [IDLE_USERS + i for i in random.Random(args.seed).sample(range(scale["opened"]),
                                                                                  min(args.users // 2, scale["opened"]))]  # fmt: skip
            user_ids = returning + user_ids[len(returning) :]
            result["scale"] = scale
        print(f"Diana: {len(user_ids)} users, {args.duration:g} s ...", flush=True)
        phase, memory = await diana_phase(args, settings, emulator, processes, user_ids)
        result["diana"] = {**phase.figures(), **memory}
        if args.samples:
            args.samples.write_text(
                "\n".join(json.dumps([s.kind, s.started, s.latency, s.error]) for s in phase.samples)
            )
        if args.scale:
            result["scale"]["worker_rss_after_active_mib"] = _mib(
                memory_kib(processes.running["worker"].pid).get("VmRSS")
            )
        result["journeys"] = await journey_figures(client, user_ids[len(user_ids) // 2 :])
    finally:
        for name in list(processes.running):
            await processes.stop(name)
        await emulator.stop()
    if "floor" in result:
        diana, engine = result["diana"], result["floor"]
        result["vs_floor"] = _ratios(diana, engine)
        result["vs_floor_after_arrival"] = _ratios(diana["after_arrival"], engine["after_arrival"])
    if "architecture_floor" in result:
        diana, architecture = result["diana"], result["architecture_floor"]
        result["vs_architecture_floor"] = _ratios(diana, architecture)
        result["vs_architecture_floor_after_arrival"] = _ratios(diana["after_arrival"], architecture["after_arrival"])
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def _ratios(diana: dict[str, Any], engine: dict[str, Any]) -> dict[str, float | None]:
    return {
        "throughput_ratio": round(diana["per_second"] / engine["per_second"], 2) if engine["per_second"] else None,
        "p95_ratio": round(diana["p95_ms"] / engine["p95_ms"], 2) if diana["p95_ms"] and engine["p95_ms"] else None,
    }


def print_table(result: dict[str, Any]) -> None:
    rows = [("", "Diana", "arch. floor", "engine floor")]
    diana, architecture, engine = result["diana"], result.get("architecture_floor", {}), result.get("floor", {})
    for label, key in (("update→reply p50 ms", "p50_ms"), ("update→reply p95 ms", "p95_ms"),
                       ("update→reply p99 ms", "p99_ms"), ("max ms", "max_ms"), ("interactions/s", "per_second"),
                       ("interactions", "interactions"), ("error rate", "error_rate"),
                       ("worker peak MiB", "worker_peak_mib"), ("bot peak MiB", "bot_peak_mib")):  # fmt: skip
        rows.append((label, _cell(diana.get(key)), _cell(architecture.get(key)), _cell(engine.get(key))))
    for label, key in (("after arrival: p50 ms", "p50_ms"), ("after arrival: p95 ms", "p95_ms"),
                       ("after arrival: p99 ms", "p99_ms"), ("after arrival: per s", "per_second"),
                       ("after arrival: error rate", "error_rate")):  # fmt: skip
        rows.append((label, _cell(diana["after_arrival"].get(key)),
                     _cell(architecture.get("after_arrival", {}).get(key)),
                     _cell(engine.get("after_arrival", {}).get(key))))  # fmt: skip
    # A ratio sits in Diana's column; the engine floor's targets beside it.
    for key, name, throughput_target, p95_target in (
        ("vs_architecture_floor", "arch. floor", "", ""),
        ("vs_floor", "engine floor", "target ≥ 0.7", "target ≤ 1.5"),
    ):
        if key in result:
            ratio, settled = result[key], result[f"{key}_after_arrival"]
            rows.append((f"Diana / {name}: throughput", _cell(ratio["throughput_ratio"]), "", throughput_target))
            rows.append((f"Diana / {name}: p95", _cell(ratio["p95_ratio"]), "", p95_target))
            rows.append(("  after arrival: throughput", _cell(settled["throughput_ratio"]), "", throughput_target))
            rows.append(("  after arrival: p95", _cell(settled["p95_ratio"]), "", p95_target))
    print(f"\n{result['users']} users ({result['mode']}), {result['duration_s']:g} s, think {result['think_s']:g} s, "
          f"ramp {result['ramp_s']:g} s, {result['cpus']} CPUs (load average before: {result['load_average_before']})")  # fmt: skip
    for label, left, middle, right in rows:
        print(f"{label:<34} {left:>12} {middle:>12} {right:>14}")
    for name, figures in (("Diana", diana), ("architecture floor", architecture), ("engine floor", engine)):
        if figures.get("cpu_ms_per_interaction"):
            parts = ", ".join(f"{part} {ms}" for part, ms in figures["cpu_ms_per_interaction"].items())
            print(f"CPU ms per interaction, {name}: {parts}")
    for name, figures in (("Diana", diana), ("architecture floor", architecture)):
        if figures.get("bot_api_calls_per_interaction"):
            parts = ", ".join(f"{method} {n}" for method, n in figures["bot_api_calls_per_interaction"].items())
            print(f"Bot API calls per interaction, {name}: {parts}")
    journeys = result.get("journeys", {})
    if journeys:
        per = journeys["per_interaction"]
        print(f"journey state JSON: median {journeys['state_json_bytes_median']} B, max {journeys['state_json_bytes_max']} B; "
              f"history: median {journeys['history_events_median']} events, {journeys['history_bytes_median']} B; "
              f"per interaction: {per['history_events']} events, {per['workflow_tasks']} workflow tasks, "
              f"{per['activities']} activities; pending effects at the end (median): "
              f"{journeys['pending_effects_at_end_median']}")  # fmt: skip
    if "scale" in result:
        scale = result["scale"]
        print(f"scale: {scale['opened']:,} of {scale['requested']:,} journeys opened in {scale['seconds']} s "
              f"({scale['per_second']}/s, {scale['failed']} failed); worker RSS {scale['worker_rss_before_mib']} MiB "
              f"before, {scale['worker_rss_idle_mib']} MiB with them idle, {scale.get('worker_rss_after_active_mib')} MiB "
              "after the active users")  # fmt: skip


def _cell(value: Any) -> str:
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


@contextlib.contextmanager
def servers(args: argparse.Namespace) -> Iterator[Settings]:
    """Temporal (SQLite file, as ``diana up``), Postgres and Redis on free ports in a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="diana-bench-"))
    settings = Settings(_env_file=None, DIANA_DATA_DIR=folder, DIANA_TEMPORAL_PORT=stack.free_port(),
                        DIANA_TEMPORAL_UI_PORT=stack.free_port(), DIANA_POSTGRES_PORT=stack.free_port(),
                        DIANA_REDIS_PORT=stack.free_port())  # fmt: skip
    try:
        extra = [arg for value in args.temporal_arg for arg in ("--dynamic-config-value", value)]
        extra += [arg for value in args.sqlite_pragma for arg in ("--sqlite-pragma", value)]
        stack.start_temporal(settings, extra_args=extra)
        stack.start_postgres(settings)
        stack.start_redis(settings)
        yield settings
    finally:
        stack.down(settings)
        if args.keep:
            print(f"kept {folder} (servers' data and the processes' logs)")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--users", type=int, default=1000, help="emulated users at once (default 1000)")
    parser.add_argument("--duration", type=float, default=60, help="seconds each phase runs (the seed: 300)")
    parser.add_argument("--think", type=float, default=5.0,
                        help="mean seconds a user waits between a reply and the next tap (uniform ±50%%; default 5)")  # fmt: skip
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the users arrive (default 10)")
    parser.add_argument("--reply-timeout", type=float, default=30.0, help="a reply later than this is an error")
    parser.add_argument("--mode", choices=("webhook", "polling"), default="webhook",
                        help="how the bot takes updates (default webhook, as deployed)")  # fmt: skip
    parser.add_argument("--no-floor", action="store_true", help="skip the engine floor phase")
    parser.add_argument("--no-architecture-floor", action="store_true", help="skip the architecture floor phase")
    parser.add_argument("--scale", type=int, default=0, help="first open this many idle journeys (e.g. 100000)")
    parser.add_argument("--scale-concurrency", type=int, default=64, help="journeys opened at once (default 64)")
    parser.add_argument("--scale-budget", type=float, default=900.0, help="stop opening after this many seconds")
    parser.add_argument("--temporal-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="a dynamic config value for the Temporal dev server (repeatable)")  # fmt: skip
    parser.add_argument("--sqlite-pragma", action="append", default=[], metavar="PRAGMA=VALUE",
                        help="a pragma for the dev server's SQLite file, e.g. synchronous=NORMAL (repeatable)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    parser.add_argument("--samples", type=Path, help="write every Diana interaction (kind, start, latency) here")
    parser.add_argument("--profile", type=Path, help="py-spy the worker and the bot into this folder (raw stacks)")
    parser.add_argument("--seed", type=int, default=6, help="random seed of the users' choices")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (data, logs)")
    args = parser.parse_args(argv)
    with servers(args) as settings:
        result = asyncio.run(bench(args, settings))
    print_table(result)
    line = json.dumps(result, ensure_ascii=False)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
