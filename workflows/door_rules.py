"""The free channels' door, as pure rules: workflow ids, the delay's bounds and what is left of it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

DEFAULT_DELAY: Final = timedelta(minutes=5)
MAX_DELAY: Final = timedelta(hours=24)
MAX_DELAY_MINUTES: Final = int(MAX_DELAY.total_seconds() // 60)
DOOR_ID: Final = re.compile(r"^door-(-?\d+)-(\d+)$")


def door_id(chat_id: int, user_id: int) -> str:
    """One running door per channel and user: a redelivered request finds the one already waiting."""
    return f"door-{chat_id}-{user_id}"


def parse_door_id(workflow_id: str) -> tuple[int, int] | None:
    """(channel, user) of a door's workflow id; None for anything else."""
    match = DOOR_ID.match(workflow_id)
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_delay_minutes(text: str | None) -> int | None:
    """An admin's delay in whole minutes, 0 to 24 h; None when it is not one."""
    value = (text or "").strip()
    if not value.isdigit() or len(value) > 5:
        return None
    minutes = int(value)
    return minutes if minutes <= MAX_DELAY_MINUTES else None


def time_left(requested_at: datetime, delay: timedelta, now: datetime) -> timedelta:
    """How long the request still waits: the delay counts from Telegram's date of the request."""
    return max(requested_at + delay - now, timedelta(0))


def message_key(chat_id: int, user_id: int, requested_at: datetime, kind: str) -> str:
    """A door message's idempotency key: the same request (a redelivered update, a new run) sends it once."""
    return f"door-{chat_id}-{user_id}-{int(requested_at.timestamp())}-{kind}"
