"""Admins' auctions: /subasta opens one (after a preview and ✅), /subastas lists the running ones, each with a button
to call it off (after a ✅ too: every bidder's besitos are released).

The bot checks the command and starts the ``Auction`` workflow; bids, the end and the besitos are the workflow's (see
:mod:`workflows.auction`). An auction's id comes from the admin's message (``<chat id>-<message id>``), so the same
command confirmed again finds the auction it started.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg
from aiogram import Bot, F
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from redis.asyncio import Redis
from temporalio.service import RPCError

from adapters import auctions
from adapters.auctions import AuctionOver, AuctionUnavailable
from adapters.audit import write_audit
from adapters.callbacks import AuctionAdminCB
from adapters.journeys import Journeys
from adapters.texts import language_of, t
from bot import confirmations
from bot.admins import AdminOnly, guarded_router
from bot.confirmations import ConfirmCB
from workflows.auction_contracts import AUCTION_ID_PATTERN, MAX_BID, AuctionInput
from workflows.contracts import Language
from workflows.days import local_moment

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

CONFIRM_START: Final = "auction"
CONFIRM_CANCEL: Final = "auction_cancel"
SHORTEST: Final = timedelta(minutes=5)
LONGEST: Final = timedelta(days=7)
_DURATION: Final = re.compile(r"(\d{1,5})([mhd])")
_UNITS: Final = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


class BadAuction(ValueError):
    """The /subasta arguments do not make an auction; ``text`` says why, for the admin."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class AuctionCommand:
    item: str
    title: str
    start_price: int
    increment: int
    duration: timedelta
    vip_only: bool


def parse_duration(word: str) -> timedelta | None:
    """``30m``, ``2h``, ``1d``: from 5 minutes to 7 days; None for anything else."""
    match = _DURATION.fullmatch(word.lower())
    if match is None:
        return None
    duration = int(match.group(1)) * _UNITS[match.group(2)]
    return duration if SHORTEST <= duration <= LONGEST else None


def _whole(word: str, field: str, language: str) -> int:
    if not word.isascii() or not word.isdigit() or not 1 <= int(word) <= MAX_BID:
        raise BadAuction(t("admin.auction.bad_number", language, field=t(f"admin.auction.field.{field}", language),
                           max=MAX_BID, value=word[:40]))  # fmt: skip
    return int(word)


def parse_auction(args: str | None, names: dict[str, str], language: str) -> AuctionCommand:
    """``<item code> <start price> <increment> <duration> [vip]``, the item one of ``names`` (the catalogue's codes).

    :raises BadAuction: with the admin's answer: usage, unknown item, a number out of range, a bad duration or flag.
    """
    words = (args or "").split()
    if len(words) not in (4, 5):
        raise BadAuction(t("admin.auction.usage", language, max=MAX_BID))
    code, start, increment, duration, *flag = words
    if not names:
        raise BadAuction(t("admin.auction.no_items", language))
    if code not in names:
        raise BadAuction(t("admin.auction.unknown_item", language, code=code[:64], codes=", ".join(sorted(names))))
    start_price, step = _whole(start, "start", language), _whole(increment, "increment", language)
    length = parse_duration(duration)
    if length is None:
        raise BadAuction(t("admin.auction.bad_duration", language, value=duration[:40]))
    if flag and flag[0].lower() != "vip":
        raise BadAuction(t("admin.auction.bad_flag", language, value=flag[0][:40]))
    return AuctionCommand(item=code, title=names[code], start_price=start_price, increment=step, duration=length,
                          vip_only=bool(flag))  # fmt: skip


