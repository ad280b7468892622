"""Observability: one trace from a Telegram update to SQL, probes and metrics, JSON logs without secrets.

``diana bot`` runs as its own process (console spans on stdout, JSON logs on stderr) and the worker
runs in this process through its real entry point, ``run_worker``, with an in-memory span exporter in
place of ``OTEL_EXPORTER``: a trace is followed across the two processes by its ids.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import asyncpg
import pytest
from aiogram.types import Update
from aiohttp import web
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, ValidationError, constr
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from adapters.telegram import PatientRequests
from bot.telemetry import UpdateSpan
from infra import telemetry
from infra.connections import create_redis
from infra.health import HealthServer, readiness_checks
from infra.settings import EMULATOR_BOT_TOKEN, Settings
from tests import hermetic
from tests.helpers import eventually, http_receiver, metric_value, new_user_id, scrape_metrics
from tests.telegram import EmulatedUser, onboard, pay_invoice, payments, vip_invoice
from tools.emulator import BotAPIEmulator
from tools.stack import free_port, free_ports
from worker.main import run_worker
from worker.telemetry import ActivityFailures
from workflows.journey import journey_id

# A message text that must never reach a log line or a span.
KNOWN_TEXT = "violeta-medianoche-4417"
TOKEN_SECRET = EMULATOR_BOT_TOKEN.split(":", 1)[1]


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing for this process (the worker's side): every span lands in memory."""
    exporter = InMemorySpanExporter()
    provider = telemetry.setup_tracing(hermetic.settings(), service="diana-worker", exporter=exporter)
    assert provider is not None
    try:
        yield exporter
    finally:
        # Later modules need no spans: stop instrumenting and exporting.
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        RedisInstrumentor().uninstrument()
        exporter.clear()
        provider.shutdown()


