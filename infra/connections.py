"""Connections to the servers, built the same way by every process (bot, worker, CLI, tests)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Final

import asyncpg
from redis.asyncio import Redis
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from infra.payload_codec import encrypted_data_converter
from infra.payload_keys import PayloadKeys, master_keys
from infra.settings import Settings
from infra.telemetry import TEMPORAL_METRICS, UpdateTracingInterceptor
from workflows.search_attributes import REGISTRATION

log = logging.getLogger("diana.temporal")


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
    """The client; its tracing interceptor also applies to the workers built on it (spans per update, activity).

    Every payload it sends is encrypted under its workflow's data key (``infra.payload_codec``), kept in the
    settings' Postgres under the settings' master key.
    """
    keys = PayloadKeys(master_keys(settings), settings.postgres_dsn)
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        tls=temporal_tls(settings),
        data_converter=encrypted_data_converter(keys),
        runtime=temporal_runtime(),
        interceptors=[UpdateTracingInterceptor()],
    )


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """How the client dials Temporal: plain, TLS with the system's roots, or TLS with a CA, name or client cert."""
    if not settings.temporal_uses_tls:
        return False
    config = TLSConfig(
        server_root_ca_cert=_read(settings.temporal_tls_server_ca),
        domain=settings.temporal_tls_server_name,
        client_cert=_read(settings.temporal_tls_cert),
        client_private_key=_read(settings.temporal_tls_key),
    )
    return config if config != TLSConfig() else True


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path else None


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
    assert pool is not None
    return pool


def create_redis(dsn: str) -> Redis:
    """A Redis client that fails fast: leaderboards and rate limits degrade, they never hang a reply."""
    return Redis.from_url(dsn, socket_connect_timeout=2, socket_timeout=2, decode_responses=True)


class SearchAttributesUnusable(RuntimeError):
    """The journey's search attributes are not as the worker needs them, and it cannot make them so."""


class SearchAttributesMissing(SearchAttributesUnusable):
    """The namespace lacks journey search attributes, and the worker may not (or could not) register them."""

    def __init__(self, namespace: str, missing: list[str], why: str) -> None:
        cloud = " ".join(f"--search-attribute {name}={REGISTRATION[name]}" for name in missing)
        cluster = " ".join(f"--name {name} --type {REGISTRATION[name]}" for name in missing)
        super().__init__(
            f"namespace {namespace} lacks the search attributes {', '.join(missing)}, and {why}. Register them "
            f"once, then start the worker again: on Temporal Cloud `tcld namespace search-attributes add "
            f"--namespace {namespace} {cloud}`; on a cluster `temporal operator search-attribute create "
            f"--namespace {namespace} {cluster}`."
        )
        self.missing = missing


# A server just started, or a namespace just created, answers these for a while (auto-setup creates the
# namespace after the server is up; a second worker may find the attribute mapping still being written).
_NOT_READY: Final = (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE)


async def ensure_search_attributes(client: Client, namespace: str, *, register: bool = True,
                                   patience: float = 120.0) -> list[str]:  # fmt: skip
    """Register the journey's search attributes where missing; returns the names that were missing.

    Upserting an unregistered attribute, or one of another type, fails the workflow task (every journey would
    stall), so the worker makes sure they are there, each of its type, before it takes any work. With
    ``register`` off (Temporal Cloud registers them with tcld) it only checks, and refuses to start without them.
    A namespace or server not ready yet is waited for, up to ``patience`` seconds.

    Workers starting together may all find them missing and all add them: the dev server takes a second
    registration without complaint (others answer ALREADY_EXISTS), and neither says who was first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.5
    while True:
        try:
            return await _ensure_once(client, namespace, register)
        except RPCError as error:
            if error.status not in _NOT_READY:
                raise
            if loop.time() + delay > deadline:
                raise SearchAttributesUnusable(
                    f"namespace {namespace} is not ready on Temporal after {patience:.0f} s ({error.status.name}: "
                    f"{error.message}). Is it created? `temporal operator namespace create --namespace {namespace}`"
                ) from error
            log.warning("namespace %s not ready (%s), asking again in %.1f s", namespace, error.status.name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _indexed_type(name: str) -> IndexedValueType.ValueType:
    return IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{REGISTRATION[name].upper()}")


async def _ensure_once(client: Client, namespace: str, register: bool) -> list[str]:
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    clashing = {name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").title()
                for name, kind in existing.custom_attributes.items()
                if name in REGISTRATION and kind != _indexed_type(name)}  # fmt: skip
    if clashing:
        found = ", ".join(f"{name} is {kind}, not {REGISTRATION[name]}" for name, kind in clashing.items())
        raise SearchAttributesUnusable(
            f"namespace {namespace} has journey search attributes of another type ({found}). Upserts would fail "
            f"every journey's workflow task: use another namespace, or remove them "
            f"(`temporal operator search-attribute remove --namespace {namespace} --name <name>`) and start again."
        )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = [name for name in REGISTRATION if name not in known]
    if not missing:
        return []
    if not register:
        raise SearchAttributesMissing(
            namespace, missing, "the worker is told not to (TEMPORAL_REGISTER_SEARCH_ATTRIBUTES=false)"
        )
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace, search_attributes={name: _indexed_type(name) for name in missing}
            )  # fmt: skip
        )
    except RPCError as error:
        if error.status == RPCStatusCode.ALREADY_EXISTS:  # a server that refuses a second registration
            return sorted(missing)
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            # No room left: SQL visibility has a few columns of each type (three Datetime on Postgres), and
            # adding them by hand would fail the same way.
            raise SearchAttributesUnusable(
                f"Temporal refused the journey's search attributes {', '.join(missing)} ({error.message}). On "
                f"SQL visibility each type has a few columns: free one (`temporal operator search-attribute list "
                f"--namespace {namespace}`, then `... remove --namespace {namespace} --name <unused>`, such as "
                f"CustomDatetimeField added by temporalio/auto-setup) or give Diana a namespace of its own."
            ) from error
        if error.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED,
                            RPCStatusCode.UNAUTHENTICATED):  # fmt: skip
            raise SearchAttributesMissing(
                namespace, missing, f"the server refused to add them ({error.message})"
            ) from error
        raise
    return sorted(missing)


async def ensure_retention(client: Client, namespace: str, days: int) -> bool:
    """Keep closed journeys ``days`` days, then let Temporal delete them: the namespace's retention, set when it
    differs (True). ``days`` 0, or a server that refuses (Temporal Cloud without the right), leaves it as it is."""
    if not days:
        return False
    wanted = timedelta(days=days)
    try:
        described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        if described.config.workflow_execution_retention_ttl.ToTimedelta() == wanted:
            return False
        config = NamespaceConfig()
        config.workflow_execution_retention_ttl.FromTimedelta(wanted)
        await client.workflow_service.update_namespace(UpdateNamespaceRequest(namespace=namespace, config=config))
    except RPCError as error:
        log.warning("namespace %s keeps its retention (%s: %s); set it to %d days by hand", namespace,
                    error.status.name if error.status else "error", error.message, days)  # fmt: skip
        return False
    log.info("namespace %s now keeps closed journeys %d days", namespace, days)
    return True
