"""Bringing the existing community over: ``diana-support import-vips FILE.csv --reason R``.

The file lists one user a line, ``telegram_user_id,vip_until[,plan][,username]`` (a header line naming the columns,
blank lines and ``#`` comments are skipped). ``vip_until`` is an ISO date, meaning the end of that day (23:59:59) in
the content's time zone, or an ISO date-time with its zone (``2027-01-31T20:00:00+01:00``, ``...Z``). ``plan`` is a
VIP plan code of the active content (shown in the VIP menu), ``username`` is written to the audit log only (Telegram
tells the journey the real one on the first visit).

Every row is checked before anything changes; a refused row (bad id, malformed, date in the past, unknown plan,
the same user again) is reported with its line and applies nothing. Each valid row becomes one ``import_vip``
change through the journey's ``Support`` Update, started if the user has none (stage "new": the introduction on
their first /start, already VIP; a user whose journey ended, erased or lapsed, gets a new one, as on a /start).
No invite is sent (they are in the VIP channel already; the VIP menu gives a fresh link), and VIP reminders to a user
who never opened the bot are parked (Telegram refuses them). A row's request id comes from its content (user, moment, plan), and the journey
applies it once (by request id, and by the ``import:<request id>`` charge it records): running the same file again
after an interruption sends only the rows not audited yet and reports the others as imported already. Each row is
audited once (``import_vip``, by request id), also when the interruption fell between the journey and the audit.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client

from adapters import journeys
from adapters.audit import user_subject, write_audit
from adapters.journeys import JourneyRejected, JourneyUnavailable
from workflows.contracts import SupportRequest

AUDIT_ACTION: Final = "import_vip"
COLUMNS: Final = ("telegram_user_id", "vip_until", "plan", "username")
# Telegram user ids have at most 52 significant bits.
MAX_USER_ID: Final = 2**52
USERNAME: Final = re.compile(r"^[A-Za-z0-9_]{4,32}$")
END_OF_DAY: Final = time(23, 59, 59)
# Journeys started and changed at once: enough for a few hundred rows in seconds, little enough for a small worker.
CONCURRENCY: Final = 8


@dataclass(frozen=True)
class ImportRow:
    line: int
    user_id: int
    until: datetime  # UTC
    plan: str = ""
    username: str = ""

    @property
    def request_id(self) -> str:
        """Named by the row's content: the same row (in this file or a re-saved one) is the same change."""
        return f"vip-{self.user_id}-{self.until:%Y%m%dT%H%M%SZ}" + (f"-{self.plan}" if self.plan else "")


@dataclass(frozen=True)
class Refusal:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    applied: list[tuple[ImportRow, str]] = field(default_factory=list)
    already: list[ImportRow] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    failed: list[tuple[ImportRow, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.rows} rows: {len(self.applied)} imported, {len(self.already)} imported already, "
               f"{len(self.refused)} refused, {len(self.failed)} failed"]  # fmt: skip
        out += [f"  line {r.line}: refused: {r.reason}" for r in sorted(self.refused, key=lambda r: r.line)]
        out += [f"  line {row.line}: failed (user {row.user_id}): {why}"
                for row, why in sorted(self.failed, key=lambda f: f[0].line)]  # fmt: skip
        return out


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse(text: str, *, now: datetime, zone: str, plans: Collection[str]) -> tuple[list[ImportRow], list[Refusal]]:
    """Every row checked before anything is applied: the valid ones, and the refused ones with their reason."""
    rows: list[ImportRow] = []
    refused: list[Refusal] = []
    first_line: dict[int, int] = {}  # user id -> the line that names them first
    for line, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if cells[0].lower() == COLUMNS[0] and not rows and not refused:
            continue  # the header
        try:
            row = _row(line, cells, now=now, zone=ZoneInfo(zone), plans=plans)
        except ValueError as bad:
            refused.append(Refusal(line, str(bad)))
            user = cells[0]
            if user.isdigit() and int(user) not in first_line:
                first_line[int(user)] = line
            continue
        if row.user_id in first_line:
            refused.append(Refusal(line, f"duplicate row: user {row.user_id} is on line {first_line[row.user_id]}"))
            continue
        first_line[row.user_id] = line
        rows.append(row)
    return rows, refused


