"""The embedded stack: idempotent start, clean stop, and journeys that survive a Temporal restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from infra.settings import Settings, get_settings
from tests import hermetic
from tests.helpers import new_user_id
from tools import stack
from tools.cli import main as diana
from workflows.contracts import JourneyInput
from workflows.journey import JourneyWorkflow, journey_id


def settings_in(folder: Path) -> Settings:
    temporal, ui, postgres, redis = stack.free_ports(4)
    return hermetic.embedded_settings(folder, DIANA_TEMPORAL_PORT=temporal, DIANA_TEMPORAL_UI_PORT=ui,
                                      DIANA_POSTGRES_PORT=postgres, DIANA_REDIS_PORT=redis)  # fmt: skip


async def test_temporal_keeps_journeys_across_a_restart(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    user_id = new_user_id()
    assert stack.start_temporal(settings) is True
    try:
        assert stack.start_temporal(settings) is False, "a second start reuses the running server"
        client = await Client.connect(settings.temporal_target, data_converter=pydantic_data_converter)
        async with Worker(client, task_queue="restart", workflows=[JourneyWorkflow]):
            await client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=user_id), id=journey_id(user_id),
                                        task_queue="restart")  # fmt: skip
        assert stack.stop_temporal(settings) is True
        assert not stack.temporal_endpoint(settings).answers()

        stack.start_temporal(settings)
        client = await Client.connect(settings.temporal_target, data_converter=pydantic_data_converter)
        description = await client.get_workflow_handle(journey_id(user_id)).describe()
        assert description.status is not None and description.status.name == "RUNNING"
        assert (tmp_path / "temporal" / "temporal.db").exists()
    finally:
        stack.stop_temporal(settings)


def test_redis_up_is_idempotent_and_down_stops_it(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert stack.start_redis(settings) is True
    try:
        assert stack.start_redis(settings) is False
        assert stack.redis_endpoint(settings).answers()
    finally:
        assert stack.stop_redis(settings) is True
    assert not stack.redis_endpoint(settings).answers()
    assert stack.stop_redis(settings) is False, "stopping twice is harmless"


def test_cli_refuses_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        diana(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        diana(["migrate", "--to", "two"])


def test_diana_up_twice_then_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The CLI path a newcomer takes: `diana up` starts everything, again reuses it, `down` stops it."""
    monkeypatch.chdir(tmp_path)  # the CLI reads .env from here: none, the suite's servers only
    ports = stack.free_ports(4)
    for name, value in (
        ("DIANA_DATA_DIR", str(tmp_path)),
        ("DIANA_TEMPORAL_PORT", str(ports[0])),
        ("DIANA_TEMPORAL_UI_PORT", str(ports[1])),
        ("DIANA_POSTGRES_PORT", str(ports[2])),
        ("DIANA_REDIS_PORT", str(ports[3])),
    ):
        monkeypatch.setenv(name, value)
    for name in ("TEMPORAL_ADDRESS", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        assert diana(["up"]) == 0
        first = capsys.readouterr().out
        assert first.count("started") == 3 and "Temporal UI: http://127.0.0.1:" in first
        assert diana(["up"]) == 0
        assert capsys.readouterr().out.count("already running") == 3
        assert diana(["status"]) == 0
        assert capsys.readouterr().out.count("answers") == 3
    finally:
        assert diana(["down"]) == 0
        get_settings.cache_clear()
    assert capsys.readouterr().out.count(": stopped") == 3
    assert diana(["down"]) == 0
    assert capsys.readouterr().out.count("was not running") == 3
    assert (tmp_path / "postgres" / "PG_VERSION").exists() and (tmp_path / "temporal" / "temporal.db").exists()


def test_cli_explains_an_unreachable_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{stack.free_port()}/diana")
    get_settings.cache_clear()
    try:
        assert diana(["migrate"]) == 1
    finally:
        get_settings.cache_clear()
    assert "cannot reach a server" in capsys.readouterr().err
