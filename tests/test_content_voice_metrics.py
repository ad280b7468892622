"""The worker's watch on Diana's character in the active content: the metrics an alert rule reads."""

from __future__ import annotations

import asyncio

import asyncpg

from infra.telemetry import CONTENT_VOICE_BELOW_BAR, CONTENT_VOICE_LOWEST
from tests.helpers import eventually, shipped_content
from worker.content_library import ContentLibrary
from worker.telemetry import watch_content_voice
from workflows.consistency import score_text, texts_to_score


async def test_the_worker_exports_the_active_contents_lowest_score_and_texts_below_the_bar(
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    CONTENT_VOICE_LOWEST.set(-1)
    CONTENT_VOICE_BELOW_BAR.set(-1)
    watching = asyncio.create_task(watch_content_voice(pool, ContentLibrary(pool), every=0.05))
    try:
        await eventually(lambda: _async(CONTENT_VOICE_LOWEST._value.get() >= 0), within=60)
    finally:
        watching.cancel()
    lowest = min(score_text(text, lang).total for _, text, lang in texts_to_score(shipped_content()))
    assert CONTENT_VOICE_LOWEST._value.get() == lowest >= 90
    assert CONTENT_VOICE_BELOW_BAR._value.get() == 0


async def _async(value: bool) -> bool:
    return value
