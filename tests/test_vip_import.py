"""Bringing the existing community over (``diana-support import-vips``): the file checked row by row, each valid row
made VIP once (journeys started when needed), an interrupted import resumed, and the imported users meeting Diana
on their first /start, already VIP, without being taken out of the VIP channel they are in."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters import journeys as journeys_door
from adapters import staff, vip_import
from adapters.content_version import ActiveContent
from infra.settings import EMULATOR_VIP_CHANNEL
from tests import hermetic
from tests.helpers import REPO_ROOT, eventually, new_user_id, request, settled
from tests.telegram import EmulatedUser, onboard
from tests.test_end_to_end import bot_environment, running_bot
from tests.test_rules import CONTENT, NOW, USER, decide, onboarded
from tools import support_cli
from tools.emulator import BotAPIEmulator
from workflows import rules, subscription, support
from workflows.contracts import (
    JourneyError,
    JourneyState,
    SaveSubscription,
    SupportReply,
    SupportRequest,
)
from workflows.journey import JourneyWorkflow, journey_id
from workflows.progress import Turn

ZONE = CONTENT.calendar.timezone
PLANS = CONTENT.vip.plans_by_code


def imported(request_id: str = "vip-555", until: datetime = NOW + timedelta(days=40), plan: str = "",
             user_id: int = USER) -> SupportRequest:  # fmt: skip
    return SupportRequest(request_id=request_id, user_id=user_id, actor="support:ana", action="import_vip",
                          until=until, plan=plan, reason="the community brought over")  # fmt: skip


# -- the file ------------------------------------------------------------------------------------------------------


def test_every_row_is_checked_and_each_refusal_names_its_line_and_reason() -> None:
    text = "\n".join([
        "telegram_user_id,vip_until,plan,username",
        "101,2027-01-31,mensual,@lola",
        "# a comment, then a blank line",
        "",
        "102,2027-02-01T20:00:00+01:00",
        "abc,2027-01-31",
        "0,2027-01-31",
        "103,2026-11-01",
        "104,2027-01-31,anual",
        "105",
        "106,2027-01-31T10:00:00",
        "107,31/01/2027",
        "101,2027-03-01",
        "108,2027-01-31,,bad name!",
        "109,2027-01-31T10:00:00Z,trimestral,ana_maria",
    ])  # fmt: skip
    rows, refused = vip_import.parse(text, now=NOW, zone=ZONE, plans=PLANS)
    assert [(r.line, r.user_id, r.plan, r.username) for r in rows] == [
        (2, 101, "mensual", "lola"), (5, 102, "", ""), (15, 109, "trimestral", "ana_maria")]  # fmt: skip
    # A date is the end of that day in the content's time zone; a date-time keeps its own zone.
    assert rows[0].until == datetime(2027, 1, 31, 23, 59, 59, tzinfo=ZoneInfo(ZONE))
    assert rows[1].until == datetime(2027, 2, 1, 19, 0, tzinfo=UTC)
    assert rows[0].request_id == "vip-101-20270201T055959Z-mensual"
    reasons = {r.line: r.reason for r in refused}
    assert sorted(reasons) == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert reasons[6].startswith("bad id") and reasons[7].startswith("bad id")
    assert reasons[8].startswith("date in the past")
    assert reasons[9].startswith("unknown plan 'anual'")
    assert reasons[10].startswith("malformed: 1 columns")
    assert "needs its time zone" in reasons[11] and reasons[12].startswith("malformed date")
    assert reasons[13] == "duplicate row: user 101 is on line 2"
    assert reasons[14].startswith("malformed username")


# -- the rules -----------------------------------------------------------------------------------------------------


def test_a_never_started_journey_is_made_vip_once_without_an_invite_and_keeps_it_through_the_introduction() -> None:
    fresh = JourneyState(user_id=USER)
    until = NOW + timedelta(days=40)
    outcome = support.apply(fresh, imported(plan="mensual"), NOW, CONTENT)
    state = outcome.state
    assert state.vip and state.stage == "new" and state.subscription.status == "active"
    assert (state.subscription.expires_at, state.subscription.plan) == (until, "mensual")
    assert [c.charge_id for c in state.subscription.charges] == ["import:vip-555"]
    assert [type(e) for e in outcome.effects] == [SaveSubscription]  # no invite: they are in the channel already
    assert rules.lapse_due(state, CONTENT) is None  # an introduction not begun does not end a VIP's journey
    # The same row again (a resumed import): nothing changes, also once its request left the recent deliveries.
    assert support.apply(state, imported(plan="mensual"), NOW, CONTENT).duplicate
    forgotten = state.model_copy(update={"recent_deliveries": []})
    assert support.apply(forgotten, imported(plan="mensual"), NOW, CONTENT).duplicate
    # A VIP join before the first /start is approved; the first /start is the introduction, VIP all along.
    join = decide(state, request(USER, "vip_join", action=str(EMULATOR_VIP_CHANNEL)))
    assert join.toast is not None and join.toast.key == "vip.join.approved"
    started = decide(join.state, request(USER, "start"))
    assert started.screen.key.startswith("onboarding") and started.state.vip
    stranger = decide(JourneyState(user_id=USER), request(USER, "start")).state.model_copy(update={"stage": "new"})
    with pytest.raises(rules.Rejection):
        rules.validate(stranger, request(USER, "vip_join", action=str(EMULATOR_VIP_CHANNEL)))


def test_an_import_never_shortens_vip_and_refuses_a_past_date_or_an_unknown_plan() -> None:
    state = support.apply(onboarded(), imported(until=NOW + timedelta(days=90)), NOW, CONTENT).state
    later = support.apply(state, imported("vip-2", until=NOW + timedelta(days=10)), NOW, CONTENT).state
    assert later.subscription.expires_at == NOW + timedelta(days=90)
    assert len(later.subscription.charges) == 2
    for change, why in ((imported("vip-3", until=NOW - timedelta(minutes=1)), "is past"),
                        (imported("vip-4", plan="anual"), "no VIP plan")):  # fmt: skip
        with pytest.raises(rules.Rejection, match=why) as caught:
            support.apply(state, change, NOW, CONTENT)
        assert caught.value.kind == JourneyError.SUPPORT_REFUSED
    # Imported VIP moved no Stars: it is never refunded.
    with pytest.raises(subscription.SubscriptionRejection):
        subscription.refund(Turn(state=later, content=CONTENT, now=NOW, cause="t"), "import:vip-555", "a", "why")


# -- against the real stack ----------------------------------------------------------------------------------------


class Interrupted(Exception):
    """The import process dying mid-run."""


async def import_file(client: Client, pool: asyncpg.Pool, task_queue: str, path: Path) -> int:
    """``diana-support import-vips`` in-process, against the test's servers and worker."""
    args = support_cli.parser().parse_args(["--actor", "support:test", "import-vips", str(path),
                                            "--reason", "bringing the community over"])  # fmt: skip
    settings = hermetic.settings(TEMPORAL_TASK_QUEUE=task_queue)
    return await support_cli._command(args, settings, client, pool)


