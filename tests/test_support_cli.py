"""Support staff's tools against the real stack: show, history, replay, reset (with the projection repaired),
and every change (grant, restart-story, ban, export, erase) applied once and audited."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from adapters import staff
from adapters.audit import write_audit
from adapters.journeys import JourneyRejected, Journeys
from tests import hermetic
from tests.helpers import REPO_ROOT, new_user_id, request, settled
from tests.test_story_economy import WARM, begin, ledger_sum, walk
from tools import support, support_cli
from tools.emulator import BotAPIEmulator
from workflows.contracts import LEADERBOARD_ALL_TIME, JourneyError, JourneyInput
from workflows.journey import JourneyWorkflow, journey_id


async def cli(client: Client, pool: asyncpg.Pool, *argv: str, redis_dsn: str = "redis://127.0.0.1:1/0") -> int:
    """``diana-support`` in-process, against the test's own Temporal client and database."""
    args = support_cli.parser().parse_args(["--actor", "support:test", *argv])
    return await support_cli._command(args, hermetic.settings(REDIS_URL=redis_dsn), client, pool)


async def played(journeys: Journeys, client: Client, emulator: BotAPIEmulator, actions: tuple[str, ...] = WARM[:3]
                 ) -> int:  # fmt: skip
    user_id = new_user_id()
    await emulator.user_sends_text(user_id, "hola", first_name="Ana")  # the private chat exists for notices
    reply = await begin(journeys, user_id)
    await walk(journeys, user_id, reply, actions)
    await settled(client, user_id)
    return user_id


async def audit_rows(pool: asyncpg.Pool, user_id: int) -> list[tuple[str, str, str]]:
    rows = await pool.fetch("SELECT actor, action, reason FROM audit_log WHERE subject = $1 ORDER BY id",
                            f"user:{user_id}")  # fmt: skip
    return [(row["actor"], row["action"], row["reason"]) for row in rows]


