"""Deployment files and configuration that cannot run here are still checked."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import re
import ssl
import subprocess
import sys
import threading
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest
import trustme
import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.testing import WorkflowEnvironment

from infra.connections import (
    SearchAttributesMissing,
    SearchAttributesUnusable,
    connect_temporal,
    ensure_search_attributes,
    temporal_tls,
)
from infra.migrate import migrate
from infra.payload_keys import master_keys, parse_master_key
from infra.settings import APP_ROLE, EMULATOR_BOT_TOKEN, Settings
from infra.telemetry import secrets_of
from tests import hermetic
from tests.helpers import REPO_ROOT
from tools import stack
from workflows.search_attributes import REGISTRATION


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    checker = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True)  # fmt: skip


def test_docker_compose_is_valid_compose() -> None:
    result = check_compose(REPO_ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_invalid_compose_file_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  bot:\n    image: 42\n    restart: sometimes-maybe\n    portz: [1]\n")
    assert check_compose(broken).returncode != 0


def test_compose_has_the_production_stack() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert {"temporal", "temporal-ui", "postgres", "redis", "worker", "bot"} <= set(compose["services"])
    assert compose["services"]["bot"]["environment"]["BOT_MODE"] == "webhook"
    for service in ("postgres", "redis", "temporal"):
        assert "healthcheck" in compose["services"][service]


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    return services


def probe_code(service: dict[str, Any]) -> str:
    """The Python one-liner a service's health check runs (``python -c <code>``)."""
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], f"a Python probe (the slim image has no curl): {test}"
    return str(test[3])


class TestProductionStack:
    def test_two_workers_poll_one_task_queue(self) -> None:
        services = compose_services()
        worker = services["worker"]
        assert worker["command"] == ["diana", "worker"]
        assert worker["deploy"]["replicas"] >= 2
        queues = {services[name]["environment"]["TEMPORAL_TASK_QUEUE"] for name in ("worker", "bot")}
        assert len(queues) == 1, "the bot starts journeys on the queue the workers poll"

    def test_the_bot_takes_a_webhook_with_a_secret(self) -> None:
        bot = compose_services()["bot"]
        assert bot["command"] == ["diana", "bot"]
        env = bot["environment"]
        assert env["BOT_MODE"] == "webhook"
        assert env["WEBHOOK_SECRET"].startswith("${WEBHOOK_SECRET:?"), "no default secret: compose refuses to start"
        assert env["WEBHOOK_LISTEN_HOST"] == "0.0.0.0"
        # Plain HTTP behind the host's TLS proxy: published on this host only.
        assert bot["ports"] == [f"127.0.0.1:{env['WEBHOOK_LISTEN_PORT']}:{env['WEBHOOK_LISTEN_PORT']}"]
        assert bot["depends_on"]["worker"]["condition"] == "service_healthy"

    def test_temporal_runs_on_postgres_with_its_ui(self) -> None:
        services = compose_services()
        temporal = services["temporal"]
        assert temporal["environment"]["DB"].startswith("postgres")
        assert temporal["environment"]["POSTGRES_SEEDS"] == "temporal-postgres"
        assert temporal["depends_on"]["temporal-postgres"]["condition"] == "service_healthy"
        assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert services["temporal-ui"]["ports"] == ["127.0.0.1:8233:8080"], "no login: this host only"
        # Postgres visibility has three Datetime columns, all the journey's: the image must not take one.
        assert temporal["environment"]["SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES"] == "true"
        assert sum(kind == "Datetime" for kind in REGISTRATION.values()) == 3
        # Healthy once the namespace the workers register their attributes in exists.
        assert temporal["healthcheck"]["test"][1:5] == ["temporal", "operator", "namespace", "describe"]

    def test_every_long_running_service_has_a_health_check(self) -> None:
        services = compose_services()
        one_shot = {name for name, service in services.items() if "restart" not in service and "build" in service}
        assert one_shot == {"migrate"}
        for name, service in services.items():
            if name not in one_shot:
                assert "healthcheck" in service, f"{name} has no health check"
                assert service["restart"] == "unless-stopped", f"{name} would stay down after a crash or reboot"

    @pytest.mark.parametrize(("service", "port_variable"), [("bot", "BOT_HEALTH_PORT"),
                                                              ("worker", "WORKER_HEALTH_PORT")])  # fmt: skip
    def test_bot_and_worker_are_checked_on_their_health_endpoint(self, service: str, port_variable: str) -> None:
        """/health, not /ready: a Postgres or Redis outage, which Diana rides out, must not block a redeploy."""
        services = compose_services()
        port = services[service]["environment"][port_variable]
        assert f"http://127.0.0.1:{port}/health" in probe_code(services[service])

    @pytest.mark.parametrize("service", ["bot", "worker"])
    def test_the_probe_passes_on_200_and_fails_on_503(self, service: str) -> None:
        code = probe_code(compose_services()[service])
        for status, exit_ok in ((200, True), (503, False)):
            with health_server(status) as port:
                probe = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", code)
                result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30)
            assert (result.returncode == 0) is exit_ok, (status, result.stderr[-500:])

    def test_migrations_activate_the_shipped_content_once(self) -> None:
        """``diana up`` against external servers migrates and, on a fresh database only, activates the content."""
        assert compose_services()["migrate"]["command"] == ["diana", "up"]


