"""Leaderboards in Redis sorted sets: all-time and weekly besitos, written as absolute totals."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from redis.asyncio import Redis
from temporalio import activity

from workflows import side_effects
from workflows.contracts import LEADERBOARD_ALL_TIME, LEADERBOARD_NAMES, UpdateLeaderboard, weekly_leaderboard

# A weekly board is kept a while after its week, for "last week's winners".
WEEKLY_RETENTION: Final = timedelta(weeks=5)


class LeaderboardActivities(side_effects.Leaderboards):
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @activity.defn
    async def update_leaderboard(self, effect: UpdateLeaderboard) -> None:
        await write_totals(self.redis, effect)


async def write_totals(redis: Redis, effect: UpdateLeaderboard) -> None:
    """Set the user's totals (ZADD, not ZINCRBY): a retry or a replay writes the same numbers."""
    member = str(effect.user_id)
    weekly = weekly_leaderboard(effect.week)
    async with redis.pipeline(transaction=True) as pipe:
        if effect.remove:
            # Off every board: all-time, this week's and every earlier week still kept.
            pipe.zrem(LEADERBOARD_ALL_TIME, member)
            for board in {weekly, *[key async for key in redis.scan_iter(match=weekly_leaderboard("*"), count=500)]}:
                pipe.zrem(board, member)
            pipe.hdel(LEADERBOARD_NAMES, member)
        else:
            pipe.zadd(LEADERBOARD_ALL_TIME, {member: effect.lifetime_besitos})
            pipe.zadd(weekly, {member: effect.week_besitos})
            pipe.expire(weekly, WEEKLY_RETENTION)
            pipe.hset(LEADERBOARD_NAMES, member, effect.name)
        await pipe.execute()
