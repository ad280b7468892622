"""The Bot both processes talk to Telegram with, and its outbound-call middlewares.

The bot answers updates with it and the worker's activities send notices, invoices and invite links with it:
each call is retried patiently on 429 and 5xx (``PatientRequests``) and counted (``TelegramCalls``). Span
attributes are method names only, never a text or a URL (it carries the token).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, Response
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from infra.settings import Settings
from infra.telemetry import TELEGRAM_REQUESTS

if TYPE_CHECKING:
    from aiogram.methods import TelegramMethod
    from aiogram.methods.base import TelegramType

log = logging.getLogger("diana.telegram")
tracer: Final = trace.get_tracer("diana.telegram")


def create_bot(settings: Settings) -> Bot:
    """The aiogram bot, pointed at ``TELEGRAM_API_BASE`` (Telegram, or any server speaking the Bot API)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.bot_api_base))
    session.middleware(LateCallbackAnswers())
    session.middleware(PatientRequests())
    session.middleware(TelegramCalls())  # inside PatientRequests: counts every attempt, 429s included
    return Bot(settings.bot_token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


# aiogram parses every answer as ``Response[<the method's result type>]``. pydantic keeps such classes only
# weakly and aiogram's models build their validators on first use, so after each garbage collection the
# next call rebuilt its class: 2-15 ms of CPU per Bot API call, the bot's largest cost under load
# (benchmarks/load.py). Holding each one once keeps pydantic's cache warm.
_RESPONSE_TYPES: dict[type[Any], Any] = {}


class LateCallbackAnswers(BaseRequestMiddleware):
    """A button press answered too late (a redelivered update, a slow turn) is not a failure of the update.

    Telegram takes a callback query's answer for a short while only; past it, the press has been handled all the
    same, and failing the update for its toast would keep it as a dead letter.
    """

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as refused:
            if not isinstance(method, AnswerCallbackQuery) or "query is too old" not in refused.message:
                raise
            log.info("a button press was answered too late: %s", refused.message)
            answered: Response[TelegramType] = Response(ok=True, result=True)
            return answered


class PatientRequests(BaseRequestMiddleware):
    """Retry outbound Bot API calls on 429 (after ``retry_after``) and 5xx/network errors, within bounds.

    It also holds the class each answer is parsed with (see ``_RESPONSE_TYPES``).
    """

    MAX_ATTEMPTS: Final = 5
    MAX_WAIT: Final = 30.0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if type(method) not in _RESPONSE_TYPES:
            returning: Any = method.__returning__
            _RESPONSE_TYPES[type(method)] = Response[returning]
        delay = 0.5
        for attempt in range(1, self.MAX_ATTEMPTS + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as flood:
                if attempt == self.MAX_ATTEMPTS or flood.retry_after > self.MAX_WAIT:
                    raise
                log.warning("Telegram asked to wait %ss before %s", flood.retry_after, type(method).__name__)
                await asyncio.sleep(flood.retry_after)
            except (TelegramServerError, TelegramNetworkError):
                if attempt == self.MAX_ATTEMPTS:
                    raise
                log.warning("Telegram failed %s (attempt %d), retrying", type(method).__name__, attempt)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")


class TelegramCalls(BaseRequestMiddleware):
    """Counts every outbound Bot API attempt by method and outcome (429s included); a span when traced.

    Registered after ``PatientRequests``, so each retry after a 429 or a 5xx counts on its own.
    """

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        api_method = method.__api_method__
        traced = trace.get_current_span().get_span_context().is_valid
        if not traced:  # the long poll and other calls outside an update or activity: counted, not traced
            return await self._counted(make_request, bot, method, api_method)
        with tracer.start_as_current_span(f"telegram {api_method}", kind=SpanKind.CLIENT,
                                          attributes={"telegram.method": api_method},
                                          record_exception=False, set_status_on_exception=False) as span:  # fmt: skip
            try:
                return await self._counted(make_request, bot, method, api_method)
            except Exception as error:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.set_attribute("telegram.outcome", _outcome(error))
                raise

    @staticmethod
    async def _counted(
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        api_method: str,
    ) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except Exception as error:
            TELEGRAM_REQUESTS.labels(method=api_method, outcome=_outcome(error)).inc()
            raise
        TELEGRAM_REQUESTS.labels(method=api_method, outcome="ok").inc()
        return response


def _outcome(error: BaseException) -> str:
    if isinstance(error, TelegramRetryAfter):
        return "429"
    if isinstance(error, TelegramServerError):
        return "5xx"
    if isinstance(error, TelegramNetworkError):
        return "network"
    if isinstance(error, TelegramAPIError):
        return "refused"
    return "error"