def _row(line: int, cells: list[str], *, now: datetime, zone: ZoneInfo, plans: Collection[str]) -> ImportRow:
    if not 2 <= len(cells) <= len(COLUMNS):
        raise ValueError(f"malformed: {len(cells)} columns, expected {','.join(COLUMNS[:2])}[,plan][,username]")
    user, until_text, plan, username = (*cells, "", "")[:4]
    if not user.isdigit() or not 0 < int(user) < MAX_USER_ID:
        raise ValueError(f"bad id {user!r}: not a Telegram user id")
    until = _moment(until_text, zone)
    if until <= now:
        raise ValueError(f"date in the past: {until_text}")
    if plan and plan not in plans:
        raise ValueError(f"unknown plan {plan!r} (plans: {', '.join(sorted(plans)) or 'none'})")
    username = username.removeprefix("@")
    if username and not USERNAME.match(username):
        raise ValueError(f"malformed username {username!r}")
    return ImportRow(line=line, user_id=int(user), until=until, plan=plan, username=username)


def _moment(text: str, zone: ZoneInfo) -> datetime:
    """A date is the end of that day in the content's time zone; a date-time must name its zone."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), END_OF_DAY, zone).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"malformed date {text!r}: an ISO date (2027-01-31) or date-time with its zone") from None
    if moment.tzinfo is None:
        raise ValueError(f"malformed date {text!r}: a date-time needs its time zone (Z or +01:00)")
    return moment.astimezone(UTC)


async def apply(client: Client, pool: asyncpg.Pool, task_queue: str, content_version: int, rows: list[ImportRow], *,
                actor: str, reason: str, source: str = "", concurrency: int = CONCURRENCY,
                report: ImportReport | None = None) -> ImportReport:  # fmt: skip
    """Apply the valid rows (a few at once), each once: recorded in ``report`` as they are done."""
    report = report or ImportReport()
    gate = asyncio.Semaphore(concurrency)
    # Rows an earlier run applied and audited: not sent again. (One it applied and did not audit, interrupted in
    # between, is sent again: its journey has it already, and it is audited now.)
    audited = {row["request_id"] for row in await pool.fetch(
        "SELECT details->>'request_id' AS request_id FROM audit_log WHERE action = $1 "
        "AND details->>'request_id' = ANY($2::text[])", AUDIT_ACTION, [row.request_id for row in rows])}  # fmt: skip
    report.already += [row for row in rows if row.request_id in audited]
    rows = [row for row in rows if row.request_id not in audited]

    async def one(row: ImportRow) -> None:
        async with gate:
            await _apply_row(client, pool, task_queue, content_version, row, actor=actor, reason=reason,
                             source=source, report=report)  # fmt: skip

    async with asyncio.TaskGroup() as group:
        for row in rows:
            group.create_task(one(row))
    return report


async def _apply_row(client: Client, pool: asyncpg.Pool, task_queue: str, content_version: int, row: ImportRow, *,
                     actor: str, reason: str, source: str, report: ImportReport) -> None:  # fmt: skip
    request = SupportRequest(request_id=row.request_id, user_id=row.user_id, actor=actor, action="import_vip",
                             until=row.until, plan=row.plan, content_version=content_version, reason=reason)  # fmt: skip
    try:
        reply = await journeys.request_support_with_start(client, task_queue, request)
    except JourneyRejected as rejected:  # an erased or lapsed journey
        report.failed.append((row, rejected.message or rejected.kind))
        return
    except JourneyUnavailable as unavailable:
        report.failed.append((row, f"{unavailable.reason}; run the import again"))
        return
    # Audited once per row, also when an interrupted run had the journey apply it and stopped before this.
    await write_audit(pool, actor, AUDIT_ACTION, user_subject(row.user_id), reason,
                      {"request_id": row.request_id, "until": row.until.isoformat(), "plan": row.plan,
                       "username": row.username, "line": row.line, "file": source, "message": reply.message},
                      once_by="request_id")  # fmt: skip
    if reply.duplicate:
        report.already.append(row)
    else:
        report.applied.append((row, reply.message))
