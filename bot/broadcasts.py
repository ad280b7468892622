"""Admin broadcasts: /difundir shows a preview, its ✅ starts a Broadcast workflow; /difusion and its button show how far
it got.

The bot only checks the command, shows the text as each person will read it with how many it reaches, and on the
admin's ✅ starts the workflow; pacing, Telegram's limits, blocked users and
resuming after a crash are the workflow's (see :mod:`workflows.broadcast`). The broadcast's id comes
from the admin's message (``broadcast-<chat id>-<message id>``), so a redelivered update finds the
broadcast it already started instead of sending everything again; unlike an update id, a message id
never comes back in the same chat.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg
from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from pydantic import ValidationError
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.audience import segment_size
from adapters.audit import write_audit
from adapters.callbacks import CallbackPrefix
from adapters.journeys import Journeys
from adapters.screens import send_post
from adapters.texts import language_of, t
from bot import confirmations
from bot.admins import AdminOnly, guarded_router
from bot.albums import RecentAlbums, attached_media
from bot.confirmations import ConfirmCB
from bot.paid_media import keep_offer
from infra.settings import Settings
from workflows.broadcast import BroadcastWorkflow
from workflows.broadcast_contracts import (
    BROADCAST_ID_PREFIX,
    MAX_PAID_MEDIA_STARS,
    BroadcastInput,
    BroadcastProgress,
    Segment,
    telegram_length,
)
from workflows.contracts import MAX_TEXT_LENGTH

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

SEGMENTS: Final[dict[str, Segment]] = {"todos": "all", "all": "all", "vip": "vip", "gratis": "free", "free": "free",
                                        "inactivos": "inactive", "inactive": "inactive"}  # fmt: skip
MAX_INACTIVE_DAYS: Final = 3650
# A query needs a worker to answer: without one, say so rather than keep the admin waiting.
QUERY_TIMEOUT: Final = timedelta(seconds=5)
BROADCAST_ID: Final = re.compile(rf"{re.escape(BROADCAST_ID_PREFIX)}\d+-\d+")
_COMMAND_ARGS: Final = re.compile(r"(\S+)\s+(.*)", re.DOTALL)
CONFIRM_ACTION: Final = "broadcast"


class BroadcastCB(CallbackData, prefix=CallbackPrefix.BROADCAST):
    """The "Progress" button under a broadcast's messages to the admin."""

    broadcast: str


class BadBroadcast(ValueError):
    """The /difundir arguments do not make a broadcast; nothing is started."""


@dataclass(frozen=True)
class BroadcastCommand:
    segment: Segment
    inactive_days: int | None
    text: str


def parse_broadcast(args: str | None) -> BroadcastCommand:
    """``<segment> <text>``: segment ``todos|all``, ``vip``, ``gratis|free`` or ``inactivos:N|inactive:N``.

    :raises BadBroadcast: unknown segment, N not a whole number from 1 to 3650, no text, or a text
        longer than Telegram takes.
    """
    match = _COMMAND_ARGS.fullmatch((args or "").strip())
    if match is None:
        msg = "a segment and a text are needed"
        raise BadBroadcast(msg)
    name, _, days = match.group(1).lower().partition(":")
    text = match.group(2).strip()
    segment = SEGMENTS.get(name)
    if segment is None:
        msg = f"unknown segment {name!r}"
        raise BadBroadcast(msg)
    inactive_days = None
    if segment == "inactive":
        if not days.isascii() or not days.isdigit() or not 1 <= int(days) <= MAX_INACTIVE_DAYS:
            msg = f"inactive needs a number of days from 1 to {MAX_INACTIVE_DAYS}, got {days!r}"
            raise BadBroadcast(msg)
        inactive_days = int(days)
    elif days:
        msg = f"segment {name!r} takes no number"
        raise BadBroadcast(msg)
    if not text:
        msg = "the text is empty"
        raise BadBroadcast(msg)
    if telegram_length(text) > MAX_TEXT_LENGTH:
        msg = f"the text is longer than {MAX_TEXT_LENGTH} characters"
        raise BadBroadcast(msg)
    return BroadcastCommand(segment=segment, inactive_days=inactive_days, text=text)


def broadcast_id_for(message: Message) -> str:
    return f"{BROADCAST_ID_PREFIX}{message.chat.id}-{message.message_id}"


