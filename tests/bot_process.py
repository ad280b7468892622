"""The real bot as its own process (``diana bot``), started with the settings a test needs."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers import eventually
from tests.telegram import EmulatedUser
from tests.test_end_to_end import bot_environment, start_bot, stop_bot
from tools.emulator import BotAPIEmulator


class BotProcesses:
    """Starts bots against the test's emulator and Temporal; whatever still runs at the end is stopped."""

    def __init__(self, emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str) -> None:
        self.emulator = emulator
        self.temporal_env = temporal_env
        self.task_queue = task_queue
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, database: str, redis: str, **extra: str) -> subprocess.Popen[bytes]:
        env = bot_environment(self.emulator, self.temporal_env, self.task_queue, database, redis, **extra)
        process = start_bot(env)
        self.started.append(process)
        return process

    async def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no shutdown hook, nothing finished, nothing confirmed."""
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 15)

    async def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                await stop_bot(process)


@pytest.fixture(name="bots")
async def bots_fixture(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[BotProcesses]:
    processes = BotProcesses(emulator, temporal_env, task_queue)
    try:
        yield processes
    finally:
        await processes.stop_all()


def bot_messages(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in transcript if entry["kind"] == "bot_message"]


async def messages_once(user: EmulatedUser, after: int, count: int, *, within: float = 60) -> list[dict[str, Any]]:
    """The bot's messages to ``user`` past the first ``after``, once ``count`` are there and a repeat had time to show."""

    async def arrived() -> list[dict[str, Any]]:
        messages = bot_messages(await user.transcript())[after:]
        return messages if len(messages) >= count else []

    await eventually(arrived, within=within)
    await asyncio.sleep(2)  # room for an answer given twice, were there one
    return bot_messages(await user.transcript())[after:]