class TestImage:
    """The Dockerfile cannot be built here; what it must contain is checked instead."""

    dockerfile = (REPO_ROOT / "infra" / "Dockerfile").read_text()

    def instructions(self, keyword: str) -> list[str]:
        return [line.split(None, 1)[1] for line in self.dockerfile.splitlines() if line.startswith(keyword + " ")]

    def test_it_copies_every_package_and_the_content(self) -> None:
        project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
        packages = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
        copied = {line.split()[0] for line in self.instructions("COPY")}
        assert packages | {"content"} <= copied
        assert any(re.search(r"pip install .*\s\.(\s|$)", line) for line in self.instructions("RUN"))

    def test_it_runs_as_a_user_with_a_writable_data_folder(self) -> None:
        assert self.instructions("USER") == ["diana"]
        env = " ".join(self.instructions("ENV"))
        assert "DIANA_DATA_DIR=/tmp/" in env and "PYTHONPATH=/app" in env

    def test_the_build_context_leaves_out_secrets_and_local_data(self) -> None:
        ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
        assert {".env", ".diana", ".venv", ".git"} <= ignored

    def test_its_commands_are_diana_commands(self) -> None:
        assert self.instructions("CMD") == ['["diana", "worker"]']
        usage = subprocess.run([sys.executable, "-m", "tools.cli", "--help"], capture_output=True, text=True,
                               cwd=REPO_ROOT).stdout  # fmt: skip
        for name, service in compose_services().items():
            if "build" in service:
                program, command = service["command"]
                assert program == "diana" and re.search(rf"^\s+{command}\s", usage, re.MULTILINE), name