def progress_keyboard(broadcast_id: str, language: str) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=t("admin.broadcast.progress_button", language),
                                  callback_data=BroadcastCB(broadcast=broadcast_id).pack())  # fmt: skip
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def read_progress(client: Client, pool: asyncpg.Pool, broadcast_id: str) -> BroadcastProgress | None:
    """The running (or recently finished) workflow's progress; an older one's totals from ``broadcasts``."""
    try:
        progress: BroadcastProgress = await client.get_workflow_handle(broadcast_id).query(
            BroadcastWorkflow.current_progress, rpc_timeout=QUERY_TIMEOUT
        )
        return progress
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    row = await pool.fetchrow("SELECT * FROM broadcasts WHERE id = $1", broadcast_id)
    if row is None:
        return None
    return BroadcastProgress(sent=row["sent"], blocked=row["skipped_blocked"], failed=row["failed"],
                             unconfirmed=row["unconfirmed"], total=row["total"], done=row["finished_at"] is not None,
                             started_at=row["created_at"], finished_at=row["finished_at"])  # fmt: skip


async def progress_screen(journeys: Journeys, pool: asyncpg.Pool, broadcast_id: str,
                          language: str) -> tuple[str, InlineKeyboardMarkup | None]:  # fmt: skip
    """The progress text, with the button to look again while the broadcast runs."""
    progress = await read_progress(journeys.client, pool, broadcast_id)
    if progress is None:
        return t("admin.broadcast.unknown", language, id=broadcast_id), None
    state = t(f"admin.broadcast.state.{'done' if progress.done else 'running'}", language)
    text = t("admin.broadcast.progress", language, id=broadcast_id, state=state, sent=progress.sent,
             blocked=progress.blocked, failed=progress.failed, unconfirmed=progress.unconfirmed,
             total=progress.total)  # fmt: skip
    return text, None if progress.done else progress_keyboard(broadcast_id, language)


async def audit_start(pool: asyncpg.Pool, admin_id: int, broadcast: BroadcastInput) -> None:
    """One audit row per broadcast, also when the update that started it is delivered again."""
    details = {"broadcast_id": broadcast.broadcast_id, "inactive_days": broadcast.inactive_days,
               "text_length": len(broadcast.text), "media": [item.kind for item in broadcast.media]}  # fmt: skip
    await write_audit(pool, f"admin:{admin_id}", "broadcast", broadcast.segment, None, details, once_by="broadcast_id")


@router.message(Command("difundir", "broadcast"), flags={"admin": AdminOnly("broadcast", captions=True)})
async def ask_broadcast(message: Message, command: CommandObject, pool: asyncpg.Pool, redis: Redis, bot: Bot,
                        settings: Settings, recent_albums: RecentAlbums,
                        album: list[Message] | None = None) -> None:  # fmt: skip
    """/difundir <segmento> <texto>: the text (with the photo, video, voice note or album it came with) as each person
    will see it, how many it reaches, and ✅ to send it."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    try:
        parsed = parse_broadcast(command.args)
    except BadBroadcast:
        await message.answer(t("admin.broadcast.usage", language, limit=MAX_TEXT_LENGTH))
        return
    media = await attached_media(message, album, recent_albums)
    if any(item.kind == "document" for item in media):
        await message.answer(t("admin.broadcast.media_usage", language))
        return
    broadcast = BroadcastInput(broadcast_id=broadcast_id_for(message), actor=message.from_user.id,
                               segment=parsed.segment, inactive_days=parsed.inactive_days, text=parsed.text,
                               language=language, media=media,
                               protect_content=settings.protect_content)  # fmt: skip
    await _preview(message, bot, pool, redis, broadcast)


@router.message(Command("vender", "sell"), flags={"admin": AdminOnly("sell paid media", captions=True)})
async def ask_sale(message: Message, command: CommandObject, pool: asyncpg.Pool, redis: Redis, bot: Bot,
                   settings: Settings, recent_albums: RecentAlbums,
                   album: list[Message] | None = None) -> None:  # fmt: skip
    """/vender <estrellas> <segmento> <texto> with photos or videos: sold to each person of the segment as paid media
    (unlocked for that many Stars), after a preview and ✅, as a broadcast."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    price, _, rest = (command.args or "").strip().partition(" ")
    media = await attached_media(message, album, recent_albums)
    try:
        stars = int(price) if price.isascii() and price.isdigit() else 0
        parsed = parse_broadcast(rest)
        broadcast = BroadcastInput(broadcast_id=broadcast_id_for(message), actor=message.from_user.id,
                                   segment=parsed.segment, inactive_days=parsed.inactive_days, text=parsed.text,
                                   language=language, media=media, protect_content=settings.protect_content,
                                   star_count=stars)  # fmt: skip
    except (BadBroadcast, ValidationError):
        await message.answer(t("admin.sale.usage", language, limit=MAX_PAID_MEDIA_STARS))
        return
    await _preview(message, bot, pool, redis, broadcast)


