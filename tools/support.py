"""What support staff do to one journey beyond looking at it and changing it (``adapters.staff``): export and replay
its history, export the user's data, reset it.

The journey (the workflow's state) is the truth and Postgres its projection. ``show`` puts the two
side by side; ``reset`` rewinds the journey with Temporal and then makes the projection agree again:

* Temporal re-applies the Updates that came after the reset point. They carry the same Telegram
  update ids, so every ledger row, message and payment they ask for has the same idempotency key
  as before and is written or sent once (the activities' keys and claims see to that).
* Ledger rows the discarded branch wrote and the new run did not ask for again are *reversed* by
  a new row (the ledger is append-only); a row the new run asked for with another amount gets a
  correction row. Keys come from the two runs' histories, so nothing is guessed.
* The rest of the projection (profile, story, subscription, achievements, missions, decisions,
  reactions, leaderboards) is rewritten from the settled journey's state.

Every change is written to the append-only ``audit_log`` (who, what, why, when).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
from aiogram import Bot
from aiogram.types import Update
from redis.asyncio import Redis
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyExcludeType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.leaderboard import LeaderboardActivities
from activities.projection import (
    write_achievement,
    write_mission,
    write_profile,
    write_story_progress,
    write_subscription,
)
from adapters import received_payments
from adapters.audit import user_subject, write_audit
from adapters.content_version import ActiveContent
from adapters.exports import export_document
from adapters.journeys import Journeys
from adapters.media_library import MediaLibrary
from adapters.screens import ScreenSender
from adapters.staff import SupportError, describe_journey, disagreements, journey_state, read_projection, resolve_user
from adapters.telegram import create_bot
from bot import build_dispatcher
from bot.dead_letters import attempts_key
from bot.payments import apply_kept_payment
from infra.payload_codec import JourneyCodec, decode_all
from infra.settings import Settings
from workflows import side_effects
from workflows.contracts import (
    AwardBesitos,
    CompleteMission,
    JourneyRequest,
    JourneyState,
    ProjectionBatch,
    ProjectionOutcome,
    RecordDecision,
    SaveStoryProgress,
    SaveSubscription,
    UnlockAchievement,
    UpdateLeaderboard,
)
from workflows.journey import journey_id
from workflows.rules import save_profile

PROJECTION_ACTIVITY: Final = side_effects.Projection.record_projection.__name__
# How the SDK names the marker a local activity leaves in the history.
LOCAL_ACTIVITY_MARKER: Final = "core_local_activity"
SETTLE_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class LedgerCorrection:
    key: str  # the original row's idempotency key
    amount: int  # the row to append: minus the discarded amount, or the difference
    why: str


def ledger_corrections(discarded: dict[str, int], asked_again: dict[str, int],
                       recorded: dict[str, int]) -> list[LedgerCorrection]:  # fmt: skip
    """What to append so the ledger counts each award exactly as the journey's own branch has it.

    ``discarded``: awards the old run asked for; ``asked_again``: awards the new run asked for (both
    key -> amount); ``recorded``: what the ledger holds net for each of those keys (the row, any
    re-award after an earlier reset and any earlier correction).
    """
    corrections = []
    for key in sorted(discarded.keys() | asked_again.keys()):
        net = recorded.get(key, 0)
        wanted = asked_again.get(key, 0)
        if net == wanted or (key not in asked_again and key not in recorded):
            continue
        why = ("reversed: its branch was discarded by a reset" if key not in asked_again
               else "corrected: the reset journey awarded another amount")  # fmt: skip
        corrections.append(LedgerCorrection(key, wanted - net, why))
    return corrections


@dataclass(frozen=True)
class ResetPoint:
    event_id: int
    described: str


def reset_point(events: Iterable[HistoryEvent], to: str) -> ResetPoint:
    """The completed workflow task to reset to: ``last``, ``first`` or an event id of one."""
    events = list(events)
    completed = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    if not completed:
        raise SupportError("the journey has no completed workflow task to reset to")
    if to in ("last", "first"):
        event_id = completed[-1] if to == "last" else completed[0]
        return ResetPoint(event_id, f"the {to} completed workflow task (event {event_id})")
    if not to.isdigit():
        raise SupportError(f"--to takes 'last', 'first' or an event id, not {to!r}")
    event_id = int(to)
    if event_id in completed:
        return ResetPoint(event_id, f"event {event_id}")
    kinds = {e.event_id: EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events}
    before = max((c for c in completed if c < event_id), default=None)
    after = min((c for c in completed if c > event_id), default=None)
    nearest = " and ".join(str(c) for c in (before, after) if c is not None)
    what = f"a {kinds[event_id]} event" if event_id in kinds else f"not in this run's history (1-{len(events)})"
    raise SupportError(f"event {event_id} is {what}; reset to a completed workflow task: the nearest are {nearest}")


def projection_batches(events: Iterable[HistoryEvent]) -> list[ProjectionBatch]:
    """Every turn's projection a history asked for as a regular activity (its input is in the history, whether or not
    it completed: a write in flight when the run was reset may have landed)."""
    converter = pydantic_data_converter.payload_converter
    return [
        converter.from_payloads(event.activity_task_scheduled_event_attributes.input.payloads, [ProjectionBatch])[0]
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == PROJECTION_ACTIVITY
    ]


def local_projections(events: Iterable[HistoryEvent]) -> list[ProjectionOutcome]:
    """What each turn's projection ran as a local activity reported (its input is not in the history, its result is)."""
    found = []
    for event in events:
        details = event.marker_recorded_event_attributes.details
        if _local_activity_type(event) == PROJECTION_ACTIVITY and "result" in details:
            payloads = details["result"].payloads
            found.append(pydantic_data_converter.payload_converter.from_payloads(payloads, [ProjectionOutcome])[0])
    return found