@contextlib.contextmanager
def health_server(status: int) -> Iterator[int]:
    """An HTTP server whose ``/health`` answers ``status``; yields its port."""

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def test_the_worker_registers_search_attributes_on_a_bare_server() -> None:
    """A Temporal server started without our attributes (external, or started by someone else)."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(stack.temporal_binary()))
    try:
        namespace = env.client.namespace
        # Told not to register (Temporal Cloud: tcld does it): it refuses to start, names what is missing
        # and how to add it, and adds nothing.
        with pytest.raises(SearchAttributesMissing) as refused:
            await ensure_search_attributes(env.client, namespace, register=False)
        assert refused.value.missing == list(REGISTRATION)
        assert (
            f"tcld namespace search-attributes add --namespace {namespace} --search-attribute JourneyStage=Keyword"
            in str(refused.value)
        )
        # Two workers starting at once both find them missing, and both start.
        both = await asyncio.gather(*(ensure_search_attributes(env.client, namespace) for _ in range(2)))
        assert both == [sorted(REGISTRATION)] * 2
        assert await ensure_search_attributes(env.client, namespace) == [], "a second worker adds nothing"
        assert await ensure_search_attributes(env.client, namespace, register=False) == [], "present: it starts"
    finally:
        await env.shutdown()


async def test_the_worker_refuses_attributes_of_another_type_and_waits_a_bounded_time_for_a_namespace() -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(stack.temporal_binary()))
    try:
        namespace = env.client.namespace
        # Someone registered one of ours as another type: upserts would fail every journey's workflow task.
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=namespace, search_attributes={"JourneyStage": IndexedValueType.INDEXED_VALUE_TYPE_INT}))  # fmt: skip
        with pytest.raises(SearchAttributesUnusable) as clash:
            await ensure_search_attributes(env.client, namespace)
        assert "JourneyStage is Int, not Keyword" in str(clash.value)
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace))  # fmt: skip
        assert "BesitosLevel" not in listed.custom_attributes, "nothing added"

        # No room left: SQL visibility has three Datetime columns, here all taken by others.
        await env.client.operator_service.remove_search_attributes(RemoveSearchAttributesRequest(
            namespace=namespace, search_attributes=["JourneyStage"]))  # fmt: skip
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=namespace, search_attributes={f"Other{n}": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
                                                    for n in range(3)}))  # fmt: skip
        with pytest.raises(SearchAttributesUnusable) as full:
            await ensure_search_attributes(env.client, namespace)
        assert "Temporal refused the journey's search attributes" in str(full.value)
        assert f"remove --namespace {namespace} --name <unused>" in str(full.value)

        # A namespace that is not there (yet): asked again, then a clear refusal naming it.
        started = asyncio.get_running_loop().time()
        with pytest.raises(SearchAttributesUnusable) as absent:
            await ensure_search_attributes(env.client, "diana-nowhere", patience=2)
        assert asyncio.get_running_loop().time() - started >= 1.5, "it waited for the namespace"
        assert "namespace diana-nowhere is not ready" in str(absent.value)
        assert "temporal operator namespace create --namespace diana-nowhere" in str(absent.value)
    finally:
        await env.shutdown()


# Temporal over TLS ----------------------------------------------------------------------------------------

TEMPORAL_HOST: Final = "temporal.diana.test"


@dataclass(frozen=True)
class TLSFiles:
    server_ca: Path
    client_cert: Path
    client_key: Path


@pytest.fixture
async def temporal_behind_tls(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[tuple[str, TLSFiles]]:
    """The test Temporal server behind a TLS terminator that also asks for a client certificate (mTLS),
    as a cluster's ingress or Temporal Cloud does; the dev server itself speaks no TLS."""
    server_ca, client_ca = trustme.CA(), trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ca.issue_cert(TEMPORAL_HOST).configure_cert(context)
    client_ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])  # gRPC
    host, port = temporal_env.client.service_client.config.target_host.rsplit(":", 1)

    async def relay(tls_reader: asyncio.StreamReader, tls_writer: asyncio.StreamWriter) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(tls_reader, writer), pipe(reader, tls_writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    files = TLSFiles(tmp_path / "ca.pem", tmp_path / "worker.pem", tmp_path / "worker.key")
    server_ca.cert_pem.write_to_path(str(files.server_ca))
    client = client_ca.issue_cert("diana-worker")
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}", files
    finally:
        server.close()
        await server.wait_closed()


