"""Referrals on real servers, at real lengths: a time-skipping Temporal holds the first payment for its 14 days.

Journeys are driven the way the bot drives them; Postgres and Redis are real, Telegram is the emulator. A referral is
paid after the holding period; another is voided by a refund inside it; attribution refuses what it must; and every
user's ledger sums to their balance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.referrals import ReferralActivities
from adapters.content_version import ActiveContent
from adapters.journeys import Journeys
from infra.settings import EMULATOR_VIP_CHANNEL
from tests.helpers import eventually, new_user_id, request
from tests.test_vip import Journey
from tools.emulator import BotAPIEmulator
from worker import journey_worker_options
from workflows import referrals
from workflows.contracts import JourneyInput, JourneyState, PaymentDetails
from workflows.journey import JourneyWorkflow, journey_id
from workflows.referral_contracts import ResolveReferral
from workflows.subscription import REFERRAL_PREFIX

QUEUE = "referrals"


class Person(Journey):
    """A journey begun by a /start that may carry an invitation's code."""

    async def begin(self, code: str = "", *, finish: bool = True) -> None:
        await self.emulator.user_sends_text(self.user_id, "hola", first_name="Vera")
        with self.env.with_time_skipping_disabled():
            await self.env.client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=self.user_id),
                                                 id=journey_id(self.user_id), task_queue=QUEUE)  # fmt: skip
        await self.start(code)
        if finish:
            await self.introduce()

    async def start(self, code: str = "") -> None:
        self.reply = await self.journeys.interact(request(self.user_id, "start", action=code, first_name="Vera"))

    async def introduce(self) -> None:
        for _ in range(3):
            await self.press("onboarding_next")

    async def settled(self) -> JourneyState:
        async def quiet() -> JourneyState | None:
            state = await self.state()
            return state if not state.pending_effects else None

        state = await eventually(quiet, within=30)
        assert state is not None
        return state

    async def refund(self, charge: str) -> None:
        told = request(self.user_id, "refunded", first_name="Vera").model_copy(update={"payment": PaymentDetails(
            payload="-", currency="XTR", total_amount=250, charge_id=charge)})  # fmt: skip
        await self.journeys.interact_if_started(told)


@pytest.fixture
async def world(skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
                active_content: ActiveContent) -> AsyncIterator[Journeys]:  # fmt: skip
    options = journey_worker_options(pool, redis, telegram_bot, vip_channel_id=EMULATOR_VIP_CHANNEL)
    async with Worker(skipping_env.client, task_queue=QUEUE, **options):
        yield Journeys(skipping_env.client, QUEUE, active_content)


async def inviter(env: WorkflowEnvironment, journeys: Journeys, emulator: BotAPIEmulator,
                  pool: asyncpg.Pool) -> tuple[Person, str]:  # fmt: skip
    """An active user who opened Invita: their code, saved in Postgres."""
    person = Person(env, journeys, emulator, new_user_id())
    await person.begin()
    await person.press("besitos")
    screen = (await person.press(referrals.OPEN)).screen
    assert screen.key == "referrals.invite"
    code = str(screen.params["code"])
    assert referrals.is_code(code) and code != str(person.user_id)

    async def saved() -> int | None:
        owner: int | None = await pool.fetchval("SELECT telegram_user_id FROM referral_codes WHERE code = $1", code)
        return owner

    assert await eventually(saved) == person.user_id
    return person, code


async def ledger_agrees(person: Person, pool: asyncpg.Pool) -> JourneyState:
    state = await person.settled()
    total = await pool.fetchval("SELECT coalesce(sum(amount), 0) FROM besitos_ledger WHERE telegram_user_id = $1",
                                person.user_id)  # fmt: skip
    assert total == state.besitos
    return state