def _duration_text(duration: timedelta) -> str:
    """A duration as the admin typed it, in its largest whole unit."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@router.message(Command("subasta", "auction"), flags={"admin": AdminOnly("auction")})
async def ask_auction(message: Message, command: CommandObject, pool: asyncpg.Pool, redis: Redis,
                      journeys: Journeys) -> None:  # fmt: skip
    """/subasta <código> <precio inicial> <incremento> <duración> [vip]: a preview of the auction and ✅ to open it."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    shop = await auctions.active_shop(pool)
    # A limited item's units are claimed through the shop only: an auction would hand one out past its stock.
    names = {item.code: item.name.get(language) for item in shop.items if item.stock is None}
    code = (command.args or "").split()[:1]
    if code and code[0] in shop.by_code and code[0] not in names:
        await message.answer(t("admin.auction.limited_item", language, code=code[0]))
        return
    try:
        parsed = parse_auction(command.args, names, language)
    except BadAuction as bad:
        await message.answer(bad.text)
        return
    timezone = journeys.content.timezone
    title = shop.by_code[parsed.item].name.get("es")  # the notices' name (Spanish first)
    preview = t("admin.auction.preview", language, title=parsed.title, code=parsed.item, start=parsed.start_price,
                increment=parsed.increment, duration=_duration_text(parsed.duration), extend=shop.extend_minutes,
                ends=local_moment(datetime.now(UTC) + parsed.duration, timezone),
                vip=t("admin.auction.vip_only", language) if parsed.vip_only else "")  # fmt: skip
    details = {"auction_id": f"{message.chat.id}-{message.message_id}", "item": parsed.item, "title": title,
               "start_price": parsed.start_price, "increment": parsed.increment, "vip_only": parsed.vip_only,
               "seconds": int(parsed.duration.total_seconds()), "extend_seconds": shop.extend_minutes * 60}  # fmt: skip
    await confirmations.ask(message, redis, admin_id=message.from_user.id, action=CONFIRM_START, details=details,
                            preview=preview, language=language)  # fmt: skip


@router.callback_query(ConfirmCB.filter(F.action == CONFIRM_START), flags={"admin": AdminOnly("auction")})
async def confirm_auction(query: CallbackQuery, callback_data: ConfirmCB, journeys: Journeys, pool: asyncpg.Pool,
                          redis: Redis) -> None:  # fmt: skip
    """✅ under an auction's preview: it opens (once, however often it is pressed), ending that long from now."""
    language = language_of(query.from_user.language_code)
    pending = await confirmations.take(query, callback_data, redis, pool, language)
    if pending is None or not isinstance(query.message, Message):
        return
    details = pending.details
    auction = AuctionInput(auction_id=details["auction_id"], item=details["item"], title=details["title"],
                           start_price=details["start_price"], increment=details["increment"],
                           vip_only=details["vip_only"], extend_seconds=details["extend_seconds"],
                           ends_at=datetime.now(UTC) + timedelta(seconds=details["seconds"]),
                           created_by=query.from_user.id, language=language)  # fmt: skip
    try:
        await auctions.start(journeys.client, journeys.task_queue, auction)
    except RPCError:
        log.exception("auction %s not started", auction.auction_id)
        await query.message.answer(t("reject.unavailable", language))
        return
    await write_audit(pool, f"admin:{query.from_user.id}", "auction", auction.auction_id, None,
                      auction.model_dump(mode="json", exclude={"state"}), once_by="auction_id")  # fmt: skip
    names = await auctions.item_names(pool, language)
    await query.message.answer(t("admin.auction.started", language, id=auction.auction_id,
                                 title=names.get(auction.item, auction.title),
                                 ends=local_moment(auction.ends_at, journeys.content.timezone)))  # fmt: skip


@router.message(Command("subastas", "auctions"), flags={"admin": AdminOnly("auction list")})
async def list_auctions(message: Message, pool: asyncpg.Pool, journeys: Journeys) -> None:
    """/subastas: the running auctions, each with its leader and a button to call it off."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    text, markup = await running_screen(pool, journeys.content.timezone, language)
    await message.answer(text, reply_markup=markup)


async def show_running(bot: Bot, chat_id: int, pool: asyncpg.Pool, timezone: str, language: Language) -> None:
    """The admin panel's 🔨 Subastas: how to open one, and the running ones."""
    await bot.send_message(chat_id, t("admin.auction.usage", language, max=MAX_BID))
    text, markup = await running_screen(pool, timezone, language)
    await bot.send_message(chat_id, text, reply_markup=markup)


