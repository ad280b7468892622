"""Deployment files and configuration that cannot run here are still checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from infra import stack
from infra.connections import ensure_search_attributes
from infra.settings import EMULATOR_BOT_TOKEN, Settings
from tests.helpers import REPO_ROOT
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


async def test_the_worker_registers_search_attributes_on_a_bare_server() -> None:
    """A Temporal server started without our attributes (external, or started by someone else)."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(stack.temporal_binary()))
    try:
        namespace = env.client.namespace
        assert await ensure_search_attributes(env.client, namespace) == sorted(REGISTRATION)
        assert await ensure_search_attributes(env.client, namespace) == [], "a second worker adds nothing"
    finally:
        await env.shutdown()


class TestSettings:
    def test_embedded_defaults(self) -> None:
        settings = Settings(_env_file=None)
        assert settings.temporal_target == "127.0.0.1:7233"
        assert settings.postgres_dsn == "postgresql://postgres@127.0.0.1:55432/diana"
        assert settings.bot_api_base == "http://127.0.0.1:8081"
        assert settings.bot_token == EMULATOR_BOT_TOKEN

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
