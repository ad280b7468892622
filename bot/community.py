"""The community channels: reaction buttons under posts, channel joins, and admins publishing posts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, cast

import asyncpg
from aiogram import Bot, F
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, ChatMemberUpdated, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.callbacks import ReactionCB
from adapters.journeys import JourneyRejected, Journeys, JourneyUnavailable
from adapters.screens import send_post
from adapters.texts import language_of, t
from bot.admins import AdminOnly, guarded_router
from bot.albums import RecentAlbums, attached_media
from bot.dead_letters import keep_for_support
from bot.replies import journey_request
from infra.settings import Settings
from workflows.contracts import JourneyError

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

REACTIONS: Final = ("❤️", "🔥", "💋")
MEMBER: Final = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.CREATOR})
MAX_POST_LENGTH: Final = 3500
# The journey's answers that mean "a first reaction to this post" (paid, or counted over the daily cap).
NEW_REACTION_TOASTS: Final = frozenset({"toast.reaction.rewarded", "toast.reaction.capped"})


def reaction_keyboard(counts: Sequence[int] = ()) -> InlineKeyboardMarkup:
    """The buttons under a post, each with how many people chose it (none shown until someone has)."""
    padded = [*counts[: len(REACTIONS)], *[0] * (len(REACTIONS) - len(counts))]
    buttons = [
        InlineKeyboardButton(text=f"{emoji} {count}" if count else emoji, callback_data=ReactionCB(emoji=i).pack())
        for i, (emoji, count) in enumerate(zip(REACTIONS, padded, strict=True))
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def reaction_counts_key(chat_id: int, message_id: int) -> str:
    return f"post:{chat_id}:{message_id}:reactions"


async def show_reaction_counts(bot: Bot, redis: Redis, chat_id: int, message_id: int, emoji: int) -> None:
    """Count a new reaction under its post. Cosmetic: without Redis or Telegram the besitos still count."""
    key = reaction_counts_key(chat_id, message_id)
    try:
        await redis.hincrby(key, str(emoji), 1)
        stored = cast(dict[str, str], await redis.hgetall(key))
        counts = [int(stored.get(str(i), 0)) for i in range(len(REACTIONS))]
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id,
                                            reply_markup=reaction_keyboard(counts))  # fmt: skip
    except (RedisError, TelegramAPIError) as error:
        log.warning("reaction count under post %s:%s not updated: %s", chat_id, message_id, error)


@router.callback_query(ReactionCB.filter(), F.message.chat.type == ChatType.CHANNEL)
async def react(query: CallbackQuery, callback_data: ReactionCB, event_update: Update, journeys: Journeys,
                settings: Settings, bot: Bot, redis: Redis) -> None:  # fmt: skip
    """A reaction button under a community post: besitos once per post, answered as a toast."""
    language = language_of(query.from_user.language_code)
    assert query.message is not None
    chat_id = query.message.chat.id
    if chat_id not in settings.community_channel_ids or not 0 <= callback_data.emoji < len(REACTIONS):
        await query.answer(t(f"reject.{JourneyError.UNKNOWN_ACTION}", language), show_alert=True)
        return
    request = journey_request(event_update, query.from_user, "reaction", action=f"{chat_id}:{query.message.message_id}")
    try:
        reply = await journeys.interact_if_started(request)
    except JourneyRejected as rejected:
        key = "toast.reaction.not_started" if rejected.kind == JourneyError.NOT_STARTED else f"reject.{rejected.kind}"
        await query.answer(t(key, language), show_alert=True)
        return
    except JourneyUnavailable as unavailable:
        keep_for_support(unavailable.reason)
        await query.answer(t("reject.unavailable", language), show_alert=True)
        return
    toast = reply.toast
    await query.answer(t(toast.key, reply.language, **toast.params) if toast else None)
    if toast is not None and toast.key in NEW_REACTION_TOASTS and not reply.duplicate:
        await show_reaction_counts(bot, redis, chat_id, query.message.message_id, callback_data.emoji)


@router.chat_member(F.chat.type == ChatType.CHANNEL)
async def membership(event: ChatMemberUpdated, event_update: Update, journeys: Journeys, settings: Settings) -> None:
    """Someone joined or left a community channel: it counts for the user's journey, if they have one."""
    if event.chat.id not in settings.community_channel_ids:
        return
    joined = event.new_chat_member.status in MEMBER and event.old_chat_member.status not in MEMBER
    left = event.old_chat_member.status in MEMBER and event.new_chat_member.status not in MEMBER
    if not (joined or left):
        return
    request = journey_request(event_update, event.new_chat_member.user, "joined" if joined else "left",
                              action=str(event.chat.id))  # fmt: skip
    try:
        await journeys.interact_if_started(request)
    except JourneyRejected:
        pass  # not a Diana user yet: nothing to count
    except JourneyUnavailable as unavailable:
        keep_for_support(unavailable.reason)


@router.message(Command("publicar", "publish"), F.chat.type == ChatType.PRIVATE,
                flags={"admin": AdminOnly("publish", captions=True)})  # fmt: skip
async def publish(message: Message, command: CommandObject, bot: Bot, settings: Settings, pool: asyncpg.Pool,
                  recent_albums: RecentAlbums, album: list[Message] | None = None) -> None:  # fmt: skip
    """/publicar <texto>: an admin posts to the community channel, with reaction buttons; with a photo, video, voice
    note or album when the command is its caption or answers it."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    text = (command.args or "").strip()
    media = await attached_media(message, album, recent_albums)
    if (not text and not media) or len(text) > MAX_POST_LENGTH or not settings.community_channel_ids:
        await message.answer(t("admin.publish.usage", language, limit=MAX_POST_LENGTH))
        return
    if any(item.kind == "document" for item in media) or (len(media) > 1 and not text):
        # An album cannot carry the reaction buttons: they go under its text, which it must have.
        await message.answer(t("admin.publish.media_usage", language))
        return
    channel = settings.community_channel_ids[0]
    try:
        # Plain text: what the admin typed is shown as typed.
        post = await send_post(bot, channel, text, media, markup=reaction_keyboard(),
                               protect_content=settings.protect_content)  # fmt: skip
    except TelegramAPIError as error:
        await message.answer(t("admin.publish.failed", language, error=error.message))
        return
    await pool.execute(
        "INSERT INTO community_posts (chat_id, message_id, published_by, text, media_kinds) VALUES ($1, $2, $3, $4, $5)",
        channel,
        post.message_id,
        message.from_user.id,
        text,
        [item.kind for item in media],
    )
    await message.answer(t("admin.publish.done", language, message_id=post.message_id))