async def running_screen(pool: asyncpg.Pool, timezone: str,
                         language: Language) -> tuple[str, InlineKeyboardMarkup | None]:  # fmt: skip
    rows = await auctions.running(pool, limit=auctions.LISTED)
    if not rows:
        return t("admin.auction.list.empty", language), None
    names = await auctions.item_names(pool, language)
    leaders = await _names(pool, [row.leader for row in rows if row.leader is not None])
    lines = [t("admin.auction.list.title", language, count=len(rows))]
    buttons = []
    for row in rows:
        title = names.get(row.item, row.title)
        vip = t("admin.auction.vip_only", language) if row.vip_only else ""
        ends = local_moment(row.ends_at, timezone)
        if row.leader is None:
            lines.append(t("admin.auction.list.open", language, id=row.auction_id, title=title, vip=vip,
                           amount=row.start_price, ends=ends))  # fmt: skip
        else:
            lines.append(t("admin.auction.list.line", language, id=row.auction_id, title=title, vip=vip,
                           leader=leaders.get(row.leader, str(row.leader)), amount=row.leading_bid or 0,
                           bids=row.bids, ends=ends))  # fmt: skip
        data = AuctionAdminCB(action="cancel", auction=row.auction_id).pack()
        buttons.append([InlineKeyboardButton(text=t("admin.auction.list.cancel", language, title=title)[:60],
                                             callback_data=data)])  # fmt: skip
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def _names(pool: asyncpg.Pool, user_ids: list[int]) -> dict[int, str]:
    rows = await pool.fetch("SELECT telegram_user_id, first_name, username FROM users "
                            "WHERE telegram_user_id = ANY($1::bigint[])", user_ids)  # fmt: skip
    return {row["telegram_user_id"]: f"{row['first_name']}" + (f" @{row['username']}" if row["username"] else "")
            + f" ({row['telegram_user_id']})" for row in rows}  # fmt: skip


@router.callback_query(AuctionAdminCB.filter(F.action == "cancel"), flags={"admin": AdminOnly("auction cancel")})
async def ask_cancel(query: CallbackQuery, callback_data: AuctionAdminCB, pool: asyncpg.Pool, redis: Redis) -> None:
    """✖️ under a running auction: a preview of the cancellation and ✅ to do it."""
    language = language_of(query.from_user.language_code)
    row = await auctions.find(pool, callback_data.auction) if re.fullmatch(AUCTION_ID_PATTERN,
                                                                          callback_data.auction) else None  # fmt: skip
    if row is None or row.status != "running" or not isinstance(query.message, Message):
        await query.answer(t("admin.auction.cancel.over", language, id=callback_data.auction[:40]), show_alert=True)
        return
    await query.answer()
    names = await auctions.item_names(pool, language)
    preview = t("admin.auction.cancel.preview", language, id=row.auction_id, title=names.get(row.item, row.title))
    await confirmations.ask(query.message, redis, admin_id=query.from_user.id, action=CONFIRM_CANCEL,
                            details={"auction_id": row.auction_id}, preview=preview, language=language)  # fmt: skip


@router.callback_query(ConfirmCB.filter(F.action == CONFIRM_CANCEL), flags={"admin": AdminOnly("auction cancel")})
async def confirm_cancel(query: CallbackQuery, callback_data: ConfirmCB, journeys: Journeys, pool: asyncpg.Pool,
                         redis: Redis) -> None:  # fmt: skip
    """✅ under a cancellation's preview: the auction is called off and every bidder's besitos released."""
    language = language_of(query.from_user.language_code)
    pending = await confirmations.take(query, callback_data, redis, pool, language)
    if pending is None or not isinstance(query.message, Message):
        return
    auction_id = str(pending.details["auction_id"])
    try:
        await auctions.cancel(journeys.client, auction_id, query.from_user.id, deadline=journeys.deadline)
    except AuctionOver:
        await query.message.answer(t("admin.auction.cancel.over", language, id=auction_id))
        return
    except AuctionUnavailable:
        log.exception("auction %s not cancelled", auction_id)
        await query.message.answer(t("reject.unavailable", language))
        return
    await write_audit(pool, f"admin:{query.from_user.id}", "auction cancelled", auction_id, None,
                      {"auction_id": auction_id}, once_by="auction_id")  # fmt: skip
    await query.message.answer(t("admin.auction.cancel.done", language, id=auction_id))
