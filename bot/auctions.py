"""🔨 Subastas: the running auctions in the shop, and bids sent to each auction's workflow.

The shop's "auctions" button is drawn here (as ``bot.ranking`` draws the ranking): the running auctions from Postgres
(the ``auctions`` rows their workflows keep), each with its leading bid, its end and bid buttons. A bid is an Update on
``auction-<id>``, its id the Telegram update's, so a press delivered again is one bid; the bidder is answered at once
(leading, or why not) and the list redrawn in place.
"""

from __future__ import annotations

import logging
import re
from typing import Final

import asyncpg
from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from adapters import auctions
from adapters.auctions import AuctionRow, AuctionUnavailable
from adapters.callbacks import AuctionCB, JourneyCB
from adapters.journeys import Journeys
from adapters.texts import language_of, t
from bot.dead_letters import keep_for_support, update_digest
from workflows import shop
from workflows.auction_contracts import AUCTION_ID_PATTERN, MAX_BID, BidRequest, BidResult
from workflows.contracts import JourneyError, Language
from workflows.days import local_moment

router = Router(name=__name__)
log = logging.getLogger("diana.bot")
# The second bid button offers this many increments over the minimum (a bidder who wants to settle it).
JUMP: Final = 5


@router.callback_query(JourneyCB.filter(F.action == shop.AUCTIONS))
async def auctions_pressed(query: CallbackQuery, callback_data: JourneyCB, pool: asyncpg.Pool,
                           journeys: Journeys) -> None:  # fmt: skip
    """🔨 Subastas under the shop: the running auctions with bid buttons; the back button returns to the shop."""
    language = language_of(query.from_user.language_code)
    if not isinstance(query.message, Message) or query.message.chat.id != query.from_user.id:
        await query.answer(t(f"reject.{JourneyError.FOREIGN_USER}", language), show_alert=True)
        return
    await query.answer()
    await _show(query.message, query.from_user.id, callback_data.screen, pool, journeys, language)


@router.callback_query(AuctionCB.filter())
async def bid_pressed(query: CallbackQuery, callback_data: AuctionCB, event_update: Update, pool: asyncpg.Pool,
                      journeys: Journeys) -> None:  # fmt: skip
    """A bid button: the auction answers (leading, too low, not enough besitos, VIP only, ended), then the list again."""
    language = language_of(query.from_user.language_code)
    if not isinstance(query.message, Message) or query.message.chat.id != query.from_user.id:
        await query.answer(t(f"reject.{JourneyError.FOREIGN_USER}", language), show_alert=True)
        return
    if not 1 <= callback_data.amount <= MAX_BID or not re.fullmatch(AUCTION_ID_PATTERN, callback_data.auction):
        await query.answer(t(f"reject.{JourneyError.UNKNOWN_ACTION}", language), show_alert=True)  # forged
        return
    # The Telegram update names the bid (with its digest: a Bot API server may hand an id out again).
    request = BidRequest(bid_id=f"telegram-{event_update.update_id}-{update_digest(event_update)}",
                         user_id=query.from_user.id, amount=callback_data.amount)  # fmt: skip
    try:
        result = await auctions.bid(journeys.client, callback_data.auction, request, deadline=journeys.deadline)
    except AuctionUnavailable as unavailable:
        log.warning("bid %s kept for support: %s", request.bid_id, unavailable)
        keep_for_support(str(unavailable))
        await query.answer(t("auctions.refused.unavailable", language), show_alert=True)
        return
    await query.answer(answer_text(result, journeys.content.timezone, language), show_alert=not result.leading)
    await _show(query.message, query.from_user.id, callback_data.screen, pool, journeys, language)


def answer_text(result: BidResult, timezone: str, language: str) -> str:
    """What the bidder reads about their bid (a callback answer: at most 200 characters)."""
    if result.leading and result.extended and result.ends_at is not None:
        return t("auctions.bid.extended", language, amount=result.amount, ends=local_moment(result.ends_at, timezone))
    if result.leading:
        return t("auctions.bid.leading", language, amount=result.amount)
    return t(f"auctions.refused.{result.refusal or 'unavailable'}", language, amount=result.amount,
             minimum=result.minimum, spendable=result.spendable)  # fmt: skip


async def _show(message: Message, user_id: int, screen: int, pool: asyncpg.Pool, journeys: Journeys,
                language: Language) -> None:  # fmt: skip
    rows = await auctions.running(pool)
    names = await auctions.item_names(pool, language)
    text, markup = render(rows, user_id, screen, names, journeys.content.timezone, language)
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if "message is not modified" in error.message:
            return
        # A screen that cannot become text (media): the list comes as a message of its own.
        await message.answer(text, reply_markup=markup)


def render(rows: list[AuctionRow], user_id: int, screen: int, names: dict[str, str], timezone: str,
           language: str) -> tuple[str, InlineKeyboardMarkup]:  # fmt: skip
    """The list: one paragraph and one row of bid buttons per auction, then back to the shop."""
    parts = [t("auctions.list" if rows else "auctions.empty", language)]
    buttons: list[list[InlineKeyboardButton]] = []
    for row in rows:
        ends = local_moment(row.ends_at, timezone)
        name = names.get(row.item, row.title)
        if row.leading_bid is None:
            line = t("auctions.line.open", language, name=name, start=row.start_price, ends=ends)
        else:
            bids = t("auctions.bids.one" if row.bids == 1 else "auctions.bids.many", language, count=row.bids)
            key = "auctions.line.yours" if row.leader == user_id else "auctions.line.leading"
            line = t(key, language, name=name, amount=row.leading_bid, bids=bids, ends=ends)
        if row.vip_only:
            line += "\n" + t("auctions.line.vip", language)
        parts.append(line)
        buttons.append([_bid_button(row, amount, screen, language)
                        for amount in (row.minimum, row.minimum + JUMP * row.increment) if amount <= MAX_BID])  # fmt: skip
    back = JourneyCB(action=shop.OPEN, screen=screen).pack()
    buttons.append([InlineKeyboardButton(text=t("shop.back", language), callback_data=back)])
    return "\n\n".join(parts), InlineKeyboardMarkup(inline_keyboard=buttons)


def _bid_button(row: AuctionRow, amount: int, screen: int, language: str) -> InlineKeyboardButton:
    data = AuctionCB(auction=row.auction_id, amount=amount, screen=screen).pack()
    return InlineKeyboardButton(text=t("auctions.bid", language, amount=amount), callback_data=data)
