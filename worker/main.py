"""Run the journey worker until SIGINT/SIGTERM, then finish in-flight tasks and stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from adapters.telegram import create_bot
from infra.connections import (
    SearchAttributesUnusable,
    connect_temporal,
    create_pool,
    create_redis,
    ensure_retention,
    ensure_search_attributes,
)
from infra.health import HealthServer, readiness_checks
from infra.payload_codec import JourneyCodec
from infra.settings import DRAIN_SECONDS, Settings
from worker import journey_worker_options
from worker.codec_server import CodecServer
from worker.content_library import ContentLibrary
from worker.housekeeping import keep_tidy
from worker.telemetry import ActivityFailures, watch_content_voice

log = logging.getLogger("diana.worker")


def build_worker(client: Client, task_queue: str, options: dict[str, Any]) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        **{**options, "interceptors": [*options["interceptors"], ActivityFailures()]},
        # Journeys are long-lived and mostly idle: keep many cached, since a journey evicted from the cache is
        # replayed from its history on its next update (~80-400 ms for 30-400 events). A cached journey holds
        # ~0.14 MiB (`benchmarks.load --scale`: 10,000 cached idle journeys took 1.4 GiB; the content is shared).
        max_cached_workflows=10_000,
        # On SIGTERM the activities in hand may finish (a message being sent, a 429 being waited out): one
        # cancelled halfway would be retried by the next worker, and a message Telegram took could go twice.
        graceful_shutdown_timeout=timedelta(seconds=DRAIN_SECONDS),  # as the bot's
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect_temporal(settings)
    try:
        added = await ensure_search_attributes(client, settings.temporal_namespace,
                                               register=settings.temporal_register_search_attributes)  # fmt: skip
    except SearchAttributesUnusable as unusable:
        raise SystemExit(str(unusable)) from unusable
    if added:
        log.info("search attributes %s were missing and are now registered", ", ".join(added))
    await ensure_retention(client, settings.temporal_namespace, settings.temporal_retention_days)
    pool = await create_pool(settings.postgres_dsn)
    redis = create_redis(settings.redis_dsn)
    bot = create_bot(settings)
    health = HealthServer(service="worker", host=settings.health_listen_host, port=settings.worker_health_port,
                          checks=readiness_checks(client, pool, redis))  # fmt: skip
    await health.start()
    codec = client.data_converter.payload_codec
    assert isinstance(codec, JourneyCodec)
    codec_server = CodecServer(codec, settings.temporal_namespace, host=settings.codec_listen_host,
                               port=settings.codec_port, origins=settings.codec_cors_origins)  # fmt: skip
    await codec_server.start()
    library = ContentLibrary(pool)  # the journeys' and the character watch's: each version parsed once
    try:
        worker = build_worker(
            client,
            settings.temporal_task_queue,
            journey_worker_options(
                pool,
                redis,
                bot,
                vip_channel_id=settings.vip_channel_id,
                sandboxed=settings.workflow_sandbox,
                media_dir=settings.media_dir,
                library=library,
                admin_ids=settings.admin_ids,
            ),  # fmt: skip
        )
        voice = asyncio.create_task(watch_content_voice(pool, library))
        tidying = asyncio.create_task(keep_tidy(pool))
        try:
            async with worker:
                log.info("worker polling task queue %s on %s", settings.temporal_task_queue, settings.temporal_target)
                await stop.wait()
        finally:
            voice.cancel()
            tidying.cancel()
    finally:
        await codec_server.stop()
        await health.stop()
        await bot.session.close()
        await redis.aclose()
        await pool.close()
