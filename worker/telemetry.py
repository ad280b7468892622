"""The worker's own metrics: failed activity attempts, by activity and error type.

Spans for workflows and activities come from Temporal's ``TracingInterceptor`` on the client
(``infra.connections.connect_temporal``); Temporal's SDK metrics from the runtime's metric buffer.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from infra.telemetry import ACTIVITY_FAILURES


class ActivityFailures(Interceptor):
    """Counts each failed activity attempt in ``diana_activity_failures`` (a retried one counts each time)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountFailures(next)


class _CountFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as error:
            # ApplicationError's type is the stable name ("Undeliverable", "ProjectionRefused"); else the class.
            kind = error.type if isinstance(error, ApplicationError) and error.type else type(error).__name__
            ACTIVITY_FAILURES.labels(activity=activity.info().activity_type, kind=kind).inc()
            raise
