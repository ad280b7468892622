"""The worker's own metrics: failed activity attempts, by activity and error type; the active content's character.

Spans for workflows and activities come from Temporal's ``TracingInterceptor`` on the client
(``infra.connections.connect_temporal``); Temporal's SDK metrics from the runtime's metric buffer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from adapters.content_store import active_version
from infra.telemetry import ACTIVITY_FAILURES, CONTENT_VOICE_BELOW_BAR, CONTENT_VOICE_LOWEST
from worker.content_library import ContentLibrary
from workflows.consistency import PASSING_SCORE, score_text, texts_to_score
from workflows.content import Content


class ActivityFailures(Interceptor):
    """Counts each failed activity attempt in ``diana_activity_failures`` (a retried one counts each time)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountFailures(next)


class _CountFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as error:
            # ApplicationError's type is the stable name ("Undeliverable", "ProjectionRefused"); else the class.
            kind = error.type if isinstance(error, ApplicationError) and error.type else type(error).__name__
            ACTIVITY_FAILURES.labels(activity=activity.info().activity_type, kind=kind).inc()
            raise


log = logging.getLogger("diana.worker")
# How often the worker looks at which content version is active (a new one is scored once).
VOICE_CHECK_SECONDS: Final = 60.0


def _scores(content: Content) -> list[int]:
    return [score_text(text, lang).total for _, text, lang in texts_to_score(content)]


async def watch_content_voice(
    pool: asyncpg.Pool, library: ContentLibrary, *, every: float = VOICE_CHECK_SECONDS
) -> None:
    """Keep ``diana_content_voice_*`` about the active content: a version activated around the checks (straight in
    Postgres, or by an older checker) still shows here, for the alert."""
    scored = 0
    while True:
        try:
            version = await active_version(pool)
            if version and version != scored:
                content = await library.load(version)
                scores = await asyncio.to_thread(_scores, content)
                CONTENT_VOICE_LOWEST.set(min(scores, default=100))
                CONTENT_VOICE_BELOW_BAR.set(sum(score < PASSING_SCORE for score in scores))
                scored = version
        except (asyncpg.PostgresError, OSError, ApplicationError) as error:
            log.warning("content character not scored this round: %s", error)
        await asyncio.sleep(every)