@dataclasses.dataclass(frozen=True)
class Span:
    """A finished span from either process, with the ids that link it."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    attributes: dict[str, Any]
    service: str

    @classmethod
    def of(cls, span: ReadableSpan) -> Span:
        return cls(span.name, span.context.trace_id, span.context.span_id, span.parent.span_id if span.parent else None,
                   dict(span.attributes or {}), str(span.resource.attributes["service.name"]))  # fmt: skip

    @classmethod
    def from_console(cls, line: str) -> Span:
        data = json.loads(line)
        parent = data["parent_id"]
        return cls(data["name"], int(data["context"]["trace_id"], 16), int(data["context"]["span_id"], 16),
                   int(parent, 16) if parent else None, data["attributes"],
                   data["resource"]["attributes"]["service.name"])  # fmt: skip


@dataclasses.dataclass
class Diana:
    """The running bot (a process) and worker (in this process), and what they wrote so far."""

    settings: Settings
    folder: Path
    memory: InMemorySpanExporter
    bot_url: str
    worker_url: str

    def _lines(self, name: str) -> list[str]:
        text = (self.folder / name).read_text()
        return text[: text.rfind("\n") + 1].splitlines()  # whole lines only: the bot may be writing

    def bot_logs(self) -> list[str]:
        return self._lines("stderr")

    def bot_spans(self) -> list[str]:
        return self._lines("stdout")

    def spans(self) -> list[Span]:
        return [*(Span.from_console(line) for line in self.bot_spans()),
                *(Span.of(span) for span in self.memory.get_finished_spans())]  # fmt: skip


def _diana_bot(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    """``diana bot`` with its stdout (console spans) and stderr (logs) in files: pipes could fill and block it."""
    with (folder / "stdout").open("wb") as stdout, (folder / "stderr").open("wb") as stderr:
        return hermetic.diana_process(["-m", "tools.cli", "bot"], env, stdout=stdout, stderr=stderr)


@pytest.fixture
async def diana(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    spans: InMemorySpanExporter, http: aiohttp.ClientSession, tmp_path: Path,
) -> AsyncIterator[Diana]:  # fmt: skip
    """``diana bot`` (console spans, DEBUG logs) and ``run_worker`` here, against the emulator and real servers."""
    bot_port, worker_port = free_ports(2)
    servers = {"TELEGRAM_API_BASE": emulator.base_url, "TEMPORAL_TASK_QUEUE": task_queue, "DATABASE_URL": database,
               "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host, "REDIS_URL": redis_server,
               "BOT_HEALTH_PORT": str(bot_port), "WORKER_HEALTH_PORT": str(worker_port)}  # fmt: skip
    settings = hermetic.settings(**servers)
    env = hermetic.process_environment(**servers, OTEL_EXPORTER="console", LOG_LEVEL="DEBUG")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    bot = _diana_bot(env, tmp_path)
    running = Diana(settings, tmp_path, spans, f"http://127.0.0.1:{settings.bot_health_port}",
                    f"http://127.0.0.1:{settings.worker_health_port}")  # fmt: skip

    async def both_up() -> bool:
        if worker.done():
            worker.result()  # raises what stopped it
        assert bot.poll() is None, f"diana bot exited: {running.bot_logs()[-5:]}"
        for url in (running.bot_url, running.worker_url):
            try:
                async with http.get(f"{url}/health") as response:
                    if response.status != 200:
                        return False
            except aiohttp.ClientConnectionError:
                return False
        return True

    try:
        await eventually(both_up, within=60)
        yield running
    finally:
        stop.set()
        bot.terminate()
        await asyncio.to_thread(bot.wait, 15)
        await worker


def _ancestry(span: Span, spans: Sequence[Span]) -> list[str]:
    """``span``'s name and its ancestors' names, nearest first, as far as the parent links go."""
    by_id = {each.span_id: each for each in spans}
    names = [span.name]
    parent = span.parent_id
    while parent is not None and parent in by_id:
        names.append(by_id[parent].name)
        parent = by_id[parent].parent_id
    return names


def _update_span(spans: Sequence[Span], user_id: int, kind: str) -> Span | None:
    found = [span for span in spans
             if span.name == f"telegram.update {kind}" and span.attributes.get("telegram.user_id") == user_id]  # fmt: skip
    assert len(found) <= 1, f"one span per update: {found}"
    return found[0] if found else None


async def test_one_trace_runs_from_the_update_through_the_journey_to_sql(
    diana: Diana, emulator: BotAPIEmulator, http: aiohttp.ClientSession
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    workflow = journey_id(user.user_id)
    await user.send("/start")
    intro = await user.next_from_bot("bot_message", within=60)

    def profile_insert(spans: Sequence[Span]) -> Span | None:
        found = [span for span in spans if span.name == "INSERT" and "INTO users" in span.attributes["db.statement"]]
        return found[0] if found else None

    async def profile_written() -> list[Span] | None:
        spans = diana.spans()
        written = profile_insert(spans)
        if written is None or _update_span(spans, user.user_id, "message") is None:
            return None
        return spans if _ancestry(written, spans)[-1].startswith("telegram.update") else None

    spans = await eventually(profile_written)
    assert spans is not None
    update = _update_span(spans, user.user_id, "message")
    assert update is not None and update.service == "diana-bot"
    assert update.attributes["diana.handler"] == "bot.start:start"
    in_trace = [span for span in spans if span.trace_id == update.trace_id]

    def only(name: str, statement: str = "") -> Span:
        found = [span for span in in_trace if span.name == name and statement in span.attributes.get("db.statement", "")
                 and span.attributes.get("temporalWorkflowID") in (None, workflow)]  # fmt: skip
        assert len(found) == 1, f"{name} {statement}: {found}"
        return found[0]

    # The bot's side (its process) ...
    client_call = "StartUpdateWithStartWorkflow:Journey"
    assert _ancestry(only(client_call), in_trace) == [client_call, update.name]
    assert _ancestry(only("telegram sendMessage"), in_trace) == ["telegram sendMessage", update.name]
    assert {only(client_call).service, only("telegram sendMessage").service} == {"diana-bot"}
    # ... and the worker's (this process), children of the bot's Temporal call.
    assert _ancestry(only("HandleUpdate:Interact"), in_trace) == ["HandleUpdate:Interact", client_call, update.name]
    assert _ancestry(only("RunWorkflow:Journey"), in_trace) == ["RunWorkflow:Journey", client_call, update.name]
    # The handler answers from the worker's content library (no activity); the main loop then writes the turn's
    # rows in one projection activity.
    assert not [span for span in in_trace if "load_content" in span.name]
    insert = only("INSERT", "INTO users")
    assert _ancestry(insert, in_trace) == [
        "INSERT", "RunActivity:record_projection", "StartActivity:record_projection", client_call, update.name]  # fmt: skip
    assert insert.service == "diana-worker" and insert.attributes["db.system"] == "postgresql"

    # Statements travel without their parameters (texts, names, payloads); Redis commands without arguments.
    for span in spans:
        assert "db.statement.parameters" not in span.attributes
        if span.attributes.get("db.system") == "redis":
            words = span.attributes["db.statement"].split()
            assert all(word == "?" or word.isalpha() and word.isupper() for word in words), span.attributes

    # A later update on the same journey: its workflow side is in its own trace, not the first one's.
    await user.press(intro["message_id"], user.button(intro, "Continuar"))
    await user.next_from_bot("bot_edit")

    async def press_handled() -> tuple[Span, list[Span]] | None:
        spans = diana.spans()
        press = _update_span(spans, user.user_id, "callback_query")
        handled = [span for span in spans if press and span.trace_id == press.trace_id
                   and span.name == "HandleUpdate:Interact"]  # fmt: skip
        return (press, [*spans]) if press and handled else None

    pressed = await eventually(press_handled)
    assert pressed is not None
    press, spans = pressed
    assert press.trace_id != update.trace_id
    handled = [span for span in spans if span.trace_id == press.trace_id and span.name == "HandleUpdate:Interact"]
    # A press never opens a journey: a plain Update to the running one.
    assert [_ancestry(span, spans) for span in handled] == [["HandleUpdate:Interact", "StartWorkflowUpdate:Interact",
                                                             press.name]]  # fmt: skip
    assert handled[0].attributes["temporalWorkflowID"] == workflow

    # Through to the menu: the effects the journey carries out after replying (profile, ledger) belong to
    # the trace of the update that caused them, down to their SQL.
    for label in ("Continuar", "Entrar"):
        shown = (await user.transcript())[-1]
        await user.press(shown["message_id"], user.button(shown, label))
        await user.next_from_bot("bot_edit")

    async def ledger_written() -> list[Span] | None:
        spans = diana.spans()
        rows = [span for span in spans if span.name == "INSERT" and "INTO besitos_ledger" in
                span.attributes.get("db.statement", "")]  # fmt: skip
        # A span is exported when it ends: wait for every span up to the update's (the bot's, which ends last).
        return spans if rows and _ancestry(rows[0], spans)[-1].startswith("telegram.update") else None

    spans = await eventually(ledger_written) or []
    row = next(span for span in spans if span.name == "INSERT" and "INTO besitos_ledger" in
               span.attributes.get("db.statement", ""))  # fmt: skip
    entered = [span for span in spans if span.trace_id == row.trace_id and span.name.startswith("telegram.update")]
    assert len(entered) == 1 and entered[0].trace_id not in (update.trace_id, press.trace_id)
    assert _ancestry(row, spans)[:3] == ["INSERT", "RunActivity:record_projection",
                                         "StartActivity:record_projection"]  # fmt: skip
    assert _ancestry(row, spans)[-1] == entered[0].name


async def test_health_ready_and_metrics_of_the_bot_and_the_worker(
    diana: Diana, emulator: BotAPIEmulator, http: aiohttp.ClientSession
) -> None:  # fmt: skip
    for url, service in ((diana.bot_url, "bot"), (diana.worker_url, "worker")):
        async with http.get(f"{url}/health") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok", "service": service}
        async with http.get(f"{url}/ready") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ready", "service": service,
                                             "checks": {"temporal": "ok", "postgres": "ok", "redis": "ok"}}  # fmt: skip

    _, before = await scrape_metrics(http, diana.bot_url)
    async with http.post(f"{emulator.base_url}/control/faults",
                         json={"count": 1, "error_code": 429, "retry_after": 1, "methods": ["sendMessage"]}):  # fmt: skip
        pass
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    await user.send("/start")
    await user.next_from_bot("bot_message", within=60)

    text, after = await scrape_metrics(http, diana.bot_url)
    handled = {"router": "bot.start", "handler": "start"}
    assert metric_value(after, "diana_update_handling_seconds_count", **handled) == metric_value(
        before, "diana_update_handling_seconds_count", **handled) + 1  # fmt: skip
    assert metric_value(after, "diana_update_handling_seconds_bucket", **handled, le="+Inf") >= 1
    refused = {"method": "sendMessage", "outcome": "429"}
    assert metric_value(after, "diana_telegram_requests_total", **refused) == metric_value(
        before, "diana_telegram_requests_total", **refused) + 1  # fmt: skip
    sent = {"method": "sendMessage", "outcome": "ok"}
    assert metric_value(after, "diana_telegram_requests_total", **sent) > metric_value(
        before, "diana_telegram_requests_total", **sent
    )
    for line in ("# TYPE diana_update_errors_total counter", "# TYPE diana_logged_errors_total counter",
                 'temporal_long_request_total{namespace="default",operation="ExecuteMultiOperation"', "process_cpu_seconds_total"):  # fmt: skip
        assert line in text, line

    async def worker_scraped() -> str | None:
        text, _ = await scrape_metrics(http, diana.worker_url)
        # Temporal's own SDK metrics, from the runtime's buffer: the worker ran the journey's activities.
        ran = any(line.startswith("temporal_") and 'activity_type="record_projection"' in line
                  for line in text.splitlines())  # fmt: skip
        return text if ran else None

    worker_text = await eventually(worker_scraped)
    assert worker_text is not None
    for line in ("# TYPE diana_activity_failures_total counter", "temporal_workflow_task_execution_latency_seconds_bucket",
                 "temporal_worker_task_slots_available{"):  # fmt: skip
        assert line in worker_text, line

    # A failed activity attempt counts by activity and kind: Telegram answers 5xx to every try of the
    # worker's first invoice, the attempt fails, and Temporal's retry delivers the invoice.
    buyer = EmulatedUser(http, emulator.base_url, new_user_id())
    menu = await onboard(buyer)
    await buyer.press(menu["message_id"], buyer.button(menu, "VIP"))
    plans = await buyer.next_from_bot()
    _, before = await scrape_metrics(http, diana.worker_url)
    async with http.post(f"{emulator.base_url}/control/faults", json={"count": PatientRequests.MAX_ATTEMPTS,
                         "error_code": 502, "methods": ["sendInvoice"]}):  # fmt: skip
        pass
    await buyer.press(plans["message_id"], buyer.button(plans, "VIP Trimestral"))  # sent with sendInvoice
    assert (await buyer.next_from_bot("bot_invoice", within=60))["title"] == "VIP Trimestral"
    _, after = await scrape_metrics(http, diana.worker_url)
    failed = {"activity": "send_invoice", "kind": "TelegramServerError"}
    assert metric_value(after, "diana_activity_failures_total", **failed) == metric_value(
        before, "diana_activity_failures_total", **failed) + 1  # fmt: skip


async def test_ready_names_what_does_not_answer(
    client: Client, pool: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    dead_redis = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    server = HealthServer(service="worker", host="127.0.0.1", port=free_port(),
                          checks=readiness_checks(client, pool, dead_redis))  # fmt: skip
    try:
        async with server:
            async with http.get(f"http://127.0.0.1:{server.port}/ready") as response:
                assert response.status == 503
                body = await response.json()
            async with http.get(f"http://127.0.0.1:{server.port}/health") as response:
                assert response.status == 200, "alive, only not ready"
    finally:
        await dead_redis.aclose()
    assert body["status"] == "unready" and body["failing"] == ["redis"]
    assert body["checks"]["temporal"] == body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"] == "ConnectionError"


async def test_logs_and_spans_carry_neither_the_token_nor_what_users_write(
    diana: Diana, emulator: BotAPIEmulator, http: aiohttp.ClientSession
) -> None:  # fmt: skip
    captured = io.StringIO()  # the worker's logs, as its JSON handler writes them
    handler = telemetry.json_handler(diana.settings, service="diana-worker", stream=captured)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        user = EmulatedUser(http, emulator.base_url, new_user_id())
        menu = await onboard(user)
        # A VIP purchase: its invoice payload must not show.
        invoice = await vip_invoice(user, menu)
        paid = await pay_invoice(user, invoice)
        assert paid["ok"], paid
        await user.next_saying("círculo íntimo")
        await user.send(KNOWN_TEXT)
        await user.next_from_bot("bot_message", within=30)

        async def text_handled() -> bool:
            spans = diana.spans()
            updates = [span for span in spans if span.name == "telegram.update message"
                       and span.attributes.get("telegram.user_id") == user.user_id]  # fmt: skip
            # /start, the successful payment, the text
            return len(updates) == 3 and any(span.trace_id == updates[2].trace_id and span.name == "HandleUpdate:Interact"
                                             for span in spans)  # fmt: skip

        await eventually(text_handled)
        logging.getLogger("diana.test").error("a call failed: https://api.telegram.org/bot%s/sendMessage",
                                              EMULATOR_BOT_TOKEN)  # fmt: skip
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    messages = [entry for entry in await user.transcript() if entry["kind"] == "user_message"]
    assert [entry["text"] for entry in messages] == ["/start", KNOWN_TEXT], "the text did reach the bot"

    bot_logs = diana.bot_logs()
    entries = [json.loads(line) for line in bot_logs]
    assert {entry["service"] for entry in entries} == {"diana-bot"}
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(entry["level"] == "DEBUG" for entry in entries), "LOG_LEVEL=DEBUG: the bot says everything it says"
    worker_logs = captured.getvalue()
    assert "a call failed: https://api.telegram.org/bot[redacted]/sendMessage" in worker_logs
    assert "Completing activity" not in worker_logs, "Temporal's DEBUG records print activity results"
    every_span = "\n".join([*diana.bot_spans(), *(span.to_json() for span in diana.memory.get_finished_spans())])
    # The monthly plan is a subscription, sold through an invoice link: its payload is Telegram's to tell.
    (payload,) = [c["invoice_payload"] for c in await payments(http, emulator.base_url)
                  if c["telegram_payment_charge_id"] == paid["telegram_payment_charge_id"]]  # fmt: skip
    assert payload.startswith(f"vip:{user.user_id}:")
    for secret in (KNOWN_TEXT, EMULATOR_BOT_TOKEN, TOKEN_SECRET, payload):
        assert secret not in "\n".join(bot_logs)
        assert secret not in worker_logs
        assert secret not in every_span


# A process that traces one span, as the bot and the worker set tracing up from the environment.
_TRACE_ONE_SPAN: Final = """
from opentelemetry import trace
from infra.settings import Settings
from infra.telemetry import setup_tracing, shutdown_tracing
print(setup_tracing(Settings(_env_file=None), service="diana-bot") is not None)
with trace.get_tracer("diana.test").start_as_current_span("otlp-probe"):
    pass
