"""The leaderboards (all-time and this week), drawn from Redis with the user's own rank."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final, cast

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.callbacks import JourneyCB
from adapters.journeys import Journeys
from adapters.texts import language_of, t
from workflows.contracts import LEADERBOARD_ALL_TIME, LEADERBOARD_NAMES, weekly_leaderboard
from workflows.days import iso_week, local_day

router = Router(name=__name__)
log = logging.getLogger("diana.bot")
TOP: Final = 10
MEDALS: Final = ("🥇", "🥈", "🥉")


async def _board(redis: Redis, key: str, user_id: int, language: str) -> str:
    top = cast(list[tuple[str, float]], await redis.zrevrange(key, 0, TOP - 1, withscores=True))
    if not top:
        return t("ranking.empty", language)
    names = cast(list[str | None], await redis.hmget(LEADERBOARD_NAMES, [member for member, _ in top]))
    lines = []
    for place, ((member, score), name) in enumerate(zip(top, names, strict=True), start=1):
        marker = MEDALS[place - 1] if place <= len(MEDALS) else f"{place}."
        you = " ← " + t("ranking.you", language) if int(member) == user_id else ""
        lines.append(t("ranking.line", language, marker=marker, name=name or "—", besitos=int(score)) + you)
    rank = cast(int | None, await redis.zrevrank(key, str(user_id)))
    own = t("ranking.own", language, rank=rank + 1) if rank is not None else t("ranking.unranked", language)
    return "\n".join(lines) + "\n" + own


@router.callback_query(JourneyCB.filter(F.action == "ranking"))
async def ranking(query: CallbackQuery, callback_data: JourneyCB, redis: Redis, journeys: Journeys) -> None:
    """🏅 Ranking: the weekly and all-time boards; the back button returns to the journey's menu."""
    language = language_of(query.from_user.language_code)
    week = iso_week(local_day(datetime.now(UTC), journeys.content.timezone))
    try:
        weekly = await _board(redis, weekly_leaderboard(week), query.from_user.id, language)
        all_time = await _board(redis, LEADERBOARD_ALL_TIME, query.from_user.id, language)
        text = t("ranking.title", language, week=week) + "\n\n" + weekly + "\n\n" + t("ranking.all_time", language)
        text += "\n\n" + all_time
    except (RedisError, OSError) as error:
        log.warning("leaderboards unavailable: %s", error)
        text = t("ranking.unavailable", language)
    back = JourneyCB(action="menu", screen=callback_data.screen).pack()
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t("menu.back", language),
                                                                         callback_data=back)]])  # fmt: skip
    await query.answer()
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as error:
            if "message is not modified" not in error.message:
                raise
