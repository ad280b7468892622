"""``/health``, ``/ready`` and ``/metrics`` of a Diana process (bot or worker), on a port of its own.

``/health`` answers 200 while the process serves at all. ``/ready`` answers 200 only when Temporal,
Postgres and Redis all answer, else 503 with a JSON body naming the parts that failed. ``/metrics`` is
the Prometheus exposition of ``infra.telemetry.REGISTRY`` (Diana's metrics and Temporal's SDK metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from infra.telemetry import REGISTRY, TEMPORAL_METRICS

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis
    from temporalio.client import Client

log = logging.getLogger("diana.health")

Check = Callable[[], Awaitable[object]]
CHECK_TIMEOUT: Final = 3.0
# Temporal's SDK metrics wait in a bounded buffer until drained.
DRAIN_EVERY: Final = 1.0


def readiness_checks(client: Client, pool: asyncpg.Pool, redis: Redis) -> dict[str, Check]:
    """What ``/ready`` asks: Temporal's health service, ``SELECT 1`` on Postgres, ``PING`` on Redis."""

    async def temporal() -> object:
        if not await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT)):
            raise ConnectionError("Temporal reports it is not serving")
        return True

    async def postgres() -> object:
        return await pool.fetchval("SELECT 1", timeout=CHECK_TIMEOUT)

    async def redis_ping() -> object:
        return await redis.ping()

    return {"temporal": temporal, "postgres": postgres, "redis": redis_ping}


class HealthServer:
    """A small aiohttp server for probes and scrapes; ``port=0`` serves nothing (metrics are still drained).

    A port already taken is logged, not fatal: the bot keeps answering users without its probes.
    """

    def __init__(self, *, service: str, host: str, port: int, checks: Mapping[str, Check]) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.checks = dict(checks)
        self._runner: web.AppRunner | None = None
        self._drain: asyncio.Task[None] | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def start(self) -> None:
        self._drain = asyncio.create_task(self._drain_temporal_metrics())
        if not self.port:
            return
        runner = web.AppRunner(self.application(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            await runner.cleanup()
            log.error("%s: no /health, /ready, /metrics: cannot listen on %s:%s (%s)", self.service, self.host,
                      self.port, error.strerror)  # fmt: skip
            return
        self._runner = runner
        log.info("%s: /health, /ready and /metrics on http://%s:%s", self.service, self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": self.service})

    async def ready(self, request: web.Request) -> web.Response:
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._check(self.checks[name]) for name in names))
        checks = dict(zip(names, outcomes, strict=True))
        failing = [name for name, outcome in checks.items() if outcome != "ok"]
        body: dict[str, object] = {"status": "unready" if failing else "ready", "service": self.service,
                                   "checks": checks}  # fmt: skip
        if failing:
            body["failing"] = failing
        return web.json_response(body, status=503 if failing else 200)

    async def metrics(self, request: web.Request) -> web.Response:
        # The format the scraper asks for (Prometheus text, or OpenMetrics).
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(REGISTRY), headers={"Content-Type": content_type})

    @staticmethod
    async def _check(check: Check) -> str:
        """``ok``, or the class of what went wrong (never its message: it may carry an address or a user)."""
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT)
        except Exception as error:
            return "timeout" if isinstance(error, TimeoutError) else type(error).__name__
        return "ok"

    @staticmethod
    async def _drain_temporal_metrics() -> None:
        while True:
            TEMPORAL_METRICS.drain()
            await asyncio.sleep(DRAIN_EVERY)