async def test_temporal_is_reached_over_mutual_tls_and_refused_without_it(
    temporal_behind_tls: tuple[str, TLSFiles], temporal_env: WorkflowEnvironment
) -> None:
    address, files = temporal_behind_tls
    env: dict[str, Any] = {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": temporal_env.client.namespace,
           "TEMPORAL_TLS_SERVER_CA": str(files.server_ca), "TEMPORAL_TLS_SERVER_NAME": TEMPORAL_HOST}  # fmt: skip
    mutual = Settings(_env_file=None, **env, TEMPORAL_TLS_CERT=str(files.client_cert),
                      TEMPORAL_TLS_KEY=str(files.client_key))  # fmt: skip
    client = await connect_temporal(mutual)
    # A real round trip through TLS: the journeys' attributes, registered on the server behind it.
    assert await ensure_search_attributes(client, client.namespace, register=False) == []

    refused = {
        "no client certificate": Settings(_env_file=None, **env),
        # Everything but the CA: the system's roots do not know the server's certificate.
        "an unknown server CA": Settings(
            _env_file=None,
            TEMPORAL_ADDRESS=address,
            TEMPORAL_TLS_SERVER_NAME=TEMPORAL_HOST,
            TEMPORAL_TLS_CERT=str(files.client_cert),
            TEMPORAL_TLS_KEY=str(files.client_key),
        ),
        "plain text": Settings(_env_file=None, TEMPORAL_ADDRESS=address),
    }
    for why, settings in refused.items():
        try:
            await asyncio.wait_for(connect_temporal(settings), timeout=30)
        except RuntimeError as error:
            assert "connect" in str(error), why
        else:
            pytest.fail(f"connected with {why}")


class TestTemporalTLSSettings:
    def test_an_api_key_means_tls_and_stays_secret(self) -> None:
        settings = Settings(_env_file=None, TEMPORAL_ADDRESS="ns.acct.tmprl.cloud:7233", TEMPORAL_API_KEY="k-123")
        assert settings.temporal_uses_tls and temporal_tls(settings) is True, "TLS with the system's roots"
        assert "k-123" not in repr(settings)
        assert temporal_tls(Settings(_env_file=None)) is False, "the embedded server: plain"

    def test_inconsistent_tls_settings_are_refused_by_name(self, tmp_path: Path) -> None:
        pem = tmp_path / "worker.pem"
        pem.write_text("-----BEGIN CERTIFICATE-----\n")
        cases: dict[str, dict[str, Any]] = {
            "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together": {"TEMPORAL_TLS_CERT": str(pem)},
            "TEMPORAL_TLS=false contradicts TEMPORAL_API_KEY": {"TEMPORAL_TLS": "false", "TEMPORAL_API_KEY": "k"},
            "needs TEMPORAL_ADDRESS": {"TEMPORAL_API_KEY": "k", "TEMPORAL_ADDRESS": ""},
            "TEMPORAL_TLS_SERVER_CA": {"TEMPORAL_TLS_SERVER_CA": str(tmp_path / "missing.pem")},
        }
        for message, values in cases.items():
            with pytest.raises(ValueError, match=message):
                Settings(_env_file=None, **{"TEMPORAL_ADDRESS": "temporal:7233", **values})

    def test_empty_tls_values_are_unset(self) -> None:
        """``TEMPORAL_TLS_CERT=`` as a compose file or ``.env`` leaves it: not set, not a file named ''."""
        blank: dict[str, Any] = {name: "" for name in ("TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_TLS_CERT",
                                 "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_SERVER_CA", "TEMPORAL_TLS_SERVER_NAME")}  # fmt: skip
        settings = Settings(_env_file=None, TEMPORAL_ADDRESS="temporal:7233", **blank)
        assert not settings.temporal_uses_tls and temporal_tls(settings) is False


