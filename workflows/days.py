"""Calendar days in the community's time zone: streaks, daily caps, reminders and weekly boards.

A "day" is a calendar day where the community lives, never a rolling 24 hours: a visit at 23:50
and another at 00:10 are two days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(_zone(timezone)).date()


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def next_local_time(moment: datetime, timezone: str, hour: int) -> datetime:
    """The first ``hour``:00 local time strictly after ``moment``, as an aware datetime."""
    zone = _zone(timezone)
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=zone)
    return candidate


def start_of_day(day: date, timezone: str) -> datetime:
    """The first moment of ``day`` where the community lives, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=_zone(timezone))


def local_moment(moment: datetime, timezone: str) -> str:
    """A moment as the community reads it, with no words to translate: ``23/12/2026 20:15``."""
    return moment.astimezone(_zone(timezone)).strftime("%d/%m/%Y %H:%M")