def awards(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """Every ledger row a history asked for (key -> amount), as a local or a regular activity."""
    asked = {effect.idempotency_key: effect.amount for batch in projection_batches(events) for effect in batch.effects
             if isinstance(effect, AwardBesitos)}  # fmt: skip
    for outcome in local_projections(events):
        asked.update(outcome.awards)
    return asked


def decisions(events: Sequence[HistoryEvent]) -> list[str]:
    """Every story decision a history asked Postgres to record, by idempotency key."""
    asked = [effect.idempotency_key for batch in projection_batches(events) for effect in batch.effects
             if isinstance(effect, RecordDecision)]  # fmt: skip
    return asked + [key for outcome in local_projections(events) for key in outcome.decisions]


# Imperative shell: Temporal and Postgres.


async def _write(path: Path, text: str) -> None:
    """Write a support file readable by its owner only: it holds a user's personal data."""
    try:
        await asyncio.to_thread(_write_private, path, text)
    except OSError as error:
        raise SupportError(f"cannot write {path}: {error.strerror}") from None


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # an existing file keeps no wider mode
        file.write(text)


async def export_history(client: Client, user_id: int, path: Path) -> int:
    """``history``: the current run's history as JSON (the format ``replay`` and the Temporal CLI read)."""
    await describe_journey(client, user_id)
    history = await decoded_history(client, user_id)
    await _write(path, history.to_json())
    return len(history.events)


@dataclass
class ReplayOutcome:
    events: int
    failure: str | None


async def replay(history: WorkflowHistory, pool: asyncpg.Pool) -> ReplayOutcome:
    """``replay``: run a history against today's workflow code (content read from ``pool``); a nondeterminism names
    the event."""
    from worker import WORKFLOWS
    from worker.content_library import ContentLibrary

    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter,
                        interceptors=[ContentLibrary(pool).interceptor()])  # fmt: skip
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    if failure is None:
        return ReplayOutcome(events=len(history.events), failure=None)
    return ReplayOutcome(events=len(history.events), failure=f"{failure}{_named_event(history.events, str(failure))}")


