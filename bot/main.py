"""Run the bot: long polling by default, or a webhook server (``BOT_MODE=webhook``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from adapters.content_version import ActiveContent
from adapters.journeys import Journeys
from adapters.telegram import create_bot
from adapters.texts import t
from bot import build_dispatcher
from bot.payments import PaymentDriver
from bot.polling import ConfirmedPolling
from infra.connections import connect_temporal, create_pool, create_redis
from infra.health import HealthServer, readiness_checks
from infra.settings import DRAIN_SECONDS, Settings

log = logging.getLogger("diana.bot")


async def publish_commands(bot: Bot) -> None:
    """The command menu in both languages. Optional: a Bot API server without it still runs the bot."""
    for language in ("es", "en"):
        commands = [BotCommand(command=name, description=t(f"command.{name}", language))
                    for name in ("start", "diana", "help")]  # fmt: skip
        try:
            await bot.set_my_commands(commands, language_code=None if language == "es" else language)
        except TelegramAPIError as error:
            log.warning("could not publish the command menu: %s", error.message)
            return


async def run_bot(settings: Settings, stop: asyncio.Event) -> None:
    """Serve updates until ``stop`` is set, then finish the ones in hand and close the session."""
    client = await connect_temporal(settings)
    pool = await create_pool(settings.postgres_dsn, max_size=5)
    redis = create_redis(settings.redis_dsn)
    content = ActiveContent(pool)
    await content.start()
    journeys = Journeys(client, settings.temporal_task_queue, content, deadline=settings.journey_deadline_seconds)
    dispatcher = build_dispatcher(journeys, settings=settings, pool=pool, redis=redis)
    bot = create_bot(settings)
    payments = PaymentDriver(journeys, pool, bot, dispatcher["screens"], every=settings.payment_retry_seconds)
    payments.start()
    health = HealthServer(service="bot", host=settings.health_listen_host, port=settings.bot_health_port,
                          checks=readiness_checks(client, pool, redis))  # fmt: skip
    await health.start()
    try:
        await publish_commands(bot)
        if settings.bot_mode == "webhook":
            await serve_webhook(settings, bot, dispatcher, stop)
        else:
            with contextlib.suppress(TelegramAPIError):  # polling needs no webhook; none may be set
                await bot.delete_webhook(drop_pending_updates=False)
            # Not aiogram's start_polling: it confirms updates before they are handled (lost if killed).
            await ConfirmedPolling(dispatcher, bot, allowed_updates=dispatcher.resolve_used_update_types()).run(stop)
    finally:
        await payments.stop()
        await health.stop()
        await bot.session.close()
        await content.stop()
        await redis.aclose()
        await pool.close()


async def serve_webhook(settings: Settings, bot: Bot, dispatcher: Dispatcher, stop: asyncio.Event) -> None:
    if not settings.webhook_url:
        raise SystemExit("BOT_MODE=webhook needs WEBHOOK_URL (the public HTTPS address Telegram will call)")
    if not settings.webhook_secret and settings.webhook_secret_required:
        raise SystemExit("BOT_MODE=webhook needs WEBHOOK_SECRET (Telegram sends it with every update; without it "
                         "anyone can post forged updates). Set WEBHOOK_SECRET_REQUIRED=false to run without one.")  # fmt: skip
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    app = web.Application()
    # Answered only once handled: Telegram delivers again an update whose handling was cut off (a killed bot),
    # and the journey applies each update once.
    updates = SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret, handle_in_background=False)
    # The route alone: aiogram's register() and setup_application() close the bot's session and shut the
    # dispatcher down in aiohttp's on_shutdown, which runs *before* the updates in hand are drained, so a
    # reply on its way to Telegram would be cut off and retried into a second message.
    app.router.add_post(settings.webhook_path, updates.handle)
    # Stopping, the updates in hand get as long as polling gives them; the rest Telegram delivers again.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=DRAIN_SECONDS)
    await runner.setup()
    hooks = {"bot": bot, "dispatcher": dispatcher, **dispatcher.workflow_data}  # as polling gives them
    try:
        await dispatcher.emit_startup(**hooks)
        await web.TCPSite(runner, settings.webhook_listen_host, settings.webhook_listen_port).start()
        await bot.set_webhook(settings.webhook_url, secret_token=secret,
                              max_connections=settings.webhook_max_connections,
                              allowed_updates=dispatcher.resolve_used_update_types())  # fmt: skip
        log.info("webhook listening on %s:%s%s", settings.webhook_listen_host, settings.webhook_listen_port,
                 settings.webhook_path)  # fmt: skip
        await stop.wait()
    finally:
        await runner.cleanup()  # stops taking updates, then waits for the ones in hand
        await dispatcher.emit_shutdown(**hooks)  # run_bot closes the session after