def community(size: int) -> tuple[list[str], dict[int, datetime]]:
    """``size`` valid rows (dates a few weeks to months ahead, some with a plan) and ten bad ones among them."""
    zone = ZoneInfo(ZONE)
    today = datetime.now(zone).date()
    lines, expected = ["telegram_user_id,vip_until,plan,username"], {}
    for n in range(size):
        user_id = new_user_id()
        day = today + timedelta(days=20 + n % 90)
        plan = ("", "mensual", "trimestral")[n % 3]
        lines.append(f"{user_id},{day.isoformat()},{plan},fan_{n:04d}")
        expected[user_id] = datetime.combine(day, vip_import.END_OF_DAY, zone).astimezone(UTC)
    past = (today - timedelta(days=3)).isoformat()
    first = next(iter(expected))
    bad = ["x12,2027-01-31", "-5,2027-01-31", "0,2027-01-31", f"{new_user_id()},{past}",
           f"{new_user_id()},{past},mensual", f"{first},2027-06-01", f"{first},2027-06-02",
           f"{new_user_id()},2027-01-31,anual", f"{new_user_id()}", f"{new_user_id()},2027-01-31T10:00"]  # fmt: skip
    for n, line in enumerate(bad):
        lines.insert(5 + n * 25, line)
    return lines, expected