shutdown_tracing()
"""


@pytest.mark.parametrize("exporter", ["otlp", "default"])
async def test_spans_go_to_the_configured_otlp_collector_and_nowhere_by_default(exporter: str) -> None:
    received: list[tuple[str, str, bytes]] = []

    async def collect(request: web.Request) -> web.Response:
        received.append((request.path, request.content_type, await request.read()))
        return web.Response()

    runner, port = await http_receiver("/{path:.*}", collect)
    try:
        env = hermetic.process_environment(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}")
        if exporter == "otlp":
            env["OTEL_EXPORTER"] = "otlp"  # else the default
        traced = await asyncio.create_subprocess_exec(sys.executable, "-c", _TRACE_ONE_SPAN, env=env,
                                                      cwd=hermetic.working_directory(), stdout=subprocess.PIPE)  # fmt: skip
        stdout, _ = await asyncio.wait_for(traced.communicate(), timeout=60)
    finally:
        await runner.cleanup()
    assert traced.returncode == 0
    if exporter == "default":
        assert stdout.split() == [b"False"] and received == [], "tracing off: no provider, nothing sent"
        return
    assert stdout.split() == [b"True"]
    [(path, content_type, body)] = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"otlp-probe" in body and b"diana-bot" in body, "the span and its service, in OTLP protobuf"


class _Short(BaseModel):
    text: constr(max_length=3)  # type: ignore[valid-type]


class TestJsonLogs:
    def test_secrets_and_echoed_input_are_removed(self) -> None:
        redact = telemetry.Redactor(["s3cret-webhook"])
        formatter = telemetry.JsonFormatter(service="diana-bot", redact=redact)
        try:
            _Short(text=KNOWN_TEXT)
        except ValidationError:
            record = logging.LogRecord("diana.bot", logging.ERROR, __file__, 1, "refused %s at %s", (
                "s3cret-webhook", "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"),
                sys.exc_info())  # fmt: skip
        entry = json.loads(formatter.format(record))
        assert entry["message"] == "refused [redacted] at https://api.telegram.org/bot[redacted]/getMe"
        assert "input_value=[redacted]" in entry["exception"] and KNOWN_TEXT not in entry["exception"]
        assert {"time", "level", "logger", "service"} <= entry.keys() and "trace_id" not in entry

    def test_the_configured_credentials_are_removed(self) -> None:
        settings = Settings(_env_file=None, TEMPORAL_ADDRESS="ns.tmprl.cloud:7233", TEMPORAL_API_KEY="tmprl-api-key-0123456789",
                            DATABASE_URL="postgresql://diana:Pa%24%24-w0rd@db.internal:5432/diana?sslpassword=cl1ent+k3y+pass",
                            REDIS_URL="redis://:r3dis-s3cret@cache.internal:6379/0?password=r3dis-alt3rnate")  # fmt: skip
        captured = io.StringIO()
        logger = logging.getLogger("diana.test.credentials")
        logger.addHandler(telemetry.json_handler(settings, service="diana-worker", stream=captured))
        try:
            # What a driver's error could echo: its URL as configured, or the password decoded.
            logger.error("could not connect to %s (password %s, key %s); %s; key %s", settings.postgres_dsn,
                         "Pa$$-w0rd", "cl1ent k3y pass", settings.redis_dsn, "tmprl-api-key-0123456789")  # fmt: skip
        finally:
            logger.handlers.clear()
        message = json.loads(captured.getvalue())["message"]
        for secret in ("Pa%24%24-w0rd", "Pa$$-w0rd", "cl1ent", "r3dis-s3cret", "r3dis-alt3rnate", "tmprl-api-key"):
            assert secret not in message, secret
        assert "db.internal:5432/diana" in message and "cache.internal:6379" in message, "the rest stays readable"

        # The password given apart (compose does so), raw or as escaped into the URL.
        apart = Settings(_env_file=None, DATABASE_URL="postgresql://diana@db.internal:5432/diana",
                         DATABASE_PASSWORD="p@ss w0rd/apart")  # fmt: skip
        redact = telemetry.Redactor(telemetry.secrets_of(apart))
        shown = redact(f"failed: {apart.postgres_dsn} (password p@ss w0rd/apart)")
        assert "w0rd" not in shown and "db.internal:5432/diana" in shown

    def test_records_inside_a_span_carry_its_ids(self, spans: InMemorySpanExporter) -> None:
        formatter = telemetry.JsonFormatter(service="diana-bot", redact=telemetry.Redactor())
        with trace.get_tracer("test").start_as_current_span("work") as span:
            entry = json.loads(formatter.format(logging.LogRecord("diana.bot", logging.INFO, __file__, 1, "hi", (),
                                                                  None)))  # fmt: skip
        assert entry["trace_id"] == format(span.get_span_context().trace_id, "032x")
        assert entry["span_id"] == format(span.get_span_context().span_id, "016x")


def _counted(name: str, **labels: str) -> float:
    return telemetry.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_updates_in_hand_are_counted_while_they_wait(spans: InMemorySpanExporter) -> None:
    """The operator's signal that journeys do not answer (every worker down): updates pile up in the bot."""
    answered = asyncio.Event()

    async def waiting(event: Any, data: dict[str, Any]) -> None:
        await answered.wait()

    before = _counted("diana_updates_in_hand")
    held = [asyncio.create_task(UpdateSpan()(waiting, Update(update_id=n), {})) for n in (515151, 515152)]
    await asyncio.sleep(0.05)
    assert _counted("diana_updates_in_hand") == before + 2
    answered.set()
    await asyncio.gather(*held)
    assert _counted("diana_updates_in_hand") == before