class TestSettings:
    def test_embedded_defaults(self, tmp_path: Path) -> None:
        settings = Settings(_env_file=None, DIANA_DATA_DIR=tmp_path)
        assert settings.temporal_target == "127.0.0.1:7233"
        # Before `diana up` generated the passwords, the URLs carry none (the servers refuse them).
        assert settings.postgres_dsn == f"postgresql://{APP_ROLE}@127.0.0.1:55432/diana"
        assert settings.postgres_owner_dsn == "postgresql://postgres@127.0.0.1:55432/diana"
        assert settings.redis_dsn == "redis://127.0.0.1:56379/0"
        assert settings.bot_api_base == "http://127.0.0.1:8081"
        assert settings.bot_token == EMULATOR_BOT_TOKEN

    def test_the_embedded_urls_carry_the_generated_passwords_and_no_repr_shows_them(self, tmp_path: Path) -> None:
        settings = Settings(_env_file=None, DIANA_DATA_DIR=tmp_path)
        generated = {name: stack.generated_password(settings, name) for name in ("postgres-owner", "postgres-app",
                                                                                 "redis")}  # fmt: skip
        assert len(set(generated.values())) == 3
        app, owner = urlsplit(settings.postgres_dsn), urlsplit(settings.postgres_owner_dsn)
        cache = urlsplit(settings.redis_dsn)
        assert (app.username, app.password) == (APP_ROLE, generated["postgres-app"])
        assert (owner.username, owner.password) == ("postgres", generated["postgres-owner"])
        assert cache.password == generated["redis"] and (cache.hostname, cache.port) == ("127.0.0.1", 56379)
        assert stack.generated_password(settings, "redis") == generated["redis"], "made once, then read"
        shown = repr(settings) + settings.model_dump_json()
        assert not any(password in shown for password in generated.values())
        assert set(generated.values()) <= set(secrets_of(settings)), "and the logs scrub them"
        # An external server's URL is the one given, for the application and for the migrations alike.
        external = Settings(_env_file=None, DIANA_DATA_DIR=tmp_path, DATABASE_URL="postgresql://diana@db/diana",
                            REDIS_URL="redis://cache:6379/0")  # fmt: skip
        assert external.postgres_dsn == external.postgres_owner_dsn == "postgresql://diana@db/diana"
        assert external.redis_dsn == "redis://cache:6379/0"

    def test_external_servers_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
        monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/diana")
        monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "42:REAL")
        settings = Settings(_env_file=None)
        assert settings.temporal_target == "temporal.internal:7233"
        assert settings.temporal_ui_url is None
        assert settings.postgres_dsn == "postgresql://u:p@db/diana"
        assert settings.redis_dsn == "redis://cache:6379/1"
        assert settings.bot_api_base == "https://api.telegram.org"
        assert settings.bot_token == "42:REAL"
        assert "42:REAL" not in repr(settings), "the token never shows in logs"

    def test_another_bot_api_server_without_a_token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:9999/")
        settings = Settings(_env_file=None)
        assert not settings.uses_emulator, "the bot talks to that server, not to a private emulator"
        assert settings.bot_api_base == "http://127.0.0.1:9999"

    def test_bad_configuration_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BOT_MODE", "carrier-pigeon")
        with pytest.raises(ValueError, match="BOT_MODE"):
            Settings(_env_file=None)

    def test_a_database_password_apart_may_hold_any_character(self) -> None:
        password = "p@ss/w:rd#1+ ?%="
        settings = Settings(_env_file=None, DATABASE_URL="postgresql://diana@db.internal:5432/diana",
                            DATABASE_PASSWORD=password)  # fmt: skip
        url = urlsplit(settings.postgres_dsn)
        # asyncpg reads the URL so: user, password and host unescaped (connect_utils._parse_connect_dsn_and_args).
        assert (unquote(url.username or ""), unquote(url.password or "")) == ("diana", password)
        assert (url.hostname, url.port, url.path) == ("db.internal", 5432, "/diana")
        alone = Settings(_env_file=None, DATABASE_URL="postgresql:///diana?host=/run/postgresql")
        assert alone.postgres_dsn == "postgresql:///diana?host=/run/postgresql", "a URL alone is left as given"
        with pytest.raises(ValueError, match="not both"):
            Settings(_env_file=None, DATABASE_URL="postgresql://u:in-the-url@db/diana", DATABASE_PASSWORD="x")
        with pytest.raises(ValueError, match="DATABASE_PASSWORD needs DATABASE_URL"):
            Settings(_env_file=None, DATABASE_PASSWORD="x")

    @pytest.mark.parametrize("secret", ["abc+/def=", "with space", "x" * 257, "ñandú"])
    def test_a_webhook_secret_telegram_would_refuse_is_refused_here(self, secret: str) -> None:
        with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
            Settings(_env_file=None, WEBHOOK_SECRET=secret)

    def test_a_webhook_secret_telegram_takes(self) -> None:
        secret = "0123abcdef" * 6 + "_-"
        settings = Settings(_env_file=None, WEBHOOK_SECRET=secret)
        assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == secret

    @pytest.mark.parametrize("url", ["https://bot.example.com", "https://bot.example.com/", "http://bot.example.com/telegram/webhook",
                                     "https://bot.example.com/telegram/webhook/extra"])  # fmt: skip
    def test_a_webhook_url_telegram_could_not_deliver_to_is_refused(self, url: str) -> None:
        with pytest.raises(ValueError, match="WEBHOOK_URL must"):
            Settings(_env_file=None, BOT_MODE="webhook", TELEGRAM_BOT_TOKEN="42:REAL", WEBHOOK_URL=url)

    def test_a_webhook_url_that_reaches_the_listener(self) -> None:
        real = Settings(_env_file=None, BOT_MODE="webhook", TELEGRAM_BOT_TOKEN="42:REAL",
                        WEBHOOK_URL="https://bot.example.com:8443/telegram/webhook")  # fmt: skip
        assert real.webhook_url == "https://bot.example.com:8443/telegram/webhook"
        # Behind a proxy that strips its own prefix.
        Settings(_env_file=None, BOT_MODE="webhook", TELEGRAM_BOT_TOKEN="42:REAL",
                 WEBHOOK_URL="https://example.com/diana/telegram/webhook")  # fmt: skip
        # The emulator posts over plain HTTP, as the tests and the benchmark use it.
        Settings(_env_file=None, BOT_MODE="webhook", WEBHOOK_URL="http://127.0.0.1:8443/telegram/webhook")

    def test_empty_optional_values_are_unset(self) -> None:
        settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="42:REAL", VIP_CHANNEL_ID="", DATABASE_PASSWORD="",
                            OTEL_EXPORTER_OTLP_ENDPOINT="", WEBHOOK_SECRET="", WEBHOOK_URL="")  # fmt: skip
        assert settings.vip_channel_id is None and settings.database_password is None
        assert settings.otel_exporter_otlp_endpoint is None and settings.webhook_secret is None


