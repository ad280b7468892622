"""Who an admin's broadcast reaches: the segments, as SQL over the projection (the broadcast's pages and its
preview count the same people)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg

from workflows.broadcast_contracts import Segment

# Finished onboarding, not erased, not banned, and not known to have blocked the bot (a visit after the
# 403 means the user unblocked it). VIP: an active or grace subscription; free: everyone else.
# Parameters: $1 the user id to start after, $2 the segment, $3 the inactivity cut-off.
ELIGIBLE_SQL: Final = """
    u.stage = 'active' AND u.banned_at IS NULL
    AND (u.blocked_at IS NULL OR u.blocked_at < u.last_seen_at)
    AND CASE $2::text
        WHEN 'vip' THEN EXISTS (SELECT 1 FROM subscriptions s WHERE s.telegram_user_id = u.telegram_user_id
                                AND s.status IN ('active', 'grace'))
        WHEN 'free' THEN NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.telegram_user_id = u.telegram_user_id
                                     AND s.status IN ('active', 'grace'))
        WHEN 'inactive' THEN u.last_seen_at < $3
        ELSE true
    END
"""
RECIPIENTS_SQL: Final = f"""
    SELECT u.telegram_user_id FROM users u
    WHERE u.telegram_user_id > $1 AND {ELIGIBLE_SQL}
    ORDER BY u.telegram_user_id
    LIMIT $4
"""  # noqa: S608 (no user input: the segment is a parameter)
COUNT_SQL: Final = f"SELECT count(*) FROM users u WHERE u.telegram_user_id > $1 AND {ELIGIBLE_SQL}"  # noqa: S608


async def segment_size(pool: asyncpg.Pool, segment: Segment, inactive_before: datetime | None, after: int = 0) -> int:
    """How many people a broadcast to ``segment`` reaches now (after user id ``after``)."""
    return int(await pool.fetchval(COUNT_SQL, after, segment, inactive_before))
