"""The worker process: the one list of workflows and activities, shared by worker, tests and Replayer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import asyncpg
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.auctions import AuctionActivities
from activities.broadcast import BroadcastActivities
from activities.deletion import ForgettingActivities
from activities.door import DoorActivities
from activities.leaderboard import LeaderboardActivities
from activities.pacing import SharedPacer
from activities.payments import PaymentActivities
from activities.projection import ProjectionActivities
from activities.referrals import ReferralActivities
from activities.shop import ShopActivities
from activities.telegram import TelegramActivities
from activities.vip_channel import VipChannelActivities
from adapters.media_library import SHIPPED_MEDIA, MediaLibrary
from adapters.screens import ScreenSender
from adapters.stars import TelegramStars
from infra.settings import EMULATOR_VIP_CHANNEL
from worker.content_library import ContentLibrary
from workflows.auction import AuctionWorkflow
from workflows.broadcast import BroadcastWorkflow
from workflows.deletion import JourneyDeletionWorkflow
from workflows.door import DoorWorkflow
from workflows.journey import JourneyWorkflow

# Libraries the worker process has loaded already (tracing, the Redis client the instrumentation patches) are
# shared with the sandbox instead of imported again inside it. Seen once in CI: a new worker validating its
# workflows failed with "KeyError: <thread id>" in CPython's import locks while journeys re-imported them.
SANDBOXED_RUNNER: Final = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("opentelemetry", "redis")
)
WORKFLOWS: Final[list[type]] = [JourneyWorkflow, BroadcastWorkflow, JourneyDeletionWorkflow, AuctionWorkflow,
                                DoorWorkflow]  # fmt: skip


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """The sandbox re-imports the journey's modules for every new run and compiles code for every activation and
    payload: without it the worker spends a quarter less CPU per interaction and a journey's first reply comes
    5x sooner at p95 (``benchmarks.load``, 300 users; README, Performance). So ``diana worker`` runs journeys
    without it (``WORKFLOW_SANDBOX``), and the test suite runs them inside it: a forbidden call in workflow
    code (I/O, the clock, randomness) still fails CI, and the replay tests catch nondeterminism either way.
    """
    return SANDBOXED_RUNNER if sandboxed else UnsandboxedWorkflowRunner()


def journey_worker_options(pool: asyncpg.Pool, redis: Redis, bot: Bot, *, sandboxed: bool = True,
                           vip_channel_id: int | None = EMULATOR_VIP_CHANNEL, library: ContentLibrary | None = None,
                           media_dir: Path = SHIPPED_MEDIA,
                           admin_ids: frozenset[int] = frozenset()) -> dict[str, Any]:  # fmt: skip
    """What a journey worker is made of besides its client and task queue: ``Worker(client, task_queue=..., **these)``.

    ``library``: the worker's content library, when something else in the process reads versions too (one parsed
    copy each). ``admin_ids``: who is told how each auction ended.
    """
    library = library or ContentLibrary(pool)
    return {
        "workflows": WORKFLOWS,
        "workflow_runner": workflow_runner(sandboxed),
        "activities": build_activities(
            pool, redis, bot, vip_channel_id=vip_channel_id, media_dir=media_dir, admin_ids=admin_ids
        ),  # fmt: skip
        "interceptors": [library.interceptor()],
    }


def build_activities(pool: asyncpg.Pool, redis: Redis, bot: Bot, *, vip_channel_id: int | None = EMULATOR_VIP_CHANNEL,
                     media_dir: Path = SHIPPED_MEDIA,
                     admin_ids: frozenset[int] = frozenset()) -> list[Callable[..., Any]]:  # fmt: skip
    """Every activity the workflows run, bound to the clients the worker built once."""
    projection = ProjectionActivities(pool, redis)
    leaderboard = LeaderboardActivities(redis)
    bulk = SharedPacer(redis)  # broadcasts and the daily reminders: one budget for the whole bot
    telegram = TelegramActivities(bot, pool, pacer=bulk, screens=ScreenSender(MediaLibrary(pool, media_dir)))
    payments = PaymentActivities(TelegramStars(bot), pool, telegram)
    vip_channel = VipChannelActivities(bot, vip_channel_id, telegram)
    broadcast = BroadcastActivities(bot, pool, pacer=bulk)
    forgetting = ForgettingActivities(pool)
    shop = ShopActivities(pool)
    referrals = ReferralActivities(pool)
    auctions = AuctionActivities(bot, pool, telegram, admin_ids=admin_ids)
    door = DoorActivities(bot, pool, telegram)
    return [
        projection.record_projection,
        projection.erase_personal_data,
        leaderboard.update_leaderboard,
        telegram.send_notification,
        telegram.send_data_export,
        payments.send_invoice,
        payments.record_payment,
        payments.record_subscription,
        payments.refund_payment,
        payments.redeem_vip_pass,
        payments.edit_star_subscription,
        shop.claim_stock,
        referrals.resolve_referral_code,
        referrals.save_referral_code,
        referrals.tell_referrer,
        auctions.ask_wallet,
        auctions.record_auction,
        auctions.report_auction,
        vip_channel.open_vip_channel,
        vip_channel.close_vip_channel,
        door.door_banned,
        door.send_door_message,
        door.door_answer,
        broadcast.broadcast_recipients,
        broadcast.send_broadcast_page,
        broadcast.record_broadcast,
        broadcast.finish_broadcast,
        forgetting.journey_closed,
        forgetting.destroy_keys,
        forgetting.delete_runs,
        forgetting.retire_leftover_keys,
        forgetting.discard_unused_keys,
        forgetting.destroy_own_keys,
    ]