def _named_event(events: Sequence[HistoryEvent], message: str) -> str:
    """Where in the history a nondeterminism points: the first event carrying a name the message quotes."""
    explicit = re.search(r"event(?: id)?[ '\"]*(\d+)", message, re.IGNORECASE)
    if explicit and any(e.event_id == int(explicit.group(1)) for e in events):
        event = next(e for e in events if e.event_id == int(explicit.group(1)))
        return f" (event {event.event_id}, {EventType.Name(event.event_type).removeprefix('EVENT_TYPE_')})"
    for quoted in re.findall(r"'([^']+)'", message):
        for event in events:
            if f'"{quoted}"' in str(event) or _local_activity_type(event) == quoted:
                return f" (event {event.event_id}, {EventType.Name(event.event_type).removeprefix('EVENT_TYPE_')})"
    return ""


def _local_activity_type(event: HistoryEvent) -> str | None:
    """The activity a local activity's marker names (inside its encoded data), or None for any other event."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    attributes = event.marker_recorded_event_attributes
    if attributes.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in attributes.details:
        return None
    activity_type = json.loads(attributes.details["data"].payloads[0].data).get("activity_type")
    return str(activity_type) if activity_type else None


async def load_history(client: Client, pool: asyncpg.Pool, source: str) -> WorkflowHistory:
    """A history from a file written by ``history``, or fetched for a user (id or @username)."""
    path = Path(source)
    if path.suffix == ".json" or await asyncio.to_thread(path.exists):
        if not await asyncio.to_thread(path.is_file):
            raise SupportError(f"no history file {source}")
        try:
            return WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
        except (ValueError, KeyError) as error:
            raise SupportError(f"{source} is not a workflow history ({error})") from None
    user_id = await resolve_user(pool, source)
    await describe_journey(client, user_id)
    return await decoded_history(client, user_id)


async def decoded_history(client: Client, user_id: int, run_id: str | None = None) -> WorkflowHistory:
    """A journey's history as operators read it: its payloads decrypted through the client's codec (the same one
    the worker's codec endpoint serves to the Temporal UI)."""
    history = await client.get_workflow_handle(journey_id(user_id), run_id=run_id).fetch_history()
    codec = client.data_converter.payload_codec
    if not isinstance(codec, JourneyCodec):
        return history
    whole = History(events=history.events)
    if unreadable := await decode_all(whole, codec):
        raise SupportError(f"{unreadable} payload(s) of journey {user_id} cannot be decrypted (is DIANA_MASTER_KEY "
                           "the worker's?)")  # fmt: skip
    return WorkflowHistory(history.workflow_id, list(whole.events))


async def export_user(client: Client, pool: asyncpg.Pool, user_id: int, path: Path, *, actor: str,
                      reason: str) -> None:  # fmt: skip
    """``export``: the journey and every Postgres row about the user, as the user's own export has them."""
    state = await journey_state(client, user_id)
    await _write(path, await export_document(pool, user_id, state.exported(), datetime.now(UTC)))
    await write_audit(pool, actor, "export", user_subject(user_id), reason, {"file": str(path)})


@dataclass
class ResetOutcome:
    old_run: str
    new_run: str
    point: ResetPoint
    corrections: list[LedgerCorrection]
    repaired: list[str]
    remaining: list[str]


async def reset(client: Client, pool: asyncpg.Pool, redis: Redis | None, user_id: int, *, to: str, reason: str,
                actor: str, reapply: bool = True, settle_within: float = SETTLE_TIMEOUT) -> ResetOutcome:  # fmt: skip
    """``reset``: rewind the journey to a completed workflow task, then make Postgres agree with it again."""
    description = await describe_journey(client, user_id)
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise SupportError(f"the journey of user {user_id} is closed ({description.status.name.lower()}); "
                           "a closed journey is not reset")  # fmt: skip
    old_run = description.run_id
    history = await decoded_history(client, user_id, old_run)
    point = reset_point(history.events, to)
    excluded = [] if reapply else [ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL,
                                   ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE]  # fmt: skip
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=journey_id(user_id), run_id=old_run),
            reason=f"{actor}: {reason}",
            workflow_task_finish_event_id=point.event_id,
            request_id=str(uuid.uuid4()),
            reset_reapply_exclude_types=excluded,
            identity=actor,
        )
    )
    new_run = response.run_id
    await write_audit(pool, actor, "reset", user_subject(user_id), reason,
                {"old_run": old_run, "new_run": new_run, "event_id": point.event_id, "reapply": reapply})  # fmt: skip
    outcome = await repair(client, pool, redis, user_id, old_run=old_run, new_run=new_run, actor=actor,
                           settle_within=settle_within)  # fmt: skip
    outcome.point = point
    return outcome