async def test_show_puts_the_journey_beside_postgres_and_names_a_disagreement(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    user_id = await played(journeys, client, emulator)
    assert await cli(client, pool, "show", str(user_id)) == 0
    shown = capsys.readouterr().out
    assert f"journey-{user_id} (Ana @ana): running" in shown and "Postgres agrees with the journey." in shown
    state = await settled(client, user_id)
    assert f"besitos {state.besitos}" in shown and f"story at {state.story.fragment_id}" in shown

    await pool.execute("DELETE FROM user_missions WHERE telegram_user_id = $1", user_id)
    assert await cli(client, pool, "show", str(user_id)) == 1
    assert f"missions: journey {sorted(state.missions)!r}, postgres []" in capsys.readouterr().out


async def test_history_exports_and_replays_and_a_tampered_history_names_the_event(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    user_id = await played(journeys, client, emulator)
    out = tmp_path / "journey.json"
    assert await cli(client, pool, "history", str(user_id), "--out", str(out)) == 0
    assert out.stat().st_mode & 0o777 == 0o600, "a support file is readable by its owner only"
    assert await cli(client, pool, "replay", str(out)) == 0
    assert await cli(client, pool, "replay", str(user_id)) == 0
    assert "without nondeterminism" in capsys.readouterr().out

    # A deploy that renamed an activity: today's code runs another one than the history did (here the turn's
    # projection, a local activity, whose name the history keeps in its marker).
    history = json.loads(out.read_text())
    event = next(e for e in history["events"]
                 if e.get("markerRecordedEventAttributes", {}).get("markerName") == "core_local_activity")  # fmt: skip
    payload = event["markerRecordedEventAttributes"]["details"]["data"]["payloads"][0]
    marker = json.loads(base64.b64decode(payload["data"]))
    assert marker["activity_type"] == "record_projection"
    payload["data"] = base64.b64encode(
        json.dumps({**marker, "activity_type": "record_projection_v0"}).encode()
    ).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(history))
    assert await cli(client, pool, "replay", str(tampered)) == 1
    said = capsys.readouterr().out
    assert "NOT deterministic" in said and "record_projection" in said
    assert f"(event {event['eventId']}, MARKER_RECORDED)" in said

    with pytest.raises(staff.SupportError, match="not a workflow history"):
        (tmp_path / "bad.json").write_text("{}")
        await cli(client, pool, "replay", str(tmp_path / "bad.json"))


async def test_a_reset_with_the_updates_reapplied_charges_awards_and_sends_nothing_twice(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, redis: Redis, emulator: BotAPIEmulator,
    redis_server: str, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    user_id = await played(journeys, client, emulator)
    before = await settled(client, user_id)
    rows_before = await pool.fetchval("SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1", user_id)
    sent_before = await pool.fetchval("SELECT count(*) FROM notifications WHERE telegram_user_id = $1", user_id)
    messages_before = len(emulator.chats[user_id].transcript)
    old_run = (await client.get_workflow_handle(journey_id(user_id)).describe()).run_id

    code = await cli(client, pool, "reset", str(user_id), "--to", "first", "--reason", "replaying after a fix",
                     redis_dsn=redis_server)  # fmt: skip
    said = capsys.readouterr().out
    assert code == 0, said

    after = await settled(client, user_id)
    assert (await client.get_workflow_handle(journey_id(user_id)).describe()).run_id != old_run
    assert (after.besitos, after.story.fragment_id, after.achievements) == (
        before.besitos,
        before.story.fragment_id,
        before.achievements,
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1", user_id) == rows_before
    )
    assert await ledger_sum(pool, user_id) == after.besitos
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE telegram_user_id = $1", user_id) == sent_before
    assert len(emulator.chats[user_id].transcript) == messages_before
    assert (await staff.view(client, pool, user_id)).disagreements == []
    assert [row[1] for row in await audit_rows(pool, user_id)] == ["reset", "reset repaired"]


async def test_a_reset_that_drops_later_updates_reverses_their_ledger_rows_and_repairs_the_projection(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, redis: Redis, emulator: BotAPIEmulator,
    redis_server: str, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    user_id = await played(journeys, client, emulator, actions=())
    at_menu = await settled(client, user_id)
    seen = len((await client.get_workflow_handle(journey_id(user_id)).fetch_history()).events)
    reply = await journeys.interact(request(user_id, "menu"))
    await walk(journeys, user_id, reply, WARM[:5])  # decisions, fragments, achievements, missions
    played_on = await settled(client, user_id)
    assert played_on.besitos > at_menu.besitos and played_on.story.decisions == 2
    # Reset to the workflow task of the first turn after the menu: it runs again, without its Update.
    history = await client.get_workflow_handle(journey_id(user_id)).fetch_history()
    point = support.reset_point(history.events, str(next(
        e.event_id for e in history.events if e.event_id > seen and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)))  # fmt: skip
    ledger_rows = await pool.fetchval("SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1", user_id)

    code = await cli(client, pool, "reset", str(user_id), "--to", str(point.event_id), "--no-reapply", "--reason",
                     "the story branch was broken", redis_dsn=redis_server)  # fmt: skip
    said = capsys.readouterr().out
    assert code == 0, said

    after = await settled(client, user_id)
    assert after.story.decisions == 0 and after.story.fragment_id is None
    assert after.besitos < played_on.besitos
    # Discarded rows stay (the ledger is append-only) and are reversed by new ones.
    reversals = await pool.fetch("SELECT amount, context FROM besitos_ledger WHERE telegram_user_id = $1 "
                                 "AND action = 'reset_correction'", user_id)  # fmt: skip
    assert reversals and all(row["amount"] < 0 for row in reversals)
    assert await pool.fetchval("SELECT count(*) FROM besitos_ledger WHERE telegram_user_id = $1",
                               user_id) == ledger_rows + len(reversals)  # fmt: skip
    assert await ledger_sum(pool, user_id) == after.besitos
    assert await pool.fetchval("SELECT count(*) FROM story_decisions WHERE telegram_user_id = $1", user_id) == 0
    assert {r["code"] for r in await pool.fetch("SELECT code FROM user_achievements WHERE telegram_user_id = $1",
                                                user_id)} == set(after.achievements)  # fmt: skip
    assert (await staff.view(client, pool, user_id)).disagreements == []
    assert await redis.zscore(LEADERBOARD_ALL_TIME, str(user_id)) == after.lifetime_besitos
    assert "reversed: its branch was discarded by a reset" in said and "Postgres agrees" in said

    # The user plays on from the reset point and Postgres follows (the story's next save wins).
    reply = await journeys.interact(request(user_id, "menu"))
    await walk(journeys, user_id, reply, WARM[:2])
    resumed = await settled(client, user_id)
    assert (await staff.view(client, pool, user_id)).disagreements == []
    assert await ledger_sum(pool, user_id) == resumed.besitos


async def test_bad_resets_are_refused_and_change_nothing(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator,
) -> None:  # fmt: skip
    user_id = await played(journeys, client, emulator)
    run_id = (await client.get_workflow_handle(journey_id(user_id)).describe()).run_id
    with pytest.raises(staff.SupportError, match=r"event 5 is a WORKFLOW_EXECUTION_UPDATE_ACCEPTED event; .*"
                                                   r"the nearest are 4 and \d+"):  # fmt: skip
        await cli(client, pool, "reset", str(user_id), "--to", "5", "--reason", "oops")
    with pytest.raises(staff.SupportError, match="not in this run's history"):
        await cli(client, pool, "reset", str(user_id), "--to", "99999", "--reason", "oops")
    with pytest.raises(staff.SupportError, match="--to takes"):
        await cli(client, pool, "reset", str(user_id), "--to", "yesterday", "--reason", "oops")
    with pytest.raises(staff.SupportError, match=f"no journey for user {user_id + 1}"):
        await cli(client, pool, "reset", str(user_id + 1), "--to", "last", "--reason", "oops")
    with pytest.raises(SystemExit):
        await cli(client, pool, "reset", str(user_id), "--to", "last")  # no reason
    assert (await client.get_workflow_handle(journey_id(user_id)).describe()).run_id == run_id
    assert await audit_rows(pool, user_id) == []


async def test_grant_restart_ban_export_and_erase_apply_once_and_are_audited(
    journeys: Journeys, client: Client, pool: asyncpg.Pool, emulator: BotAPIEmulator, tmp_path: Path,
) -> None:  # fmt: skip
    user_id = await played(journeys, client, emulator)
    before = await settled(client, user_id)
    assert await cli(client, pool, "grant", str(user_id), "250", "--reason", "apology for the outage") == 0
    granted = await settled(client, user_id)
    assert granted.besitos >= before.besitos + 250 and await ledger_sum(pool, user_id) == granted.besitos
    assert "250" in emulator.chats[user_id].transcript[-1]["text"]
    assert await cli(client, pool, "grant", str(user_id), "-100", "--reason", "a grant made twice by mistake") == 0
    assert (await settled(client, user_id)).besitos == granted.besitos - 100
    with pytest.raises(staff.SupportError, match="cannot be taken"):
        await cli(client, pool, "grant", str(user_id), str(-(10**5)), "--reason", "too much")

    assert await cli(client, pool, "restart-story", str(user_id), "--reason", "stuck in a loop") == 0
    restarted = await settled(client, user_id)
    assert restarted.story.fragment_id == "f01" and restarted.story.playthrough == before.story.playthrough + 1

    assert await cli(client, pool, "ban", str(user_id), "--reason", "spam in the channel") == 0
    await settled(client, user_id)
    assert await pool.fetchval("SELECT banned_at IS NOT NULL FROM users WHERE telegram_user_id = $1", user_id)
    with pytest.raises(JourneyRejected) as refused:
        await journeys.interact(request(user_id, "menu"))
    assert refused.value.kind == JourneyError.BANNED
    assert await cli(client, pool, "unban", str(user_id), "--reason", "appeal accepted") == 0
    await journeys.interact(request(user_id, "menu"))

    out = tmp_path / "export.json"
    out.write_text("old")
    out.chmod(0o644)
    assert await cli(client, pool, "export", str(user_id), "--out", str(out), "--reason", "the user asked by mail") == 0
    assert out.stat().st_mode & 0o777 == 0o600, "an existing file keeps no wider mode"
    exported: dict[str, Any] = json.loads(out.read_text())
    assert exported["journey"]["user_id"] == user_id and exported["database"]["profile"]["first_name"] == "Ana"

    assert await cli(client, pool, "erase", str(user_id), "--reason", "the user asked by mail") == 0
    assert await pool.fetchval("SELECT count(*) FROM users WHERE telegram_user_id = $1", user_id) == 0
    # Ended, then deleted from Temporal (whichever the command meets first).
    with pytest.raises(staff.SupportError, match="closed|no journey"):
        await cli(client, pool, "grant", str(user_id), "5", "--reason", "after erasure")
    with pytest.raises(staff.SupportError, match="closed .* a closed journey is not reset|no journey"):
        await cli(client, pool, "reset", str(user_id), "--to", "last", "--reason", "after erasure")
    # Erased: no audit row links the Telegram id any more; the trail stays, under one pseudonym.
    assert await audit_rows(pool, user_id) == []
    assert not await pool.fetchval("SELECT count(*) FROM audit_log WHERE actor = $1 OR details::text LIKE $2",
                                   f"user:{user_id}", f"%{user_id}%")  # fmt: skip
    pseudonym = await pool.fetchval("SELECT subject FROM audit_log WHERE action = 'erase' ORDER BY id DESC LIMIT 1")
    assert pseudonym.startswith("erased:")
    trail = await pool.fetch("SELECT actor, action, reason FROM audit_log WHERE subject = $1 ORDER BY id", pseudonym)
    # A staff erase is audited once, as staff's, with staff's reason (it left a second row saying the user asked).
    assert [row["action"] for row in trail] == ["grant", "grant", "restart_story", "ban", "unban", "export", "erase"]
    # Who: the operating-system login, with the --actor note beside it (never instead of it).
    assert all(row["actor"] == support_cli.actor_of("support:test") for row in trail)
    assert support_cli.actor_of("support:test").startswith("support:") and "(support:test)" in support_cli.actor_of(
        "support:test")  # fmt: skip
    assert trail[-1]["reason"] == "the user asked by mail"


async def test_the_audit_log_is_append_only(pool: asyncpg.Pool, database_owner: str) -> None:
    await write_audit(pool, "support:test", "grant", "user:1", "a reason")
    # Diana's own role may not change a row at all (tests/test_migrations.py); its owner is stopped by the trigger.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE audit_log SET reason = 'rewritten'")
    owner = await asyncpg.connect(database_owner)
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner.execute("UPDATE audit_log SET reason = 'rewritten'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner.execute("DELETE FROM audit_log")
        # The one change allowed is forget_audit_subject's, for an erased user; a session can not turn it on for
        # itself outside a transaction, and inside one it still may not rewrite what happened.
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner.execute(
                "SELECT set_config('diana.audit_forget', 'on', false); UPDATE audit_log SET reason = 'x'"
            )
    finally:
        await owner.close()


async def test_users_are_found_by_username_and_bad_names_are_refused(pool: asyncpg.Pool) -> None:
    await pool.execute("INSERT INTO users (telegram_user_id, username, stage) VALUES (77, 'Vera_Luz', 'active')")
    assert await staff.resolve_user(pool, "@vera_luz") == 77
    assert await staff.resolve_user(pool, "77") == 77
    for bad, message in (("@nobody", "no user @nobody"), ("vera", "neither"), ("-5", "neither")):
        with pytest.raises(staff.SupportError, match=message):
            await staff.resolve_user(pool, bad)


def test_the_console_script_refuses_an_unknown_user_clearly() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "TEMPORAL_ADDRESS": "127.0.0.1:1",
           "DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}  # fmt: skip
    done = hermetic.run_diana(["-m", "tools.support_cli", "show", "@nobody"], capture_output=True, text=True,
                              timeout=60, env={**env, "DIANA_MASTER_KEY": hermetic.SUITE_VALUES["DIANA_MASTER_KEY"]})  # fmt: skip
    assert done.returncode == 1 and "cannot reach a server" in done.stderr
    # Against an external database, the master key that reads journeys is required: said, not a traceback.
    keyless = hermetic.run_diana(["-m", "tools.support_cli", "show", "@nobody"], capture_output=True, text=True,
                                 timeout=60, env=env)  # fmt: skip
    assert keyless.returncode == 2 and "DIANA_MASTER_KEY is required" in keyless.stderr
    assert "Traceback" not in keyless.stderr


async def test_a_journey_no_worker_answers_for_is_named_clearly(client: Client, pool: asyncpg.Pool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    user_id = new_user_id()
    await client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=user_id), id=journey_id(user_id),
                                task_queue="no-worker-polls-this")  # fmt: skip
    monkeypatch.setattr(staff, "QUERY_TIMEOUT", timedelta(seconds=1))
    with pytest.raises(staff.SupportError, match="no worker answered .* is `diana worker` running"):
        await cli(client, pool, "show", str(user_id))
