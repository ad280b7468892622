"""The one writer of the append-only audit log: who did (or tried) what to what, why, and when."""

from __future__ import annotations

import json
from collections.abc import Mapping

import asyncpg


def user_subject(user_id: int) -> str:
    """How a user is named as the subject of an audit row."""
    return f"user:{user_id}"


async def write_audit(db: asyncpg.Pool | asyncpg.Connection, actor: str, action: str, subject: str | None,
                      reason: str | None = None, details: Mapping[str, object] | None = None, *,
                      once_by: str | None = None) -> bool:  # fmt: skip
    """Append one row; with ``once_by`` (a key of ``details``), only if no row of this action has that value there
    yet, so a redelivered command or a retried activity is audited once. Returns whether a row was written."""
    row = (actor, action, subject, reason, json.dumps(details or {}, ensure_ascii=False, default=str))
    if once_by is None:
        await db.execute("INSERT INTO audit_log (actor, action, subject, reason, details) "
                         "VALUES ($1, $2, $3, $4, $5::jsonb)", *row)  # fmt: skip
        return True
    status = await db.execute(
        """
        INSERT INTO audit_log (actor, action, subject, reason, details)
        SELECT $1, $2, $3, $4, $5::jsonb
        WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE action = $2 AND details->>$6 = $7)
        """,
        *row, once_by, str((details or {})[once_by]),
    )  # fmt: skip
    return bool(status.endswith(" 1"))
