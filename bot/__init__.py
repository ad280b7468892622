"""Diana's Telegram bot: a thin translator from updates to journey Updates, one Router per feature."""

from __future__ import annotations

import asyncpg
from aiogram import Dispatcher, F
from aiogram.enums import ChatType
from redis.asyncio import Redis

from adapters.journeys import Journeys
from adapters.media_library import MediaLibrary
from adapters.screens import ScreenSender
from bot import (
    admin_orders,
    admin_panel,
    admin_users,
    auction_admin,
    auctions,
    broadcasts,
    community,
    conversation,
    door,
    fallback,
    media,
    navigation,
    paid_media,
    ranking,
    start,
    vip,
)
from bot.albums import AlbumCollector, RecentAlbums
from bot.dead_letters import DeadLetters
from bot.middlewares import UserSerialisation
from bot.rate_limit import RateLimit
from bot.telemetry import instrument_dispatcher
from infra.settings import Settings


def build_dispatcher(journeys: Journeys, *, settings: Settings, pool: asyncpg.Pool, redis: Redis) -> Dispatcher:
    screens = ScreenSender(MediaLibrary(pool, settings.media_dir), protect_content=settings.protect_content)
    recent_albums = RecentAlbums()
    dispatcher = Dispatcher(journeys=journeys, settings=settings, pool=pool, redis=redis, screens=screens,
                            recent_albums=recent_albums)  # fmt: skip
    instrument_dispatcher(dispatcher)  # first: the update's span covers the wait for the user's turn
    # Before the user's turn: an album's first item waits for the others, which must not queue behind it.
    dispatcher.update.outer_middleware(AlbumCollector(recent_albums))
    dispatcher.update.outer_middleware(UserSerialisation())
    # Inside the user's turn (its Redis call is an await: before the lock, a later update could overtake an
    # earlier one): whatever goes wrong below, the update is kept for support and the bot moves on.
    dispatcher.update.outer_middleware(DeadLetters(pool, redis))
    # The rate limit inside the user's turn, not before it: its Redis call is an await, and one placed before
    # the lock would let a later update of the user overtake an earlier one. Dropped updates cost one INCR.
    dispatcher.update.outer_middleware(RateLimit(redis, updates=settings.rate_limit_updates,
                                                 window=settings.rate_limit_window_seconds,
                                                 exempt=settings.admin_ids))  # fmt: skip
    # Journeys live in the private chat with Diana: a root filter here gates every router's messages
    # (channel posts and joins arrive as callback queries and chat_member updates, not messages).
    dispatcher.message.filter(F.chat.type == ChatType.PRIVATE)
    # Order matters: VIP (payments, passes, the VIP channel), community (admin commands, channel
    # buttons), ranking and auctions before the journey's
    # own buttons, commands before free text, fallback last.
    # The admin panel takes /admin and uploaded documents before the journey's commands and fallback do.
    dispatcher.include_routers(vip.router, community.router, broadcasts.router, media.router, paid_media.router,
                               admin_panel.router, door.router,
                               admin_users.router, admin_orders.router, auction_admin.router, start.router,
                               ranking.router, auctions.router, navigation.router, conversation.router,
                               fallback.router)  # fmt: skip
    return dispatcher