async def settled(client: Client, user_id: int, run_id: str, within: float) -> JourneyState:
    """The run's state once every re-applied Update is handled and every effect carried out."""
    handle = client.get_workflow_handle(journey_id(user_id), run_id=run_id)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = await journey_state(client, user_id, run_id)
        if not state.pending_effects and await _quiet(handle):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise SupportError(f"the journey of user {user_id} did not settle within {within:.0f} s (is a worker "
                               f"running?); run `diana-support repair {user_id} --old-run <run>` once it does")  # fmt: skip
        await asyncio.sleep(0.3)


async def _quiet(handle: Any) -> bool:
    """No workflow task or activity outstanding, and every accepted Update completed."""
    raw = (await handle.describe()).raw_description
    if raw.HasField("pending_workflow_task") or len(raw.pending_activities):
        return False
    events = (await handle.fetch_history()).events
    accepted = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in events)
    completed = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED for e in events)
    return bool(accepted == completed)


async def repair(client: Client, pool: asyncpg.Pool, redis: Redis | None, user_id: int, *, old_run: str,
                 new_run: str, actor: str, settle_within: float = SETTLE_TIMEOUT) -> ResetOutcome:  # fmt: skip
    """After a reset from ``old_run`` to ``new_run``: reverse the discarded ledger rows, rewrite the rest."""
    state = await settled(client, user_id, new_run, settle_within)
    old_events = (await decoded_history(client, user_id, old_run)).events
    new_events = (await decoded_history(client, user_id, new_run)).events
    discarded, asked_again = awards(old_events), awards(new_events)
    kept_decisions = set(decisions(new_events))
    dropped_decisions = [key for key in decisions(old_events) if key not in kept_decisions]
    repaired: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            SELECT award, sum(amount) AS net
            FROM (SELECT CASE WHEN action = 'reset_correction' THEN context->>'original'
                              ELSE split_part(idempotency_key, '#', 1) END AS award, amount
                  FROM besitos_ledger WHERE telegram_user_id = $1) AS rows
            WHERE award = ANY($2)
            GROUP BY award
            """,
            user_id, list(discarded.keys() | asked_again.keys()),
        )  # fmt: skip
        recorded = {row["award"]: int(row["net"]) for row in rows}
        corrections = ledger_corrections(discarded, asked_again, recorded)
        balance = int(await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM besitos_ledger "
                                          "WHERE telegram_user_id = $1", user_id))  # fmt: skip
        for correction in corrections:
            balance += correction.amount
            await conn.execute(
                """
                INSERT INTO besitos_ledger (telegram_user_id, action, amount, balance_after, idempotency_key, context,
                                            created_at)
                VALUES ($1, 'reset_correction', $2, $3, $4, $5::jsonb, now())
                ON CONFLICT (idempotency_key) DO NOTHING
                """,
                user_id, correction.amount, balance, f"reset:{new_run}:{correction.key}",
                json.dumps({"original": correction.key, "why": correction.why, "old_run": old_run}),
            )  # fmt: skip
        if dropped_decisions:
            deleted = await conn.execute("DELETE FROM story_decisions WHERE idempotency_key = ANY($1)",
                                         dropped_decisions)  # fmt: skip
            repaired.append(f"decisions of the discarded branch removed ({deleted.split()[-1]})")
        repaired += await _rewrite_projection(conn, state)
    if redis is not None and state.profile is not None:
        leaderboard = UpdateLeaderboard(user_id=user_id, name=state.profile.first_name,
                                        lifetime_besitos=state.lifetime_besitos, week=state.leaderboard.week,
                                        week_besitos=state.leaderboard.week_besitos)  # fmt: skip
        await LeaderboardActivities(redis).update_leaderboard(leaderboard)
        repaired.append("leaderboards rewritten")
    remaining = disagreements(state, await read_projection(pool, user_id))
    await write_audit(pool, actor, "reset repaired", user_subject(user_id), "projection made to agree with the reset journey",
                {"old_run": old_run, "new_run": new_run, "corrections": [c.__dict__ for c in corrections],
                 "repaired": repaired, "remaining": remaining})  # fmt: skip
    return ResetOutcome(old_run=old_run, new_run=new_run, point=ResetPoint(0, "-"), corrections=corrections,
                        repaired=repaired, remaining=remaining)  # fmt: skip


async def _rewrite_projection(conn: asyncpg.Connection, state: JourneyState) -> list[str]:
    """Profile, story, subscription, achievements, missions, reactions and the backpack as the journey holds them now,
    written by the projection's own row writers (story and subscription over whatever the discarded branch saved, with
    the journey's own ``seq``, so its next save wins); what the discarded branch added alone is deleted."""
    user_id, now, done = state.user_id, datetime.now(UTC), []
    if state.profile is not None and state.stage not in ("erased", "lapsed"):
        await write_profile(conn, save_profile(state, now))
        done.append("profile")
    story = state.story
    if story.saves:
        await write_story_progress(conn, SaveStoryProgress(
            user_id=user_id, seq=story.saves, content_version=state.content_version, fragment_id=story.fragment_id,
            playthrough=story.playthrough, relationship=story.relationship, flags=story.flags,
            completed=story.completed, endings=story.endings, saved_at=now), overwrite=True)  # fmt: skip
    else:
        await conn.execute("DELETE FROM story_progress WHERE telegram_user_id = $1", user_id)
    done.append("story progress")
    sub = state.subscription
    if sub.saves:
        await write_subscription(conn, SaveSubscription(
            user_id=user_id, seq=sub.saves, plan=sub.plan, status=sub.status, started_at=sub.started_at,
            expires_at=sub.expires_at, saved_at=now), overwrite=True)  # fmt: skip
    else:
        await conn.execute("DELETE FROM subscriptions WHERE telegram_user_id = $1", user_id)
    done.append("subscription")
    await conn.execute("DELETE FROM user_achievements WHERE telegram_user_id = $1 AND NOT (code = ANY($2))",
                       user_id, state.achievements)  # fmt: skip
    await conn.execute("DELETE FROM user_missions WHERE telegram_user_id = $1 AND NOT (code = ANY($2))",
                       user_id, state.missions)  # fmt: skip
    for code in state.achievements:
        await write_achievement(conn, UnlockAchievement(user_id=user_id, code=code, unlocked_at=now))
    for code in state.missions:
        await write_mission(conn, CompleteMission(user_id=user_id, code=code, completed_at=now))
    done.append("achievements and missions")
    await conn.execute(
        "DELETE FROM channel_reactions WHERE telegram_user_id = $1 AND NOT ((chat_id::text || ':' || message_id::text) "
        "= ANY($2))",
        user_id, state.community.reacted_posts,
    )  # fmt: skip
    done.append("reactions")
    # The backpack: entries only the discarded branch made go; the others take the status the journey gives them (the
    # new run wrote every entry it made; an older write of the discarded branch may have come after).
    purchases = {f"journey-{user_id}:{p.id}": p.status for p in state.wallet.purchases}
    await conn.execute("DELETE FROM shop_purchases WHERE telegram_user_id = $1 AND NOT (purchase_id = ANY($2))",
                       user_id, list(purchases))  # fmt: skip
    for purchase_id, status in purchases.items():
        await conn.execute("UPDATE shop_purchases SET status = $2, changed_at = greatest(changed_at, $3) "
                           "WHERE purchase_id = $1", purchase_id, status, now)  # fmt: skip
    done.append("backpack")
    return done


