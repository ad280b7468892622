"""Connections to the servers, built the same way by every process (bot, worker, CLI, tests)."""

from __future__ import annotations

import logging
from functools import cache

import asyncpg
from redis.asyncio import Redis
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode

from infra.settings import Settings
from infra.telemetry import TEMPORAL_METRICS, UpdateTracingInterceptor
from workflows.search_attributes import REGISTRATION


@cache
def temporal_runtime() -> Runtime:
    """The SDK core's own logs go through Python logging (not straight to stderr, over the terminal chat).

    Its metrics go to a buffer drained into the process's Prometheus registry (``infra.telemetry``),
    served on ``/metrics`` with Diana's own: one endpoint per process, no second port.
    """
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
    )
    return Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=TEMPORAL_METRICS.buffer))


async def connect_temporal(settings: Settings) -> Client:
    """The client; its tracing interceptor also applies to the workers built on it (spans per update, activity)."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=temporal_runtime(),
        interceptors=[UpdateTracingInterceptor()],
    )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
    assert pool is not None
    return pool


def create_redis(dsn: str) -> Redis:
    """A Redis client that fails fast: leaderboards and rate limits degrade, they never hang a reply."""
    return Redis.from_url(dsn, socket_connect_timeout=2, socket_timeout=2, decode_responses=True)


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the journey's search attributes where missing; returns the names it added.

    Upserting an unregistered attribute fails the workflow task, so the worker makes sure they
    exist on any server it is pointed at (an embedded one already running, or an external one).
    """
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
        for name, kind in REGISTRATION.items()
        if name not in known
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as error:
            if error.status != RPCStatusCode.ALREADY_EXISTS:  # another worker won the race
                raise
    return sorted(missing)
