"""The architecture floor's bot: Diana's path from an update to its reply, with a trivial workflow and trivial handlers.

Built as the real bot is (``bot.main.run_bot``): the project's Bot (``adapters.telegram.create_bot``),
Temporal client (``infra.connections.connect_temporal``), logging and tracing set up as ``diana bot`` does,
and the same webhook server (``bot.main.serve_webhook``: each update answered once handled), or the same
confirmed long polling with ``BOT_MODE=polling``. Each text or command is one update-with-start on the
user's :class:`benchmarks.floor.FloorWorkflow` (``TEMPORAL_TASK_QUEUE``, served by ``python -m
benchmarks.floor``) and one ``sendMessage`` with its result and a button; each press of that button is one
update-with-start and the pressed message redrawn (``editMessageText``) while its spinner stops
(``answerCallbackQuery``), at once, as Diana's journey buttons are. None of Diana's middlewares, routers,
rules, Postgres or Redis: whatever Diana spends above this is Diana's, not the architecture's.

``python -m benchmarks.echo_bot`` runs it until SIGTERM, configured from the environment as ``diana bot``
is (``TELEGRAM_API_BASE``, ``TEMPORAL_ADDRESS``, ``TEMPORAL_TASK_QUEUE``, ``BOT_MODE``, ``WEBHOOK_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Final

from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from temporalio.client import Client

from adapters.telegram import create_bot
from adapters.texts import language_of, t
from benchmarks import floor
from bot.main import serve_webhook
from bot.polling import ConfirmedPolling
from infra import telemetry
from infra.connections import connect_temporal
from infra.settings import Settings

log = logging.getLogger("bench.echo_bot")

# The one button of every reply; the load generator presses it.
PRESS: Final = "bench:touch"
MARKUP: Final = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Otra vez", callback_data=PRESS)]])


def update_id(update: Update) -> str:
    """The Temporal Update id of a Telegram update, as the bot names a journey's (a redelivery is applied once)."""
    return f"telegram-update-{update.update_id}"


async def ask(client: Client, task_queue: str, user_id: int, update: Update) -> str | None:
    """The reply's text: the workflow's answer (this update's id), or None when Temporal did not answer."""
    try:
        touched = await floor.touch(client, task_queue, user_id, update_id(update), value=update.update_id)
    except Exception:  # as Diana's bot: the user gets a refusal, the log the cause
        log.exception("the floor workflow of %s did not answer update %s", user_id, update.update_id)
        return None
    return f"Toque {touched}"


def build_dispatcher(client: Client, task_queue: str) -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def said(message: Message, event_update: Update) -> None:
        assert message.from_user is not None
        text = await ask(client, task_queue, message.from_user.id, event_update)
        if text is None:
            await message.answer(t("reject.unavailable", language_of(message.from_user.language_code)))
            return
        await message.answer(text, reply_markup=MARKUP)

    @dispatcher.callback_query(F.data == PRESS)
    async def pressed(query: CallbackQuery, event_update: Update) -> None:
        text = await ask(client, task_queue, query.from_user.id, event_update)
        if text is None:
            await query.answer(t("reject.unavailable", language_of(query.from_user.language_code)), show_alert=True)
            return
        message = query.message
        if not isinstance(message, Message):
            await query.answer()
            return

        async def stop_spinner() -> None:
            await query.answer()

        async def redraw() -> None:
            await message.edit_text(text, reply_markup=MARKUP)

        # As Diana's buttons (bot.navigation.press): the spinner stops and the screen is redrawn at once.
        await asyncio.gather(stop_spinner(), redraw())

    return dispatcher


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Serve updates until ``stop`` is set, as ``bot.main.run_bot`` does."""
    client = await connect_temporal(settings)
    dispatcher = build_dispatcher(client, settings.temporal_task_queue)
    bot: Bot = create_bot(settings)
    try:
        if settings.bot_mode == "webhook":
            await serve_webhook(settings, bot, dispatcher, stop)
        else:
            with contextlib.suppress(TelegramAPIError):
                await bot.delete_webhook(drop_pending_updates=False)
            await ConfirmedPolling(dispatcher, bot, allowed_updates=dispatcher.resolve_used_update_types()).run(stop)
    finally:
        await bot.session.close()


def main() -> None:
    settings = Settings()
    # As ``diana bot`` (tools.cli._serve): JSON logs on stderr, tracing as OTEL_EXPORTER says.
    telemetry.configure_logging(settings, service="bench-echo-bot")
    telemetry.setup_tracing(settings, service="bench-echo-bot")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    try:
        asyncio.run(serve())
    finally:
        telemetry.shutdown_tracing()


if __name__ == "__main__":
    main()