# Dead letters and payments not applied -------------------------------------------------------------------------


@asynccontextmanager
async def as_the_bot(settings: Settings, client: Client, pool: asyncpg.Pool) -> AsyncIterator[tuple[Bot, Journeys]]:
    """The bot's Bot and door to the journeys, for a support command that does what the bot would have done."""
    bot = create_bot(settings)
    content = ActiveContent(pool)
    await content.start()
    try:
        yield bot, Journeys(client, settings.temporal_task_queue, content)
    finally:
        await content.stop()
        await bot.session.close()


async def dead_letters(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Updates kept for support and not re-driven since, oldest first."""
    return list(await pool.fetch("SELECT id, update_id, telegram_user_id, error, created_at FROM dead_letters "
                                 "WHERE redriven_at IS NULL ORDER BY created_at, id"))  # fmt: skip


async def redrive(settings: Settings, client: Client, pool: asyncpg.Pool, redis: Redis, letter_id: int, *,
                  actor: str, reason: str) -> str | None:  # fmt: skip
    """Hand a kept update to the bot's own handlers again (the user sees the answer); None when it was handled, else
    why it was kept again. Its Telegram update id makes it apply once, whatever reached the journey before."""
    row = await pool.fetchrow("SELECT * FROM dead_letters WHERE id = $1", letter_id)
    if row is None:
        raise SupportError(f"no dead letter {letter_id}")
    if row["redriven_at"] is not None:
        raise SupportError(f"dead letter {letter_id} was re-driven already ({row['redriven_at']:%Y-%m-%d %H:%M} UTC)")
    async with as_the_bot(settings, client, pool) as (bot, journeys):
        dispatcher = build_dispatcher(journeys, settings=settings, pool=pool, redis=redis)
        update = Update.model_validate(json.loads(row["update_json"]), context={"bot": bot})
        await redis.delete(attempts_key(update))  # a fresh start: it is not the crash it may have been
        await pool.execute("UPDATE dead_letters SET redriven_at = now() WHERE id = $1", letter_id)
        await dispatcher.feed_update(bot, update)
    again = await pool.fetchval("SELECT error FROM dead_letters WHERE update_id = $1 AND redriven_at IS NULL "
                                "ORDER BY created_at DESC LIMIT 1", row["update_id"])  # fmt: skip
    await write_audit(pool, actor, "redrive", user_subject(row["telegram_user_id"]) if row["telegram_user_id"] else None,
                      reason, {"dead_letter": letter_id, "update_id": row["update_id"], "kept_again": again})  # fmt: skip
    return str(again) if again is not None else None


async def apply_payment(settings: Settings, client: Client, pool: asyncpg.Pool, charge_id: str, *, actor: str,
                        reason: str) -> str:  # fmt: skip
    """Drive a received payment into its journey now (also one the journey refused before, once fixed)."""
    row = await received_payments.find(pool, charge_id)
    if row is None:
        raise SupportError(f"no payment {charge_id!r} was received")
    if row["applied_at"] is not None or row["refunded_at"] is not None:
        raise SupportError(f"payment {charge_id!r} is {'applied' if row['applied_at'] else 'refunded'} already")
    if row["request"] is None:
        raise SupportError(f"payment {charge_id!r} belongs to an erased user: refund it")
    request = JourneyRequest.model_validate_json(row["request"])
    async with as_the_bot(settings, client, pool) as (bot, journeys):
        screens = ScreenSender(MediaLibrary(pool, settings.media_dir), protect_content=settings.protect_content)
        outcome = await apply_kept_payment(journeys, pool, bot, request, screens)
    await write_audit(pool, actor, "apply payment", user_subject(request.user_id), reason,
                      {"charge_id": charge_id, "applied": not isinstance(outcome, str)})  # fmt: skip
    if isinstance(outcome, str):
        problem = (await received_payments.find(pool, charge_id) or {}).get("problem")
        raise SupportError(f"the journey did not take it: {problem}")
    return f"payment {charge_id} applied to journey-{request.user_id}"