async def test_a_referral_paid_after_the_holding_period_and_one_voided_by_a_refund(
    world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    referrer, code = await inviter(skipping_env, world, emulator, pool)
    before = await ledger_agrees(referrer, pool)

    paying = Person(skipping_env, world, emulator, new_user_id())
    await paying.begin(code)
    refunding = Person(skipping_env, world, emulator, new_user_id())
    await refunding.begin(code)

    async def counted() -> JourneyState | None:
        state = await referrer.state()
        return state if state.referral.introduced == 2 and state.referral.joined == 2 else None

    state = await eventually(counted, within=30)
    assert state is not None
    intro = state.referral.besitos_earned
    assert intro == 2 * 50  # content/diana.yaml: intro_besitos 50, under a daily cap of 5
    assert state.besitos >= before.besitos + intro

    # Both newcomers pay; one is refunded two days later, inside the 14 days.
    for person, charge in ((paying, "stx-ref-paid"), (refunding, "stx-ref-refunded")):
        payload = await person.buy()
        await person.pre_checkout(payload)
        await person.pay(payload, charge=charge)
        assert (await person.state()).referral.holding == "holding"
    await skipping_env.fast_forward(refunding.handle, timedelta(days=2))
    await refunding.refund("stx-ref-refunded")
    assert (await refunding.state()).referral.holding == "voided"

    # The holding period ends on the journey's own timer (each journey's clock skips on its own): the paying
    # newcomer's referrer gets VIP days.
    assert referrals.next_due(await paying.state()) is not None
    await skipping_env.fast_forward(paying.handle, timedelta(days=13))
    assert (await referrer.state()).referral.paid == 0, "not before the 14 days"
    await skipping_env.fast_forward(paying.handle, timedelta(days=1, minutes=5))

    async def rewarded() -> JourneyState | None:
        state = await referrer.state()
        return state if state.referral.paid else None

    state = await eventually(rewarded, within=30)
    assert state is not None
    assert (state.referral.paid, state.referral.vip_days_earned) == (1, 7)
    token = (await paying.state()).referral.token
    assert state.vip and [c.charge_id for c in state.subscription.charges] == [f"{REFERRAL_PREFIX}{token}"]
    assert str(paying.user_id) not in state.model_dump_json(), "the referrer's journey keeps a token, not an id"
    assert (await paying.state()).referral.holding == "paid"
    assert (await refunding.state()).referral.holding == "voided"
    # Much later nothing more comes: the refunded one stays void, the paid one is paid once.
    await skipping_env.fast_forward(paying.handle, timedelta(days=20))
    state = await ledger_agrees(referrer, pool)
    assert (state.referral.paid, state.referral.vip_days_earned, len(state.subscription.charges)) == (1, 7, 1)
    row = await pool.fetchrow("SELECT status FROM subscriptions WHERE telegram_user_id = $1", referrer.user_id)
    assert row is not None
    paid_rows = await pool.fetch("SELECT charge_id FROM payments WHERE telegram_user_id = $1", referrer.user_id)
    assert paid_rows == [], "VIP days earned by an invitation moved no Stars"
    for person in (paying, refunding):
        await ledger_agrees(person, pool)


async def test_attribution_first_link_wins_no_one_twice_nor_themself(
    world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    first, code = await inviter(skipping_env, world, emulator, pool)
    second, other_code = await inviter(skipping_env, world, emulator, pool)

    # A newcomer through the first link, then the second: the first wins.
    newcomer = Person(skipping_env, world, emulator, new_user_id())
    await newcomer.begin(code, finish=False)
    await newcomer.start(other_code)
    assert (await newcomer.state()).referral.referrer == code

    # A user who already had a journey, then a link: not attributable.
    existing = Person(skipping_env, world, emulator, new_user_id())
    await existing.begin()
    await existing.start(code)
    assert (await existing.state()).referral.referrer == ""

    # Nobody refers themself (the check in Postgres); a well-formed code nobody has is a normal start.
    await first.start(code)
    checks = ReferralActivities(pool)
    assert not (await checks.resolve_referral_code(ResolveReferral(code=code, newcomer=first.user_id))).valid
    assert (await checks.resolve_referral_code(ResolveReferral(code=code, newcomer=newcomer.user_id))).valid
    stranger = Person(skipping_env, world, emulator, new_user_id())
    await stranger.begin("zzzzzzzzzz", finish=False)
    assert stranger.reply is not None and stranger.reply.screen.key.startswith("onboarding.")
    assert (await stranger.state()).referral.referrer == ""

    async def counted() -> JourneyState | None:
        state = await first.state()
        return state if state.referral.joined == 1 else None

    assert await eventually(counted, within=30) is not None
    await newcomer.introduce()
    state = await eventually(lambda: _introduced(first), within=30)
    assert state is not None and state.referral.joined == 1 and state.referral.introduced == 1
    assert (await ledger_agrees(second, pool)).referral.joined == 0
    for person in (first, newcomer, existing, stranger):
        await ledger_agrees(person, pool)


async def _introduced(person: Person) -> JourneyState | None:
    state = await person.state()
    return state if state.referral.introduced else None
