"""Traces, metrics and logs, set up the same way by the bot and the worker.

- **Traces**: one OpenTelemetry tracer provider per process, exporting where ``OTEL_EXPORTER`` says
  (``none``: no tracing at all; ``console``: one JSON line per span; ``otlp``: OTLP over HTTP to
  ``OTEL_EXPORTER_OTLP_ENDPOINT``). asyncpg and Redis calls become spans (statements without their
  parameters, Redis commands without their arguments); Temporal's ``TracingInterceptor`` (see
  ``infra.connections.connect_temporal``) carries the trace from the bot through the journey to the
  activities. Database calls made outside any trace (the bot's content-version poll, readiness
  checks) are not exported: they would be thousands of one-span traces.
- **Metrics**: one Prometheus registry, ``REGISTRY``, served on ``/metrics`` by ``infra.health``. It holds
  Diana's own metrics (below) and Temporal's SDK metrics, which the SDK core hands over through a
  ``MetricBuffer`` that is drained into the registry (one endpoint per process, no second port).
- **Logs**: JSON lines (time, level, logger, message, trace and span ids when there are some), with
  the bot token, any ``<id>:<secret>`` token, the webhook secret and pydantic's echo of input values
  removed.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import unquote, unquote_plus, urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.contrib.opentelemetry._context import attached_context
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    MetricBuffer,
    MetricBufferDurationFormat,
)
from temporalio.worker import HandleUpdateInput, WorkflowInterceptorClassInput

if TYPE_CHECKING:
    from infra.settings import Settings

# --- Metrics ---------------------------------------------------------------------------------------

REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Bot API calls and Temporal round trips take milliseconds to seconds; a slow journey a few seconds.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

UPDATE_SECONDS: Final = Histogram(
    "diana_update_handling_seconds",
    "Time a handler took to handle a Telegram update, by router and handler ('unhandled' when none took it)",
    ["router", "handler"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPDATES_IN_HAND: Final = Gauge(
    "diana_updates_in_hand",
    "Telegram updates the bot is handling now; one that keeps growing means journeys are not answering (every "
    "worker down: updates wait for one, to be applied once)",
    registry=REGISTRY,
)
UPDATE_ERRORS: Final = Counter(
    "diana_update_errors",
    "Telegram updates whose handling raised, by exception class",
    ["kind"],
    registry=REGISTRY,
)
LOGGED_ERRORS: Final = Counter(
    "diana_logged_errors",
    "Log records at ERROR or above, by logger and exception class ('none' without one)",
    ["logger", "kind"],
    registry=REGISTRY,
)
TELEGRAM_REQUESTS: Final = Counter(
    "diana_telegram_requests",
    "Outbound Bot API calls (each attempt), by method and outcome: ok, 429, 5xx, refused (other 4xx), network, error",
    ["method", "outcome"],
    registry=REGISTRY,
)
RATE_LIMITED: Final = Counter(
    "diana_rate_limited_updates",
    "Updates the per-user rate limit held back ('answered': told to slow down; 'dropped': silently) or could not "
    "check ('unchecked': Redis unavailable, let through)",
    ["outcome"],
    registry=REGISTRY,
)
CONTENT_VOICE_LOWEST: Final = Gauge(
    "diana_content_voice_lowest_score",
    "The lowest character score (0-100) of any text Diana says in the active content version",
    registry=REGISTRY,
)
CONTENT_VOICE_BELOW_BAR: Final = Gauge(
    "diana_content_voice_texts_below_bar",
    "Texts of the active content version that score below the bar (90): Diana out of character",
    registry=REGISTRY,
)
ACTIVITY_FAILURES: Final = Counter(
    "diana_activity_failures",
    "Failed activity attempts in this worker, by activity and error type",
    ["activity", "kind"],
    registry=REGISTRY,
)

# Temporal's durations, from a millisecond poll to a journey's day-long timer.
_TEMPORAL_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
_LABEL_CHARACTERS: Final = re.compile(r"[^a-zA-Z0-9_]")


class TemporalMetrics(Collector):
    """Temporal's SDK metrics (``temporal_*``), drained from the core's ``MetricBuffer`` into Prometheus form.

    Counters add up, gauges keep their last value, histograms count into fixed buckets (durations in
    seconds, named ``<metric>_seconds``). ``drain`` must run regularly (``infra.health`` does it every
    second, and every scrape does it too): a full buffer drops updates.
    """

    def __init__(self, buffer_size: int = 100_000) -> None:
        self.buffer = MetricBuffer(buffer_size, MetricBufferDurationFormat.SECONDS)
        self._lock = threading.Lock()
        # name -> (kind, description, unit); then name -> labels -> value or histogram state.
        self._metrics: dict[str, tuple[int, str, str]] = {}
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._histograms: dict[str, dict[tuple[tuple[str, str], ...], list[float]]] = {}

    def drain(self) -> None:
        try:
            updates = self.buffer.retrieve_updates()
        except RuntimeError:  # no runtime uses the buffer yet: nothing was recorded
            return
        with self._lock:
            for update in updates:
                metric = update.metric
                name = metric.name
                self._metrics.setdefault(name, (metric.kind, metric.description or name, metric.unit or ""))
                labels = tuple(sorted((_LABEL_CHARACTERS.sub("_", key), str(value))
                                      for key, value in update.attributes.items()))  # fmt: skip
                if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
                    series = self._values.setdefault(name, {})
                    series[labels] = series.get(labels, 0.0) + update.value
                elif metric.kind == BUFFERED_METRIC_KIND_GAUGE:
                    self._values.setdefault(name, {})[labels] = float(update.value)
                elif metric.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
                    # Per bucket count (the last one is +Inf), then the sum.
                    state = self._histograms.setdefault(name, {}).setdefault(
                        labels, [0.0] * (len(_TEMPORAL_BUCKETS) + 2)
                    )
                    for index, bound in enumerate((*_TEMPORAL_BUCKETS, math.inf)):
                        if update.value <= bound:
                            state[index] += 1
                            break
                    state[-1] += update.value

    def collect(self) -> Iterable[Metric]:
        self.drain()
        with self._lock:
            for name, (kind, description, unit) in sorted(self._metrics.items()):
                if kind == BUFFERED_METRIC_KIND_HISTOGRAM:
                    yield self._histogram(name, description, unit)
                    continue
                family = Metric(name, description, "counter" if kind == BUFFERED_METRIC_KIND_COUNTER else "gauge")
                sample = f"{name}_total" if kind == BUFFERED_METRIC_KIND_COUNTER else name
                for labels, value in self._values.get(name, {}).items():
                    family.add_sample(sample, dict(labels), value)
                yield family

    def _histogram(self, name: str, description: str, unit: str) -> Metric:
        exposed = f"{name}_seconds" if unit == "s" else name
        family = Metric(exposed, description, "histogram")
        for labels, state in self._histograms.get(name, {}).items():
            cumulative = 0.0
            for bound, count in zip((*_TEMPORAL_BUCKETS, math.inf), state[:-1], strict=True):
                cumulative += count
                le = "+Inf" if bound == math.inf else repr(bound)
                family.add_sample(f"{exposed}_bucket", {**dict(labels), "le": le}, cumulative)
            family.add_sample(f"{exposed}_count", dict(labels), cumulative)
            family.add_sample(f"{exposed}_sum", dict(labels), state[-1])
        return family


TEMPORAL_METRICS: Final = TemporalMetrics()
REGISTRY.register(TEMPORAL_METRICS)

# --- Redaction ---------------------------------------------------------------------------------------

# A Bot API token (``<bot id>:<secret>``), bare or in a ``/bot<token>/`` URL.
_TOKEN: Final = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{20,}")
# Pydantic's validation errors echo the input (a user's text): ``input_value='...', input_type=str``.
_INPUT_VALUE: Final = re.compile(r"input_value=.*?(?=, input_type=)", re.DOTALL)
REDACTED: Final = "[redacted]"


class Redactor:
    """Removes secrets from text: the configured ones verbatim, and anything shaped like a bot token."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Shorter ones are left alone: replacing them would blank ordinary words out of every line.
        self.secrets = sorted({secret for secret in secrets if len(secret) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN.sub(REDACTED, text)
        return _INPUT_VALUE.sub(f"input_value={REDACTED}", text)


def secrets_of(settings: Settings) -> list[str]:
    """What no log line may show: the token, the webhook secret, the Temporal API key, and the passwords of
    the database (DATABASE_PASSWORD or in its URL, or the embedded stack's) and of Redis (a driver's error may echo
    its URL)."""
    secrets = [settings.bot_token]
    for secret in (settings.webhook_secret, settings.temporal_api_key):
        if secret is not None:
            secrets.append(secret.get_secret_value())
    if settings.database_password is not None:
        secrets.append(settings.database_password.get_secret_value())
    # DATABASE_PASSWORD too, as escaped into the URL; the embedded stack's generated passwords (both roles').
    for url in (settings.postgres_dsn, settings.postgres_owner_dsn, settings.redis_dsn):
        secrets += _passwords_in(url)
    return secrets


def _passwords_in(url: str) -> list[str]:
    """The passwords in a URL, as written and as a driver decodes them (``%xx``, and ``+`` in the query);
    asyncpg also takes ``?password=`` and ``?sslpassword=``."""
    parts = urlsplit(url)
    forms = {parts.password, unquote(parts.password)} if parts.password else set()
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if unquote_plus(name) in ("password", "sslpassword") and value:
            forms |= {value, unquote(value), unquote_plus(value)}
    return sorted(forms)


# --- Logs ----------------------------------------------------------------------------------------------

# Record attributes Temporal adds to activity and workflow log records: ids only, worth keeping.
_TEMPORAL_EXTRAS: Final = ("temporal_activity", "temporal_workflow")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, trace and span ids, exception."""

    def __init__(self, *, service: str, redact: Redactor) -> None:
        super().__init__()
        self.service = service
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
            "service": self.service,
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        for extra in _TEMPORAL_EXTRAS:
            value = getattr(record, extra, None)
            if isinstance(value, dict):
                entry[extra] = {key: str(item) for key, item in value.items()}
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self.redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


class CountErrors(logging.Handler):
    """Counts ERROR records in ``diana_logged_errors``: errors handled and logged count too."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "none"
        LOGGED_ERRORS.labels(logger=record.name, kind=kind).inc()


def _without_payload_dumps(record: logging.LogRecord) -> bool:
    """Temporal's DEBUG records print whole protos (activity results, task tokens): user data stays out."""
    return record.levelno >= logging.INFO or not record.name.startswith("temporalio")


def json_handler(settings: Settings, *, service: str, stream: IO[str] | None = None,
                 filename: str | None = None) -> logging.StreamHandler[Any]:  # fmt: skip
    """A handler writing redacted JSON lines to ``stream`` (stderr by default) or to ``filename``."""
    handler: logging.StreamHandler[Any] = (
        logging.FileHandler(filename) if filename else logging.StreamHandler(stream or sys.stderr)
    )
    handler.setFormatter(JsonFormatter(service=service, redact=Redactor(secrets_of(settings))))
    handler.addFilter(_without_payload_dumps)
    return handler


def configure_logging(settings: Settings, *, service: str, stream: IO[str] | None = None,
                      filename: str | None = None) -> logging.StreamHandler[Any]:  # fmt: skip
    """JSON lines for the whole process (see ``json_handler``), ERROR records counted; returns the handler."""
    handler = json_handler(settings, service=service, stream=stream, filename=filename)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if not isinstance(existing, CountErrors):
            root.removeHandler(existing)
    root.addHandler(handler)
    if not any(isinstance(existing, CountErrors) for existing in root.handlers):
        root.addHandler(CountErrors())
    root.setLevel(settings.log_level)
    # aiogram logs every handled update at INFO: a line per update costs CPU under load and says nothing the
    # update histogram does not. Kept at DEBUG.
    logging.getLogger("aiogram.event").setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)
    return handler


# --- Traces --------------------------------------------------------------------------------------------

_STORAGE_SCOPES: Final = frozenset({"opentelemetry.instrumentation.asyncpg", "opentelemetry.instrumentation.redis"})


class WithoutOrphanStorageCalls(SpanExporter):
    """Leaves out SQL and Redis spans that have no parent: calls made outside any update or activity."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        kept = [span for span in spans if not _orphan_storage_call(span)]
        return self.exporter.export(kept) if kept else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def _orphan_storage_call(span: ReadableSpan) -> bool:
    scope = span.instrumentation_scope
    return span.parent is None and scope is not None and scope.name in _STORAGE_SCOPES


class UpdateTracingInterceptor(TracingInterceptor):
    """Temporal's ``TracingInterceptor``, with each Update's workflow-side spans in the trace of its caller.

    The stock interceptor puts ``ValidateUpdate``/``HandleUpdate`` (and the activities an update handler
    starts, such as ``redeem_vip_pass``) under the span that *started the workflow run*, with only a link
    to the update's sender. A journey lives for months, so every later Telegram update would lose its
    workflow side to the trace of the user's first one. Here they are children of the update's own
    client span; what the journey's main loop does afterwards (its effects) stays on the run's trace.
    """

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)
        return _UpdatesInTheirCallersTrace


class _UpdatesInTheirCallersTrace(TracingWorkflowInboundInterceptor):
    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        context = self._caller_context(input)
        if context is None:
            return super().handle_update_validator(input)
        with attached_context(context):
            self._completed_span(f"ValidateUpdate:{input.update}",
                                 link_context_carrier=self._load_workflow_context_carrier(), kind=SpanKind.SERVER)  # fmt: skip
            # Past the stock interceptor's own span (it would parent this one to the run).
            return self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        context = self._caller_context(input)
        if context is None:
            return await super().handle_update_handler(input)
        with attached_context(context):
            self._completed_span(f"HandleUpdate:{input.update}",
                                 link_context_carrier=self._load_workflow_context_carrier(), kind=SpanKind.SERVER)  # fmt: skip
            return await self.next.handle_update_handler(input)

    def _caller_context(self, input: HandleUpdateInput) -> Context | None:
        header = input.headers.get(self.header_key)
        if not header:
            return None
        carrier = self.payload_converter.from_payloads([header])[0]
        if not carrier:
            return None
        return self._set_on_context(self.text_map_propagator.extract(carrier))


_provider: TracerProvider | None = None


def setup_tracing(settings: Settings, *, service: str, exporter: SpanExporter | None = None,
                  console: IO[str] | None = None) -> TracerProvider | None:  # fmt: skip
    """Install the process's tracer provider and instrument asyncpg and Redis; once per process.

    :param exporter: overrides ``OTEL_EXPORTER`` (tests pass an in-memory exporter).
    :param console: where ``OTEL_EXPORTER=console`` writes its lines (stdout by default).
    :returns: the provider, or None when tracing is off (``OTEL_EXPORTER=none``).
    """
    global _provider
    if _provider is not None:
        return _provider
    if exporter is not None:
        processor: SimpleSpanProcessor | BatchSpanProcessor = SimpleSpanProcessor(WithoutOrphanStorageCalls(exporter))
    elif settings.otel_exporter == "console":
        lines = ConsoleSpanExporter(out=console or sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n")
        processor = SimpleSpanProcessor(WithoutOrphanStorageCalls(lines))
    elif settings.otel_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint
        otlp = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None)
        processor = BatchSpanProcessor(WithoutOrphanStorageCalls(otlp))
    else:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _instrument_storage(provider)
    _provider = provider
    return provider


def _instrument_storage(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    # Statements only: parameters are user data (texts, names, payment payloads).
    AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    # The Redis instrumentation records commands as "ZADD ? ?": keys and values never.
    RedisInstrumentor().instrument(tracer_provider=provider)


def shutdown_tracing() -> None:
    """Flush spans still queued (OTLP batches) before the process exits."""
    if _provider is not None:
        _provider.shutdown()