def compose_settings(service: str, given: dict[str, str]) -> Settings:
    """The settings ``service`` runs with under ``docker compose up``, with ``given`` as the operator's variables.

    Interpolates ``${NAME:?message}`` (an error when not given) and ``${NAME:-default}`` as compose does.
    """

    def interpolate(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if given.get(name):
            return given[name]
        if kind == ":?":
            raise LookupError(f"compose refuses to start {service}: {rest}")
        return rest

    environment = compose_services()[service]["environment"]
    resolved: dict[str, Any] = {key: re.sub(r"\$\{(\w+)(:\?|:-)([^}]*)\}", interpolate, str(value))
                for key, value in environment.items()}  # fmt: skip
    return Settings(_env_file=None, **resolved)


class TestComposeEnvironment:
    """What the bot and the workers would run with: compose's variables read by the real Settings."""

    operator: Final = {"TELEGRAM_BOT_TOKEN": "123456:REAL-TOKEN", "DIANA_DB_PASSWORD": "p@ss/word+1",
                       "DIANA_APP_DB_PASSWORD": "app p@ss/word+2", "DIANA_REDIS_PASSWORD": "0123abcdef" * 4,
                       "TEMPORAL_DB_PASSWORD": "t", "WEBHOOK_URL": "https://bot.example.com/telegram/webhook",
                       "WEBHOOK_SECRET": "a" * 32, "ADMIN_IDS": "111,222", "COMMUNITY_CHANNEL_IDS": "-1001",
                       "VIP_CHANNEL_ID": "-1002", "DIANA_MASTER_KEY": "ZGlhbmEtY29tcG9zZS10ZXN0LW1hc3Rlci1rZXktMzI="}  # fmt: skip

    @pytest.mark.parametrize("service", ["worker", "bot", "migrate"])
    def test_every_part_talks_to_telegram_as_the_bot_with_the_community_configured(self, service: str) -> None:
        settings = compose_settings(service, self.operator)
        # The worker sends notices, invoices, invite links and broadcasts: never to an emulator.
        assert not settings.uses_emulator and settings.bot_token == "123456:REAL-TOKEN"
        assert settings.admin_ids == {111, 222} and settings.community_channel_ids == (-1001,)
        assert settings.vip_channel_id == -1002
        assert urlsplit(settings.postgres_dsn).hostname == "postgres" and settings.temporal_target == "temporal:7233"
        redis_url = urlsplit(settings.redis_dsn)
        assert (redis_url.hostname, redis_url.port, redis_url.password) == ("redis", 6379, "0123abcdef" * 4)
        assert master_keys(settings).current == parse_master_key(self.operator["DIANA_MASTER_KEY"])

    @pytest.mark.parametrize(("service", "role", "password"), [("bot", APP_ROLE, "DIANA_APP_DB_PASSWORD"),
                                                                 ("worker", APP_ROLE, "DIANA_APP_DB_PASSWORD"),
                                                                 ("migrate", "diana", "DIANA_DB_PASSWORD")])  # fmt: skip
    def test_the_bot_and_the_workers_connect_as_the_application_role_and_only_migrations_as_the_owner(
        self, service: str, role: str, password: str
    ) -> None:
        url = urlsplit(compose_settings(service, self.operator).postgres_dsn)
        assert (unquote(url.username or ""), unquote(url.password or "")) == (role, self.operator[password])
        owner = compose_services()["postgres"]["environment"]
        assert owner["POSTGRES_USER"] == "diana" and owner["POSTGRES_PASSWORD"].startswith("${DIANA_DB_PASSWORD:?")

    def test_postgres_makes_the_application_role_with_its_own_password(self) -> None:
        postgres = compose_services()["postgres"]
        assert postgres["environment"]["DIANA_APP_DB_PASSWORD"].startswith("${DIANA_APP_DB_PASSWORD:?")
        mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
        script = REPO_ROOT / mounted["/docker-entrypoint-initdb.d/10-diana-app-role.sh"]
        assert script.is_file() and os.access(script, os.X_OK), "run by the image, not sourced"
        assert f"CREATE ROLE {APP_ROLE};" in script.read_text() and "NOSUPERUSER" in script.read_text()
        # Ready once the init scripts ran: over TCP (the image's first server listens on its socket only).
        assert "-h 127.0.0.1" in postgres["healthcheck"]["test"][1]
        assert compose_services()["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"

    def test_redis_asks_for_its_password_and_its_health_check_gives_it(self) -> None:
        redis = compose_services()["redis"]
        given = redis["command"][redis["command"].index("--requirepass") + 1]
        assert given == redis["environment"]["REDISCLI_AUTH"] == "${DIANA_REDIS_PASSWORD:?set DIANA_REDIS_PASSWORD}"
        assert redis["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]

    def test_optional_variables_may_be_left_out(self) -> None:
        required = {name: self.operator[name] for name in ("TELEGRAM_BOT_TOKEN", "DIANA_DB_PASSWORD",
                                                           "DIANA_APP_DB_PASSWORD", "DIANA_REDIS_PASSWORD",
                                                           "WEBHOOK_URL", "WEBHOOK_SECRET", "DIANA_MASTER_KEY")}  # fmt: skip
        settings = compose_settings("bot", required)
        assert settings.admin_ids == frozenset() and settings.vip_channel_id is None
        assert settings.otel_exporter == "none"

    @pytest.mark.parametrize(
        "missing", ["TELEGRAM_BOT_TOKEN", "DIANA_APP_DB_PASSWORD", "DIANA_REDIS_PASSWORD", "DIANA_MASTER_KEY"]
    )
    def test_compose_refuses_to_start_without_the_secrets(self, missing: str) -> None:
        with pytest.raises(LookupError, match=missing):
            compose_settings("worker", {name: value for name, value in self.operator.items() if name != missing})
        with pytest.raises(LookupError, match="DIANA_DB_PASSWORD"):
            compose_settings("migrate", {name: value for name, value in self.operator.items()
                                         if name != "DIANA_DB_PASSWORD"})  # fmt: skip


# The compose stack's secrets, run for real where they can be: the init script and Redis's health check ------------


def run_shell(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``command`` with ``env`` alone (and a PATH to Postgres's and Redis's clients), as in the container."""
    path = os.pathsep.join([str(stack._postgres_bin("psql").parent), str(stack._redis_binary().parent), "/usr/bin",
                            "/bin"])  # fmt: skip
    return subprocess.run(command, env={"PATH": path, **env}, capture_output=True, text=True, timeout=60)


async def test_the_init_script_makes_an_application_role_the_migrations_grant_rows_to(tmp_path: Path) -> None:
    """What the postgres image runs on an empty volume, against a Postgres of this test's own (its superuser standing
    for the image's): a role that logs in with DIANA_APP_DB_PASSWORD, is no superuser, and after the migrations (the
    migrate service) may use the rows; run again (an older volume, a new password), it changes the password only."""
    settings = hermetic.embedded_settings(tmp_path, DIANA_POSTGRES_PORT=stack.free_port())
    await asyncio.to_thread(hermetic.start_postgres, settings)
    try:
        owner = await asyncpg.connect(settings.postgres_owner_dsn)
        try:  # as on a fresh volume: no application role yet
            await owner.execute(f"DROP OWNED BY {APP_ROLE}; DROP ROLE {APP_ROLE}")
        finally:
            await owner.close()
        script = str(REPO_ROOT / "infra" / "compose" / "app-role.sh")
        image = {"POSTGRES_USER": "postgres", "POSTGRES_DB": "diana", "PGHOST": "127.0.0.1",
                 "PGPORT": str(settings.embedded_postgres_port),
                 "PGPASSWORD": settings.embedded_password("postgres-owner") or ""}  # fmt: skip
        refused = await asyncio.to_thread(run_shell, ["sh", script], image)
        assert refused.returncode != 0 and "set DIANA_APP_DB_PASSWORD" in refused.stderr
        for password in ("first p@ss'word", "second/pass"):
            done = await asyncio.to_thread(run_shell, [script], {**image, "DIANA_APP_DB_PASSWORD": password})
            assert done.returncode == 0, done.stderr
        app_dsn = f"postgresql://{APP_ROLE}:second%2Fpass@127.0.0.1:{settings.embedded_postgres_port}/diana"
        app = await asyncpg.connect(hermetic.own_postgres(app_dsn))
        try:
            assert await app.fetchval("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
                                      "WHERE rolname = current_user") is False  # fmt: skip
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.fetchval("SELECT count(*) FROM users")
            owner = await asyncpg.connect(settings.postgres_owner_dsn)
            try:
                await migrate(owner)  # what the migrate service does, as the owner
            finally:
                await owner.close()
            assert await app.fetchval("SELECT count(*) FROM users") == 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("DELETE FROM audit_log")
        finally:
            await app.close()
    finally:
        await asyncio.to_thread(stack.stop_postgres, settings)


def test_the_redis_health_check_passes_with_the_password_only(tmp_path: Path) -> None:
    settings = hermetic.embedded_settings(tmp_path, DIANA_REDIS_PORT=stack.free_port())
    hermetic.start_redis(settings)
    try:
        check = compose_services()["redis"]["healthcheck"]["test"][1]
        here = check.replace("redis-cli", f"redis-cli -p {settings.embedded_redis_port}")
        password = settings.embedded_password("redis") or ""
        assert run_shell(["sh", "-c", here], {"REDISCLI_AUTH": password}).returncode == 0
        assert run_shell(["sh", "-c", here], {"REDISCLI_AUTH": "wrong"}).returncode != 0
        assert run_shell(["sh", "-c", here], {}).returncode != 0
    finally:
        stack.stop_redis(settings)
