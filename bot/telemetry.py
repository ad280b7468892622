"""The bot's traces and metrics: a span per update, handler latency, errors (outbound calls: ``adapters.telegram``).

Span attributes are ids and names only (update id and type, user id, handler, Bot API method): never
a message text, a payment payload, a URL (it carries the token) or an exception message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED, NextMiddlewareType
from aiogram.types import TelegramObject, Update, User
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from infra.telemetry import UPDATE_ERRORS, UPDATE_SECONDS, UPDATES_IN_HAND

if TYPE_CHECKING:
    from aiogram import Dispatcher

tracer: Final = trace.get_tracer("diana.bot")
_TIMING: Final = "diana_handler_timing"
_REFUSED: Final = "diana_admin_refused"
# The handler label of a non-admin's attempt at an admin handler: the gate answered, the handler never ran.
REFUSED_ADMIN_ATTEMPT: Final = "admin refused"


class _Handled:
    """Filled by ``HandlerTiming`` for ``UpdateSpan``: did a handler take the update."""

    handled = False


def instrument_dispatcher(dispatcher: Dispatcher) -> None:
    """A span around each update (outermost, so it covers the wait for the user's turn) and per-handler timing."""
    dispatcher.update.outer_middleware(UpdateSpan())
    timing = HandlerTiming()
    # Inner middlewares of the dispatcher's observers run around the handlers of every included router.
    for name, observer in dispatcher.observers.items():
        if name not in {"update", "error"}:
            observer.middleware(timing)


class UpdateSpan(BaseMiddleware):
    """One span per Telegram update; the journey's Temporal spans become its children."""

    async def __call__(
        self,
        handler: NextMiddlewareType[TelegramObject],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        kind = _update_type(event)
        attributes: dict[str, str | int] = {"telegram.update_id": event.update_id, "telegram.update_type": kind}
        user: User | None = data.get("event_from_user")
        if user is not None:
            attributes["telegram.user_id"] = user.id
        handled = data[_TIMING] = _Handled()
        started = time.perf_counter()
        span_of_update = tracer.start_as_current_span(f"telegram.update {kind}", kind=SpanKind.SERVER,
                                                      attributes=attributes, record_exception=False,
                                                      set_status_on_exception=False)  # fmt: skip
        with UPDATES_IN_HAND.track_inprogress(), span_of_update as span:
            try:
                result = await handler(event, data)
            except Exception as error:
                UPDATE_ERRORS.labels(kind=type(error).__name__).inc()
                # The class only: an exception's message may quote the user (pydantic echoes input values).
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.set_attribute("error.type", type(error).__name__)
                raise
            if result is UNHANDLED and not handled.handled:
                UPDATE_SECONDS.labels(router="", handler="unhandled").observe(time.perf_counter() - started)
                span.set_attribute("diana.handler", "unhandled")
            return result


class HandlerTiming(BaseMiddleware):
    """Times the handler that took the update, labelled by its router and function name."""

    async def __call__(
        self,
        handler: NextMiddlewareType[TelegramObject],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        handled: _Handled | None = data.get(_TIMING)
        if handled is not None:
            handled.handled = True
        handler_object = data.get("handler")
        callback = getattr(handler_object, "callback", None)
        name = getattr(callback, "__name__", "unknown")
        router = data.get("event_router")
        router_name = getattr(router, "name", "") or ""
        trace.get_current_span().set_attribute("diana.handler", f"{router_name}:{name}")
        started = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            if data.pop(_REFUSED, False):
                name = REFUSED_ADMIN_ATTEMPT
                trace.get_current_span().set_attribute("diana.handler", f"{router_name}:{name}")
            UPDATE_SECONDS.labels(router=router_name, handler=name).observe(time.perf_counter() - started)


def mark_refused(data: dict[str, Any]) -> None:
    """Told by the admin gate: the handler matched but did not run, so the time is not the handler's."""
    data[_REFUSED] = True


def _update_type(update: Update) -> str:
    try:
        return update.event_type
    except Exception:  # a kind this aiogram does not know yet
        return "unknown"