async def _preview(message: Message, bot: Bot, pool: asyncpg.Pool, redis: Redis, broadcast: BroadcastInput) -> None:
    """What each person will get (their media unlocked, for a sale), how many it reaches, and ✅ to send it."""
    assert message.from_user is not None
    language = broadcast.language
    cutoff = datetime.now(UTC) - timedelta(days=broadcast.inactive_days) if broadcast.inactive_days else None
    reach = await segment_size(pool, broadcast.segment, cutoff)
    segment = t(f"admin.broadcast.segment.{broadcast.segment}", language, days=broadcast.inactive_days or 0)
    # Exactly as the broadcast sends it: plain text, under or after its media.
    await send_post(bot, message.chat.id, broadcast.text, broadcast.media, protect_content=broadcast.protect_content)
    preview = (t("admin.sale.preview", language, segment=segment, count=reach, stars=broadcast.star_count)
               if broadcast.star_count else t("admin.broadcast.preview", language, segment=segment, count=reach))  # fmt: skip
    await confirmations.ask(message, redis, admin_id=message.from_user.id, action=CONFIRM_ACTION,
                            details=broadcast.model_dump(mode="json"), preview=preview,
                            language=language)  # fmt: skip


@router.callback_query(ConfirmCB.filter(F.action == CONFIRM_ACTION), flags={"admin": AdminOnly("broadcast")})
async def confirm_broadcast(query: CallbackQuery, callback_data: ConfirmCB, journeys: Journeys, pool: asyncpg.Pool,
                            redis: Redis) -> None:  # fmt: skip
    """✅ under a broadcast's preview: it starts (once, however often it is pressed); ✖️ forgets it."""
    language = language_of(query.from_user.language_code)
    pending = await confirmations.take(query, callback_data, redis, pool, language)
    if pending is None or not isinstance(query.message, Message):
        return
    broadcast = BroadcastInput.model_validate(pending.details)
    if broadcast.star_count is not None:
        await keep_offer(pool, broadcast)  # before anything is sold: each purchase finds its price
    try:
        await journeys.client.start_workflow(
            BroadcastWorkflow.run,
            broadcast,
            id=broadcast.broadcast_id,
            task_queue=journeys.task_queue,
            # The same command confirmed again (its update delivered twice) finds its broadcast, running or finished.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # started by this very command, and already finished
    except RPCError:
        log.exception("broadcast %s not started", broadcast.broadcast_id)
        await query.message.answer(t("reject.unavailable", language))
        return
    await audit_start(pool, query.from_user.id, broadcast)
    segment = t(f"admin.broadcast.segment.{broadcast.segment}", language, days=broadcast.inactive_days or 0)
    await query.message.answer(t("admin.broadcast.started", language, id=broadcast.broadcast_id, segment=segment),
                               reply_markup=progress_keyboard(broadcast.broadcast_id, language))  # fmt: skip


@router.message(Command("difusion", "broadcaststatus"), flags={"admin": AdminOnly("broadcast status")})
async def broadcast_status(message: Message, command: CommandObject, journeys: Journeys, pool: asyncpg.Pool) -> None:
    """/difusion <id>: how far a broadcast got."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    broadcast_id = (command.args or "").strip()
    if not BROADCAST_ID.fullmatch(broadcast_id):
        await message.answer(t("admin.broadcast.status_usage", language))
        return
    try:
        text, markup = await progress_screen(journeys, pool, broadcast_id, language)
    except RPCError:
        log.exception("progress of %s not read", broadcast_id)
        await message.answer(t("reject.unavailable", language))
        return
    await message.answer(text, reply_markup=markup)


@router.callback_query(BroadcastCB.filter(), flags={"admin": AdminOnly("broadcast status")})
async def progress_pressed(query: CallbackQuery, callback_data: BroadcastCB, journeys: Journeys,
                           pool: asyncpg.Pool) -> None:  # fmt: skip
    """The "Progress" button: the message shows the broadcast's progress as it is now."""
    language = language_of(query.from_user.language_code)
    try:
        text, markup = await progress_screen(journeys, pool, callback_data.broadcast, language)
    except RPCError:
        log.exception("progress of %s not read", callback_data.broadcast)
        await query.answer(t("reject.unavailable", language), show_alert=True)
        return
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as unchanged:
            # Pressed again before anything moved: Telegram refuses an edit that changes nothing.
            log.debug("progress of %s not edited: %s", callback_data.broadcast, unchanged.message)
    await query.answer()
