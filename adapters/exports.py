"""The user's own export ("export my data"): the journey and every Postgres row about the user, as one document.

Rows about the user only: another person (an admin who sent a broadcast, made a pass or changed the journey) is
named by role, never by Telegram id.

The same document whether the user asks in Configuración or support runs ``diana-support export``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg


async def export_document(pool: asyncpg.Pool, user_id: int, journey: dict[str, Any], requested_at: datetime) -> str:
    """The export as JSON text; ``journey`` is the journey's own part (``JourneyState.exported``)."""
    document = {
        "user_id": user_id,
        "requested_at": requested_at.isoformat(),
        "journey": journey,
        "database": await personal_data(pool, user_id),
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str)


async def personal_data(pool: asyncpg.Pool, user_id: int) -> dict[str, object]:
    """Everything Postgres holds about ``user_id``, as JSON-ready data (for the user's export)."""
    tables = {
        "profile": "SELECT * FROM users WHERE telegram_user_id = $1",
        "besitos_ledger": "SELECT * FROM besitos_ledger WHERE telegram_user_id = $1 ORDER BY id",
        "achievements": "SELECT * FROM user_achievements WHERE telegram_user_id = $1 ORDER BY unlocked_at",
        "missions": "SELECT * FROM user_missions WHERE telegram_user_id = $1 ORDER BY completed_at",
        "story_progress": "SELECT * FROM story_progress WHERE telegram_user_id = $1",
        "story_decisions": "SELECT * FROM story_decisions WHERE telegram_user_id = $1 ORDER BY id",
        "channel_reactions": "SELECT * FROM channel_reactions WHERE telegram_user_id = $1 ORDER BY reacted_at",
        # A broadcast's key names the admin who sent it: the export says only that it was a broadcast.
        "notifications": "SELECT CASE WHEN idempotency_key LIKE 'broadcast:%' THEN 'broadcast' "
        "ELSE idempotency_key END AS message, status, created_at, sent_at "
        "FROM notifications WHERE telegram_user_id = $1 ORDER BY created_at",
        "subscription": "SELECT * FROM subscriptions WHERE telegram_user_id = $1",
        "payments": "SELECT * FROM payments WHERE telegram_user_id = $1 ORDER BY paid_at",
        # Who made the pass is another person: not in this user's export.
        "vip_passes": "SELECT token, plan, created_at, expires_at, redeemed_at FROM vip_passes WHERE redeemed_by = $1 "
        "ORDER BY redeemed_at",
        # What was done about the user, or by them; another person who acted is named by role only.
        "audit_log": "SELECT CASE WHEN actor = 'user:' || $1::bigint THEN 'you' ELSE split_part(actor, ':', 1) END "
        "AS by, action, reason, details - 'actor' - 'admin' - 'callback_data' AS details, created_at "
        "FROM audit_log WHERE subject = 'user:' || $1::bigint OR actor = 'user:' || $1::bigint ORDER BY id",
        "received_payments": "SELECT charge_id, amount, currency, received_at, applied_at, refunded_at, problem "
        "FROM received_payments WHERE telegram_user_id = $1 ORDER BY received_at",
        "referral_code": "SELECT code, created_at FROM referral_codes WHERE telegram_user_id = $1",
        "dead_letters": "SELECT update_id, update_json, error, created_at, redriven_at FROM dead_letters "
        "WHERE telegram_user_id = $1 ORDER BY id",
    }
    data: dict[str, object] = {}
    async with pool.acquire() as conn:
        for name, query in tables.items():
            rows = [json.loads(json.dumps(dict(row), default=str)) for row in await conn.fetch(query, user_id)]
            for row in rows:
                if isinstance(row.get("details"), str):  # jsonb arrives as its text
                    row["details"] = json.loads(row["details"])
            data[name] = rows[0] if name in ("profile", "story_progress") and rows else rows
    return data