async def test_an_import_of_hundreds_interrupted_and_resumed_applies_every_row_once(
    client: Client, pool: asyncpg.Pool, worker: Worker, task_queue: str, active_content: ActiveContent,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    lines, expected = community(290)
    path = tmp_path / "community.csv"
    path.write_text("\n".join(lines) + "\n")

    # The first run dies once 120 rows were applied by their journeys (the rows in flight may or may not be).
    real = journeys_door.request_support_with_start
    done = 0

    async def dying(*args: Any, **kwargs: Any) -> SupportReply:
        nonlocal done
        reply = await real(*args, **kwargs)
        done += 1
        if done >= 120:
            raise Interrupted("killed")
        return reply

    monkeypatch.setattr(journeys_door, "request_support_with_start", dying)
    started = asyncio.get_running_loop().time()
    with pytest.raises(ExceptionGroup) as died:
        await import_file(client, pool, task_queue, path)
    assert died.group_contains(Interrupted)
    first = capsys.readouterr().out
    assert "10 refused" in first
    monkeypatch.setattr(journeys_door, "request_support_with_start", real)

    # Run again: the rest is applied, what was applied is reported imported already, the refusals again.
    assert await import_file(client, pool, task_queue, path) == 1  # rows were refused
    report = capsys.readouterr().out
    counts = report.splitlines()[0]
    found = re.search(r"300 rows: (\d+) imported, (\d+) imported already", counts)
    assert found is not None, counts
    applied, already = int(found[1]), int(found[2])
    assert applied + already == 290 and already >= 119, counts
    assert ", 10 refused, 0 failed" in counts
    for line, why in ((6, "bad id 'x12'"), (None, "date in the past"),
                      (None, "duplicate row: user"), (None, "unknown plan 'anual'"), (None, "malformed: 1 columns"),
                      (None, "needs its time zone")):  # fmt: skip
        assert why in report, why
        if line is not None:
            assert f"line {line}: refused: {why}" in report

    # Once more: nothing left to do.
    assert await import_file(client, pool, task_queue, path) == 1
    assert "0 imported, 290 imported already, 10 refused, 0 failed" in capsys.readouterr().out
    elapsed = asyncio.get_running_loop().time() - started

    # Every valid user: VIP until their date, from exactly one import charge, audited once; Postgres agrees.
    gate = asyncio.Semaphore(8)

    async def check(user_id: int, until: datetime) -> None:
        async with gate:
            state = await settled(client, user_id)
            charges = [c.charge_id for c in state.subscription.charges]
            assert len(charges) == 1 and charges[0].startswith("import:vip-"), charges
            assert state.vip and state.subscription.expires_at == until and state.stage == "new"
            view = await staff.view(client, pool, user_id)
            assert not view.disagreements, view.disagreements

    await asyncio.gather(*(check(user_id, until) for user_id, until in expected.items()))
    audits = await pool.fetch("SELECT details->>'request_id' AS request_id, count(*) AS n FROM audit_log "
                              "WHERE action = 'import_vip' AND subject = ANY($1::text[]) GROUP BY 1",
                              [f"user:{u}" for u in expected])  # fmt: skip
    assert len(audits) == 290 and all(row["n"] == 1 for row in audits)
    subscriptions = await pool.fetch("SELECT telegram_user_id, expires_at FROM subscriptions "
                                     "WHERE telegram_user_id = ANY($1::bigint[])", list(expected))  # fmt: skip
    assert {row["telegram_user_id"]: row["expires_at"] for row in subscriptions} == expected
    assert elapsed < 120, f"three runs over 300 rows took {elapsed:.0f} s"


async def test_an_imported_member_of_the_vip_channel_stays_and_meets_diana_on_the_first_start_as_a_vip(
    client: Client, pool: asyncpg.Pool, worker: Worker, task_queue: str, active_content: ActiveContent,
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, database: str, redis_server: str,
    http: aiohttp.ClientSession, telegram_bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # In the VIP channel before this bot ran (the old community's way in), never having written to the bot; the join
    # waits for the bot (which asked Telegram for channel member updates when it was set up).
    await telegram_bot.get_updates(timeout=0, allowed_updates=["message", "callback_query", "chat_member",
                                                                "chat_join_request"])  # fmt: skip
    member = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Mar", username="mar")
    link = await telegram_bot.create_chat_invite_link(EMULATOR_VIP_CHANNEL, member_limit=1)
    joined = await member.join(EMULATOR_VIP_CHANNEL, invite_link=link.invite_link)
    assert joined["status"] == "member" and joined["update_id"] is not None

    until = (datetime.now(ZoneInfo(ZONE)) + timedelta(days=60)).date()
    path = tmp_path / "vips.csv"
    path.write_text(f"{member.user_id},{until.isoformat()},mensual,@mar_vip\n")
    assert await import_file(client, pool, task_queue, path) == 0
    assert "1 imported, 0 imported already, 0 refused" in capsys.readouterr().out
    state = await settled(client, member.user_id)
    assert state.vip and state.stage == "new" and state.profile is None

    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server,
                          VIP_CHANNEL_ID=str(EMULATOR_VIP_CHANNEL))  # fmt: skip
    async with running_bot(env):
        # The bot's first look at the channel (the join it finds waiting) leaves the imported VIP in.
        handle = client.get_workflow_handle(journey_id(member.user_id))

        async def join_checked() -> bool:
            state: JourneyState = await handle.query(JourneyWorkflow.current_state)
            return any(d.startswith(f"{joined['update_id']}-") for d in state.recent_deliveries)

        await eventually(join_checked, within=30)
        assert (await telegram_bot.get_chat_member(EMULATOR_VIP_CHANNEL, member.user_id)).status == "member"
        channel = await member.transcript(chat_id=EMULATOR_VIP_CHANNEL)
        assert not [e for e in channel if e["kind"] in ("bot_ban", "bot_unban")], channel

        # Their first /start: Diana's introduction, as for anyone; then the VIP menu says they are VIP.
        menu = await onboard(member)
        assert "Bienvenido a mi mundo" in menu["text"]
        await member.press(menu["message_id"], member.button(menu, "VIP"))
        vip_screen = await member.next_from_bot()
        assert "Eres VIP" in vip_screen["text"]
    state = await settled(client, member.user_id)
    assert state.vip and state.stage == "active" and len(state.subscription.charges) == 1
    row = await pool.fetchrow("SELECT first_name, username, stage FROM users WHERE telegram_user_id = $1",
                              member.user_id)  # fmt: skip
    assert row is not None and dict(row) == {"first_name": "Mar", "username": "mar", "stage": "active"}
    assert not (await staff.view(client, pool, member.user_id)).disagreements


def test_the_command_is_in_the_readme_and_the_help() -> None:
    assert "import-vips" in (REPO_ROOT / "README.md").read_text()
    assert "import-vips" in (support_cli.__doc__ or "")