async def test_errors_are_counted_by_kind(spans: InMemorySpanExporter) -> None:
    async def failing(event: Any, data: dict[str, Any]) -> None:
        raise LookupError(KNOWN_TEXT)

    before = _counted("diana_update_errors_total", kind="LookupError")
    with pytest.raises(LookupError):
        await UpdateSpan()(failing, Update(update_id=424242), {})
    assert _counted("diana_update_errors_total", kind="LookupError") == before + 1
    failed = [
        span
        for span in spans.get_finished_spans()
        if span.attributes and span.attributes.get("telegram.update_id") == 424242
    ]
    assert len(failed) == 1 and failed[0].status.description == "LookupError", "the class, never the message"
    assert KNOWN_TEXT not in failed[0].to_json()

    logged_before = _counted("diana_logged_errors_total", logger="diana.bot", kind="TimeoutError")
    try:
        raise TimeoutError
    except TimeoutError:
        record = logging.LogRecord(
            "diana.bot", logging.ERROR, __file__, 1, "journey did not answer", (), sys.exc_info()
        )
    telemetry.CountErrors().handle(record)
    assert _counted("diana_logged_errors_total", logger="diana.bot", kind="TimeoutError") == logged_before + 1


async def test_failed_activity_attempts_are_counted() -> None:
    class Refusing(ActivityInboundInterceptor):
        async def execute_activity(self, input: ExecuteActivityInput) -> Any:
            raise ApplicationError("blocked", type="Undeliverable", non_retryable=True)

    counting = ActivityFailures().intercept_activity(Refusing(None))  # type: ignore[arg-type]
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, activity_type="send_notification")
    before = _counted("diana_activity_failures_total", activity="send_notification", kind="Undeliverable")

    async def attempt() -> None:
        await counting.execute_activity(ExecuteActivityInput(fn=attempt, args=[], executor=None, headers={}))

    with pytest.raises(ApplicationError):
        await environment.run(attempt)
    assert _counted("diana_activity_failures_total", activity="send_notification", kind="Undeliverable") == before + 1
