"""The content versions a worker's journeys play, parsed once and shared by every journey it holds.

A stored content version never changes, so a journey may read version N from its worker's memory and
replay with the same N forever. Read here instead of passed in through an activity, a version costs no
history (44 KB each) and one parsed copy per worker, not one per cached journey.

Journeys reach the library through the sandbox's extern functions, installed by a worker interceptor.
A version not yet in memory is read from Postgres on the worker's event loop while the workflow task that
asked waits in its own thread; if Postgres does not answer in time, that workflow task fails without
recording anything and Temporal retries it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Final

import asyncpg
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Interceptor, WorkflowInboundInterceptor, WorkflowInterceptorClassInput

from workflows.content import Content, ContentNotReadable
from workflows.contracts import JourneyError
from workflows.journey import CONTENT_OF

# Workflow tasks are deadlocked after 2 s: give up on Postgres well before that.
FETCH_TIMEOUT_SECONDS: Final = 1.0
log = logging.getLogger("diana.worker")


class ContentLibrary:
    def __init__(self, pool: asyncpg.Pool | None) -> None:
        self.pool = pool
        self._versions: dict[int, Content] = {}
        # Versions it can never read (gone after a restore, refused by today's schema), and why: asked once.
        self._unreadable: dict[int, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def put(self, version: int, content: Content) -> None:
        self._versions[version] = content

    async def load(self, version: int) -> Content:
        """Version ``version``, from memory or else from Postgres (an unknown version is refused for good)."""
        content = self._versions.get(version)
        if content is not None:
            return content
        if version in self._unreadable:
            raise _unavailable(self._unreadable[version])
        if self.pool is None:
            raise self._never(version, f"content version {version} is not in this library")
        document = await self.pool.fetchval("SELECT document FROM content_versions WHERE version = $1", version)
        if document is None:
            raise self._never(version, f"content version {version} does not exist")
        try:
            parsed = Content.model_validate_json(document)
        except ValidationError as refused:
            raise self._never(version, f"content version {version} is refused by this code: {refused.error_count()} "
                                       "problems") from None  # fmt: skip
        content = self._versions.setdefault(version, parsed)
        log.info("content version %s loaded", version)
        return content

    def _never(self, version: int, why: str) -> ApplicationError:
        log.error("%s: journeys asking for it are refused as unavailable", why)
        self._unreadable[version] = why
        return _unavailable(why)

    def loaded(self) -> set[int]:
        return set(self._versions)

    def content_of(self, version: int) -> Content:
        """For journeys, from their workflow task's thread: blocks that task only, and only the first time."""
        content = self._versions.get(version)
        if content is not None:
            return content
        loop = self._loop
        if version in self._unreadable:
            raise _unavailable(self._unreadable[version])
        if loop is None or _running_loop() is loop:
            raise ContentNotReadable(f"content version {version} is not loaded and cannot be fetched from here")
        future = asyncio.run_coroutine_threadsafe(self.load(version), loop)
        try:
            return future.result(timeout=FETCH_TIMEOUT_SECONDS)
        except (concurrent.futures.TimeoutError, OSError, asyncpg.PostgresError) as failure:
            future.cancel()
            log.warning("content version %s not loaded, the workflow task will be retried: %s", version, failure)
            raise ContentNotReadable(f"content version {version} could not be loaded: {failure}") from None

    def interceptor(self) -> Interceptor:
        """Give the worker's (or a Replayer's) journeys this library."""
        return _ContentLibraryInterceptor(self)

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop


class _ContentLibraryInterceptor(Interceptor):
    def __init__(self, library: ContentLibrary) -> None:
        self.library = library

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        # Called once by the worker (or Replayer) as it is built, on its event loop.
        loop = _running_loop()
        if loop is not None:
            self.library._attach(loop)
        input.unsafe_extern_functions[CONTENT_OF] = self.library.content_of
        return None


def _unavailable(why: str) -> ApplicationError:
    return ApplicationError(why, type=JourneyError.CONTENT_UNAVAILABLE, non_retryable=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
