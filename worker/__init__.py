"""The worker process: the one list of workflows and activities, shared by worker, tests and Replayer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import asyncpg

from activities.projection import ProjectionActivities
from workflows.journey import JourneyWorkflow

WORKFLOWS: Final[list[type]] = [JourneyWorkflow]


def build_activities(pool: asyncpg.Pool) -> list[Callable[..., Any]]:
    """Every activity the journey runs, bound to the clients the worker built once."""
    projection = ProjectionActivities(pool)
    return [projection.record_profile, projection.append_besitos_ledger, projection.record_achievement]
